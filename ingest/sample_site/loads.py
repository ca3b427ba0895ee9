"""Site loads: the BDEW G25 base load and sub-metered machinery with shift schedules.

Every function returns mean power per 15-minute interval [W] aligned with the
calendar of :func:`ingest.sample_site.calendar.quarter_hours`.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import polars as pl

G25_ANNUAL_KWH = 1_000_000.0  # demandlib normalises each profile to about 1 GWh a year


def building_base_w(cal: pl.DataFrame, annual_kwh: float, holiday_days: list) -> np.ndarray:
    """Building base load from the BDEW G25 commercial standard load profile.

    The profile is evaluated on local wall-clock time (the way BDEW profiles are
    defined) and scaled to ``annual_kwh`` [kWh/year].
    """
    from demandlib.bdew import G25

    local = pd.DatetimeIndex(cal["ts_local"].to_pandas())
    index = pd.date_range(local[0], periods=len(local), freq="15min")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # demandlib's pandas deprecation noise
        profile_kw = G25(index, holidays=holiday_days)
    return np.asarray(profile_kw, dtype=float) * 1000 * annual_kwh / G25_ANNUAL_KWH


def shredder_w(cal: pl.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Shredder line 2: two shifts Mon–Fri 06:00–22:00, ~60 kW running, breaks idle."""
    h = cal["hour_local"].to_numpy()
    work = cal["is_workday"].to_numpy() & (h >= 6) & (h < 22)
    breaks = ((h >= 9.5) & (h < 9.75)) | ((h >= 12) & (h < 12.5)) | ((h >= 18) & (h < 18.5))
    running = work & ~breaks
    power = np.where(running, rng.normal(60_000, 6_000, len(h)), np.where(work, 2_500.0, 300.0))
    return np.clip(power, 0, None)


def printers_w(cal: pl.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """3D printer farm: long jobs on working days 07:00–19:00, ~8 kW, standby 0.4 kW."""
    h = cal["hour_local"].to_numpy()
    work = cal["is_workday"].to_numpy() & (h >= 7) & (h < 19)
    return np.where(work, rng.normal(8_000, 800, len(h)).clip(0), 400.0)


def hvac_w(cal: pl.DataFrame, temp_air: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """HVAC: heat pump and ventilation driven by outdoor temperature [°C], set back off-hours."""
    heating = 1_500.0 * np.clip(16.0 - temp_air, 0, None)
    cooling = 2_500.0 * np.clip(temp_air - 22.0, 0, None)
    occupied = ~cal["off_hours"].to_numpy()
    demand = 3_000.0 + heating + cooling
    return np.where(occupied, demand, 0.3 * demand) * rng.normal(1, 0.05, len(temp_air)).clip(
        0.8, 1.2
    )


def lighting_w(cal: pl.DataFrame, ghi: np.ndarray) -> np.ndarray:
    """Lighting: 14 kW when occupied, dimmed by daylight [W/m² GHI]; 0.8 kW security at night."""
    occupied = ~cal["off_hours"].to_numpy()
    daylight = np.clip(ghi / 400.0, 0, 0.8)
    return np.where(occupied, 14_000.0 * (1 - daylight), 800.0)


def compressed_air_w(shredder: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Compressed air follows production (a quarter of the shredder's power) plus a 1.5 kW leak."""
    return 1_500.0 + 0.25 * shredder * rng.normal(1, 0.08, len(shredder)).clip(0.7, 1.3)
