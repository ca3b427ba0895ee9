"""Rooftop PV: pvlib's CEC single-diode chain with a real module and inverter.

Module: Canadian Solar CS6K-300M; inverter: SMA STP 50-US-41; both from the CEC
databases pvlib ships. Each inverter takes 11 strings of 18 modules (59.4 kWp DC).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pvlib

from ingest.sample_site.config import SiteConfig

MODULE = "Canadian_Solar_Inc__CS6K_300M"
INVERTER = "SMA_America__STP_50_US_41__480V_"
MODULES_PER_STRING = 18
STRINGS_PER_INVERTER = 11
SYSTEM_LOSSES = 0.10  # soiling, mismatch, wiring, availability


def kwp_per_inverter() -> float:
    """DC nameplate of one inverter's array [kWp]."""
    module = pvlib.pvsystem.retrieve_sam("CECMod")[MODULE]
    return float(module["STC"]) * MODULES_PER_STRING * STRINGS_PER_INVERTER / 1000


def pv_ac_power_w(weather: pl.DataFrame, cfg: SiteConfig) -> pl.DataFrame:
    """Hourly AC power of the whole array.

    Parameters
    ----------
    weather : pl.DataFrame
        ts_utc (hour start), temp_air [°C], wind_speed [m/s], direct_horizontal
        [W/m²], dhi [W/m²], hourly means.
    cfg : SiteConfig

    Returns
    -------
    pl.DataFrame
        ts_utc (hour start) and ac_power_w [W], the mean AC power over the hour.
    """
    module = pvlib.pvsystem.retrieve_sam("CECMod")[MODULE]
    inverter = pvlib.pvsystem.retrieve_sam("cecinverter")[INVERTER]
    w = weather.to_pandas().set_index("ts_utc")
    mid = w.index + pd.Timedelta(minutes=30)
    solpos = pvlib.solarposition.get_solarposition(mid, cfg.latitude, cfg.longitude)
    solpos.index = w.index
    cos_zen = np.cos(np.radians(solpos["apparent_zenith"]))
    dni = (
        (w["direct_horizontal"] / cos_zen)
        .where(solpos["apparent_zenith"] < 87, 0.0)
        .clip(upper=1100)
    )
    ghi = w["direct_horizontal"] + w["dhi"]
    poa = pvlib.irradiance.get_total_irradiance(
        cfg.pv_tilt_deg,
        cfg.pv_azimuth_deg,
        solpos["apparent_zenith"],
        solpos["azimuth"],
        dni=dni,
        ghi=ghi,
        dhi=w["dhi"],
        dni_extra=pvlib.irradiance.get_extra_radiation(w.index),
        model="haydavies",
    )
    aoi = pvlib.irradiance.aoi(
        cfg.pv_tilt_deg, cfg.pv_azimuth_deg, solpos["apparent_zenith"], solpos["azimuth"]
    )
    iam = pvlib.iam.physical(aoi)
    effective = (poa["poa_direct"] * iam + poa["poa_diffuse"]).fillna(0).clip(lower=0)
    params = pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]["close_mount_glass_glass"]
    cell_t = pvlib.temperature.sapm_cell(
        poa["poa_global"].fillna(0), w["temp_air"], w["wind_speed"], **params
    )
    il, i0, rs, rsh, nnsvth = pvlib.pvsystem.calcparams_cec(
        effective,
        cell_t,
        module["alpha_sc"],
        module["a_ref"],
        module["I_L_ref"],
        module["I_o_ref"],
        module["R_sh_ref"],
        module["R_s"],
        module["Adjust"],
    )
    mpp = pvlib.pvsystem.max_power_point(il, i0, rs, rsh, nnsvth, method="newton")
    v_dc = mpp["v_mp"] * MODULES_PER_STRING
    p_dc = mpp["p_mp"] * MODULES_PER_STRING * STRINGS_PER_INVERTER * (1 - SYSTEM_LOSSES)
    p_ac = pvlib.inverter.sandia(v_dc.fillna(0), p_dc.fillna(0), inverter).clip(lower=0).fillna(0)
    return pl.DataFrame(
        {"ts_utc": weather["ts_utc"], "ac_power_w": (p_ac.to_numpy() * cfg.pv_inverters)}
    )
