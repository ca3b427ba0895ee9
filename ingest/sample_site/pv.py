"""Rooftop PV: the project's PV chain (:mod:`pipelines.pv_model`) with a real module and inverter.

Module: Canadian Solar CS6K-300M; inverter: SMA STP 50-US-41; both from the CEC
databases pvlib ships. Each inverter takes 11 strings of 18 modules (59.4 kWp DC).
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from ingest.sample_site.config import SiteConfig
from pipelines.pv_model import PVSystem, ac_power_w, cec_module

MODULE = "Canadian_Solar_Inc__CS6K_300M"
INVERTER = "SMA_America__STP_50_US_41__480V_"
MODULES_PER_STRING = 18
STRINGS_PER_INVERTER = 11
SYSTEM_LOSSES = 0.10  # soiling, mismatch, wiring, availability


def kwp_per_inverter() -> float:
    """DC nameplate of one inverter's array [kWp]."""
    return float(cec_module(MODULE)["STC"]) * MODULES_PER_STRING * STRINGS_PER_INVERTER / 1000


def pv_system(cfg: SiteConfig) -> PVSystem:
    """The sample site's rooftop array as a :class:`pipelines.pv_model.PVSystem`.

    Close-mounted glass-glass modules (SAPM temperature model), Hay–Davies transposition.
    """
    return PVSystem(
        latitude=cfg.latitude,
        longitude=cfg.longitude,
        tilt_deg=cfg.pv_tilt_deg,
        azimuth_deg=cfg.pv_azimuth_deg,
        module=MODULE,
        inverter=INVERTER,
        modules_per_string=MODULES_PER_STRING,
        strings_per_inverter=STRINGS_PER_INVERTER,
        inverters=cfg.pv_inverters,
        losses=SYSTEM_LOSSES,
        temperature_model="close_mount_glass_glass",
        transposition="haydavies",
    )


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
    return ac_power_w(weather, pv_system(cfg), interval=timedelta(hours=1))
