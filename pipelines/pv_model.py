"""The project's PV model chain: weather and a system description in, AC power [W] out.

One chain serves every PV figure in the project: the sample site's metered PV, the PV
forecast and the check against NREL's PVWatts reference. Its steps, each a pvlib
function:

1. solar position at the middle of each weather interval;
2. direct normal irradiance, from the weather's ``dni`` or, when only the direct
   irradiance on the horizontal is known (German TRY files), as ``direct_horizontal /
   cos(zenith)`` for zenith < 87° and capped at 1,100 W/m²;
3. plane-of-array irradiance (Hay–Davies or Perez transposition);
4. effective irradiance: the beam component through the glass cover
   (:func:`pvlib.iam.physical`), plus the diffuse components;
5. cell temperature from the plane-of-array irradiance (SAPM or Fuentes);
6. DC and AC power by one of two routes:

   - **CEC**: a real module and inverter from the CEC databases pvlib ships; the
     single-diode model at the maximum power point, DC losses, then the Sandia
     inverter model, per inverter;
   - **PVWatts**: a DC nameplate, a temperature coefficient, DC losses and PVWatts'
     inverter curve, as NREL's PVWatts v5 describes a system.

Weather rows are interval means labelled by the interval start; AC power is the mean
over the same interval, never negative.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cache

import numpy as np
import pandas as pd
import polars as pl
import pvlib

# PVWatts v5 defaults (Dobos 2014, NREL/TP-6A20-62641)
PVWATTS_GAMMA_STANDARD = -0.0047  # [1/°C], "Standard" module type
PVWATTS_ETA_INV_REF = 0.9637  # reference inverter efficiency of PVWatts' curve [-]
DNI_CAP_W_PER_M2 = 1100.0
DNI_MAX_ZENITH_DEG = 87.0


@dataclass(frozen=True)
class PVSystem:
    """A fixed-tilt PV system: location, orientation and either CEC parts or PVWatts figures.

    Parameters
    ----------
    latitude, longitude : float
        Location [°], north and east positive.
    tilt_deg : float
        Array tilt from the horizontal [°].
    azimuth_deg : float
        Array azimuth, clockwise from north [°] (180 = south).
    altitude_m : float
        Site elevation [m] (pressure for the solar position and air mass).
    module, inverter : str or None
        CEC route: names in pvlib's ``CECMod`` and ``cecinverter`` databases.
    modules_per_string, strings_per_inverter, inverters : int
        CEC route: array layout; every inverter has the same strings.
    pdc0_w : float or None
        PVWatts route: DC nameplate of the whole array [W] (used when ``module`` is None).
    gamma_pdc_per_c : float
        PVWatts route: power temperature coefficient [1/°C].
    dc_ac_ratio : float
        PVWatts route: DC nameplate over inverter AC rating [-].
    inverter_efficiency : float
        PVWatts route: nominal inverter efficiency [-].
    losses : float
        DC losses (soiling, mismatch, wiring, availability, ...) as a fraction [-].
    temperature_model : str
        ``"fuentes"`` (PVWatts' model; open rack, installed NOCT 45 °C) or a key of
        pvlib's SAPM parameters, e.g. ``"close_mount_glass_glass"``,
        ``"open_rack_glass_polymer"``.
    transposition : str
        Sky-diffuse model of :func:`pvlib.irradiance.get_total_irradiance`:
        ``"haydavies"`` or ``"perez"``.
    albedo : float
        Ground reflectance [-].
    """

    latitude: float
    longitude: float
    tilt_deg: float
    azimuth_deg: float
    altitude_m: float = 0.0
    module: str | None = None
    inverter: str | None = None
    modules_per_string: int = 1
    strings_per_inverter: int = 1
    inverters: int = 1
    pdc0_w: float | None = None
    gamma_pdc_per_c: float = PVWATTS_GAMMA_STANDARD
    dc_ac_ratio: float = 1.2
    inverter_efficiency: float = 0.96
    losses: float = 0.14
    temperature_model: str = "close_mount_glass_glass"
    transposition: str = "haydavies"
    albedo: float = 0.25

    def __post_init__(self) -> None:
        cec = self.module is not None and self.inverter is not None
        if cec == (self.pdc0_w is not None):
            raise ValueError("PVSystem: give either module and inverter (CEC) or pdc0_w (PVWatts)")

    @property
    def route(self) -> str:
        """``"cec"`` or ``"pvwatts"``."""
        return "cec" if self.module is not None else "pvwatts"

    @property
    def dc_nameplate_w(self) -> float:
        """DC nameplate of the whole array at STC [W]."""
        if self.route == "pvwatts":
            return float(self.pdc0_w)
        n = self.modules_per_string * self.strings_per_inverter * self.inverters
        return float(cec_module(self.module)["STC"]) * n


@cache
def _database(name: str) -> pd.DataFrame:
    return pvlib.pvsystem.retrieve_sam(name)


def cec_module(name: str) -> pd.Series:
    """Parameters of a module in pvlib's CEC module database (cached)."""
    return _database("CECMod")[name]


def cec_inverter(name: str) -> pd.Series:
    """Parameters of an inverter in pvlib's CEC inverter database (cached)."""
    return _database("cecinverter")[name]


def _weather_pandas(weather: pl.DataFrame) -> pd.DataFrame:
    w = weather.to_pandas().set_index("ts_utc")
    if "wind_speed" not in w:
        w["wind_speed"] = 1.0
    return w


def solar_position(index: pd.DatetimeIndex, system: PVSystem, interval: timedelta) -> pd.DataFrame:
    """Solar position at the middle of each interval, indexed by the interval start.

    Returns pvlib's columns: apparent_zenith, zenith, azimuth, ... [°].
    """
    mid = index + pd.Timedelta(interval) / 2
    kwargs = {"altitude": system.altitude_m} if system.altitude_m else {}
    solpos = pvlib.solarposition.get_solarposition(mid, system.latitude, system.longitude, **kwargs)
    solpos.index = index
    return solpos


def irradiance_components(w: pd.DataFrame, solpos: pd.DataFrame) -> tuple[pd.Series, ...]:
    """DNI, GHI and DHI [W/m²] from ``dni`` or ``direct_horizontal``, plus ``dhi``.

    With ``direct_horizontal`` (direct irradiance on the horizontal), DNI is its ratio to
    cos(zenith) for zenith < 87°, capped at 1,100 W/m², and GHI its sum with DHI. With
    ``dni``, GHI is taken from a ``ghi`` column or built as DNI·cos(zenith) + DHI.
    """
    zenith = solpos["apparent_zenith"]
    cos_zen = np.cos(np.radians(zenith))
    if "dni" in w:
        dni = w["dni"]
        ghi = w["ghi"] if "ghi" in w else (dni * cos_zen.clip(lower=0) + w["dhi"])
        return dni, ghi, w["dhi"]
    dni = (
        (w["direct_horizontal"] / cos_zen)
        .where(zenith < DNI_MAX_ZENITH_DEG, 0.0)
        .clip(upper=DNI_CAP_W_PER_M2)
    )
    return dni, w["direct_horizontal"] + w["dhi"], w["dhi"]


def cell_temperature(
    poa_global: pd.Series, temp_air: pd.Series, wind_speed: pd.Series, system: PVSystem
) -> pd.Series:
    """Cell temperature [°C] from plane-of-array irradiance [W/m²], air [°C], wind [m/s]."""
    if system.temperature_model == "fuentes":
        return pvlib.temperature.fuentes(
            poa_global, temp_air, wind_speed, noct_installed=45.0, surface_tilt=system.tilt_deg
        )
    params = pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"][system.temperature_model]
    return pvlib.temperature.sapm_cell(poa_global, temp_air, wind_speed, **params)


def cec_ac_power_w(effective: pd.Series, cell_t: pd.Series, system: PVSystem) -> pd.Series:
    """AC power of the whole array [W], CEC single-diode DC and Sandia inverter model.

    ``effective`` is the effective irradiance [W/m²] and ``cell_t`` the cell temperature [°C].
    """
    module = cec_module(system.module)
    inverter = cec_inverter(system.inverter)
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
    v_dc = mpp["v_mp"] * system.modules_per_string
    p_dc = (
        mpp["p_mp"] * system.modules_per_string * system.strings_per_inverter * (1 - system.losses)
    )
    p_ac = pvlib.inverter.sandia(v_dc.fillna(0), p_dc.fillna(0), inverter).clip(lower=0).fillna(0)
    return p_ac * system.inverters


def pvwatts_ac_power_w(effective: pd.Series, cell_t: pd.Series, system: PVSystem) -> pd.Series:
    """AC power of the whole array [W] by PVWatts v5: linear DC model, losses, inverter curve.

    The inverter's AC rating is ``pdc0_w / dc_ac_ratio`` and its DC input rating that
    over the nominal efficiency, as in PVWatts.
    """
    p_dc = pvlib.pvsystem.pvwatts_dc(effective, cell_t, system.pdc0_w, system.gamma_pdc_per_c)
    p_dc = p_dc.clip(lower=0).fillna(0) * (1 - system.losses)
    pdc0_inverter = system.pdc0_w / system.dc_ac_ratio / system.inverter_efficiency
    p_ac = pvlib.inverter.pvwatts(
        p_dc, pdc0_inverter, system.inverter_efficiency, PVWATTS_ETA_INV_REF
    )
    return p_ac.clip(lower=0).fillna(0)


def model_chain(
    weather: pl.DataFrame, system: PVSystem, interval: timedelta = timedelta(hours=1)
) -> pl.DataFrame:
    """Run the chain on a weather frame and keep the intermediate quantities.

    Parameters
    ----------
    weather : pl.DataFrame
        ts_utc (interval start), temp_air [°C], dhi [W/m²], and either dni [W/m²] or
        direct_horizontal [W/m²]; optional ghi [W/m²] and wind_speed [m/s] (1 m/s when
        absent). Values are means over each interval.
    system : PVSystem
    interval : timedelta
        Length of a weather interval; the sun is placed at its middle.

    Returns
    -------
    pl.DataFrame
        ts_utc, poa_global_w_per_m2 [W/m²], effective_irradiance_w_per_m2 [W/m²],
        cell_temperature_c [°C] and ac_power_w [W] ≥ 0, the mean over the interval.
    """
    w = _weather_pandas(weather)
    solpos = solar_position(w.index, system, interval)
    dni, ghi, dhi = irradiance_components(w, solpos)
    extra = {}
    if system.transposition == "perez":
        extra["airmass"] = pvlib.atmosphere.get_relative_airmass(solpos["apparent_zenith"])
    poa = pvlib.irradiance.get_total_irradiance(
        system.tilt_deg,
        system.azimuth_deg,
        solpos["apparent_zenith"],
        solpos["azimuth"],
        dni=dni,
        ghi=ghi,
        dhi=dhi,
        dni_extra=pvlib.irradiance.get_extra_radiation(w.index),
        model=system.transposition,
        albedo=system.albedo,
        **extra,
    )
    aoi = pvlib.irradiance.aoi(
        system.tilt_deg, system.azimuth_deg, solpos["apparent_zenith"], solpos["azimuth"]
    )
    iam = pvlib.iam.physical(aoi)
    effective = (poa["poa_direct"] * iam + poa["poa_diffuse"]).fillna(0).clip(lower=0)
    cell_t = cell_temperature(poa["poa_global"].fillna(0), w["temp_air"], w["wind_speed"], system)
    route = cec_ac_power_w if system.route == "cec" else pvwatts_ac_power_w
    p_ac = route(effective, cell_t, system)
    return pl.DataFrame(
        {
            "ts_utc": weather["ts_utc"],
            "poa_global_w_per_m2": poa["poa_global"].fillna(0).to_numpy(),
            "effective_irradiance_w_per_m2": effective.to_numpy(),
            "cell_temperature_c": cell_t.to_numpy(),
            "ac_power_w": p_ac.to_numpy(),
        }
    )


def ac_power_w(
    weather: pl.DataFrame, system: PVSystem, interval: timedelta = timedelta(hours=1)
) -> pl.DataFrame:
    """AC power of a PV system from weather: ts_utc and ac_power_w [W] ≥ 0.

    See :func:`model_chain` for the inputs; this keeps only the result.
    """
    return model_chain(weather, system, interval).select("ts_utc", "ac_power_w")


# PVWatts v5 module types: power temperature coefficient [1/°C]
PVWATTS_GAMMA = {"Standard": -0.0047, "Premium": -0.0035, "Thin film": -0.0020}
PVWATTS_COLUMNS = {
    "Month": "month",
    "Day": "day",
    "Hour": "hour",
    "Beam Irradiance (W/m^2)": "dni",
    "Diffuse Irradiance (W/m^2)": "dhi",
    "Ambient Temperature (C)": "temp_air",
    "Wind Speed (m/s)": "wind_speed",
    "Plane of Array Irradiance (W/m^2)": "poa_global_w_per_m2",
    "Cell Temperature (C)": "cell_temperature_c",
    "DC Array Output (W)": "dc_power_w",
    "AC System Output (W)": "ac_power_w",
}


def parse_pvwatts_hourly(text: str, year: int = 2019) -> tuple[PVSystem, pl.DataFrame]:
    """Parse NREL PVWatts' hourly CSV export into the system it describes and its table.

    The header rows give the system (location, DC size, module type, array type, tilt,
    azimuth, losses, inverter efficiency, DC/AC ratio); the result describes it for the
    PVWatts route: Perez transposition, albedo 0.2, Fuentes cell temperature (open
    rack only), the module type's temperature coefficient.

    Parameters
    ----------
    text : str
        The CSV file's content.
    year : int
        Calendar year to lay the typical year's month/day/hour rows on (non-leap).

    Returns
    -------
    system : PVSystem
    hourly : pl.DataFrame
        ts_utc (start of the hour; the file's hours are local standard time, UTC offset
        ``round(longitude / 15)`` h), the weather the chain reads (dni, dhi [W/m²],
        temp_air [°C], wind_speed [m/s]) and PVWatts' own results
        (poa_global_w_per_m2 [W/m²], cell_temperature_c [°C], dc_power_w [W],
        ac_power_w [W]).
    """
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Month,"))
    head = {}
    for line in lines[:start]:
        key, _, rest = line.partition(",")
        head[key.strip().rstrip(":")] = rest.split(",")[0].strip().strip('"')
    if head["Array Type"] != "Fixed (open rack)":
        raise ValueError(f"PVWatts: array type {head['Array Type']!r} is not supported")
    longitude = -float(head["Long (deg W)"])
    system = PVSystem(
        latitude=float(head["Lat (deg N)"]),
        longitude=longitude,
        altitude_m=float(head["Elev (m)"]),
        tilt_deg=float(head["Array Tilt (deg)"]),
        azimuth_deg=float(head["Array Azimuth (deg)"]),
        pdc0_w=float(head["DC System Size (kW)"]) * 1000,
        gamma_pdc_per_c=PVWATTS_GAMMA[head["Module Type"]],
        dc_ac_ratio=float(head["DC to AC Size Ratio"]),
        inverter_efficiency=float(head["Invert Efficiency"]) / 100,
        losses=float(head["System Losses"]) / 100,
        temperature_model="fuentes",
        transposition="perez",
        albedo=0.2,
    )
    rows = [line.split(",") for line in lines[start + 1 :] if line[:1].isdigit()]
    names = [PVWATTS_COLUMNS[c] for c in lines[start].split(",")]
    table = pl.DataFrame(rows, schema=names, orient="row").with_columns(
        pl.col("month", "day", "hour").cast(pl.Int32),
        pl.exclude("month", "day", "hour").cast(pl.Float64),
    )
    utc_offset_h = round(longitude / 15)
    ts = pl.datetime(year, pl.col("month"), pl.col("day"), pl.col("hour"), time_zone="UTC")
    hourly = table.select(
        (ts - pl.duration(hours=utc_offset_h)).dt.cast_time_unit("us").alias("ts_utc"),
        *(c for c in names if c not in ("month", "day", "hour")),
    )
    return system, hourly
