"""A synthetic hourly DE_LU generation mix and day-ahead prices (labelled synthetic).

Demand, solar and wind follow the calendar and the Potsdam test reference year;
dispatchable plants fill the residual in merit order (lignite, hard coal, gas), and
pumped storage shifts midday surplus into the evening. The load level is calibrated so
the annual lifecycle intensity with the default factor table is 381 g/kWh (Ember/OWID,
Germany 2023); the calibration year is always the full calendar year of the period's
start, so every day of a year sees the same mix whatever period is generated.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import numpy as np
import polars as pl

from ingest.sample_site.weather import weather_for_period
from pipelines.carbon_intensity import production_intensity
from pipelines.emission_factors import load_factor_table

TARGET_LIFECYCLE_G_PER_KWH = 381.0
SOURCE = "synthetic"

# Installed capacity [MW], roughly Germany 2024–2025.
SOLAR_MW = 90_000
WIND_ONSHORE_MW = 62_000
WIND_OFFSHORE_MW = 9_000
# Must-run and flat producers [MW].
FLAT_MW = {"B01": 4_300, "B17": 700, "B11": 1_800, "B12": 150, "B15": 150, "B20": 1_100, "B09": 20}
LIGNITE_MIN_MW, LIGNITE_MAX_MW = 5_000, 15_000
HARD_COAL_MAX_MW = 9_000
GAS_MIN_MW, GAS_MAX_MW = 3_000, 26_000
PUMPED_MW = 6_000


def _wind_capacity_factor(
    n_hours: int, day_of_year: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    seasonal = 0.22 + 0.09 * np.cos(2 * np.pi * (day_of_year - 15) / 365)
    shocks = rng.normal(0, 0.12, n_hours)
    ar = np.zeros(n_hours)
    for i in range(1, n_hours):  # weather persists for days
        ar[i] = 0.97 * ar[i - 1] + shocks[i] * 0.25
    return np.clip(seasonal * np.exp(ar), 0.01, 0.85)


def _year_mix(year: int, seed: int, load_scale: float) -> tuple[pl.DataFrame, np.ndarray]:
    w = weather_for_period(date(year, 1, 1), date(year + 1, 1, 1))
    rng = np.random.default_rng([seed, year, 7])
    ts = w["ts_utc"]
    n = len(ts)
    local = ts.dt.convert_time_zone("Europe/Berlin")
    hour = local.dt.hour().to_numpy()
    weekday = local.dt.weekday().to_numpy()
    doy = local.dt.ordinal_day().to_numpy()
    daily = (
        1
        + 0.16 * np.sin(np.pi * np.clip(hour - 6, 0, 16) / 16)
        - 0.08 * ((hour < 6) | (hour >= 22))
    )
    weekly = np.where(weekday == 7, 0.82, np.where(weekday == 6, 0.9, 1.0))
    seasonal = 1 + 0.08 * np.cos(2 * np.pi * (doy - 15) / 365)
    load = 50_000 * load_scale * daily * weekly * seasonal * rng.normal(1, 0.02, n)

    ghi = (w["direct_horizontal"] + w["dhi"]).to_numpy()
    solar = SOLAR_MW * np.clip(ghi / 1000, 0, 1) * 0.78
    wind_cf = _wind_capacity_factor(n, doy, rng)
    onshore = WIND_ONSHORE_MW * wind_cf
    offshore = WIND_OFFSHORE_MW * np.clip(wind_cf * 1.5, 0, 0.95)
    flat = {k: np.full(n, float(v)) * rng.normal(1, 0.03, n) for k, v in FLAT_MW.items()}
    flat["B11"] *= 1 + 0.25 * np.cos(2 * np.pi * (doy - 140) / 365)

    residual = load - solar - onshore - offshore - sum(flat.values())
    pumped_gen = np.where((hour >= 17) & (hour < 21), np.clip(residual * 0.08, 0, PUMPED_MW), 0.0)
    pumped_charge = np.where(
        (hour >= 10) & (hour < 15), np.clip(-residual * 0.3 + 1500, 0, PUMPED_MW), 0.0
    )
    residual = residual - pumped_gen + pumped_charge
    lignite = np.clip(residual, LIGNITE_MIN_MW, LIGNITE_MAX_MW)
    rest = np.clip(residual - lignite, 0, None)
    hard_coal = np.clip(rest * 0.45, 0, HARD_COAL_MAX_MW)
    gas = np.clip(rest - hard_coal, GAS_MIN_MW, GAS_MAX_MW)  # beyond gas: imports

    series = {
        "B16": solar,
        "B19": onshore,
        "B18": offshore,
        **flat,
        "B02": lignite,
        "B05": hard_coal,
        "B04": gas,
        "B10": pumped_gen,
    }
    frames = [
        pl.DataFrame(
            {
                "ts_utc": ts,
                "production_type": code,
                "mode": "generation",
                "energy_mwh": np.round(values, 1),
            }
        )
        for code, values in series.items()
    ]
    frames.append(
        pl.DataFrame(
            {
                "ts_utc": ts,
                "production_type": "B10",
                "mode": "consumption",
                "energy_mwh": np.round(pumped_charge, 1),
            }
        )
    )
    mix = pl.concat(frames).with_columns(
        pl.lit("DE_LU").alias("zone"), pl.lit(SOURCE).alias("source")
    )
    load_frame = pl.DataFrame({"ts_utc": ts, "load_mw": np.round(load, 1)})
    return mix, load_frame


def _factors_covering(factors: pl.DataFrame, years: list[int]) -> pl.DataFrame:
    """The table with every year-dependent factor (storage discharge) extended to ``years``
    by its nearest year. Calibration only: the mix itself carries no factors, and the
    carbon pipeline still refuses a year the table does not hold."""
    dated = factors.filter(pl.col("year").is_not_null())
    extra = []
    for mode in sorted(set(dated["mode"])):
        rows = dated.filter(pl.col("mode") == mode)
        have = sorted(set(rows["year"]))
        for year in years:
            if year not in have:
                nearest = min(have, key=lambda y: (abs(y - year), y))
                extra.append(
                    rows.filter(pl.col("year") == nearest).with_columns(
                        pl.lit(year, dtype=pl.Int32).alias("year")
                    )
                )
    return pl.concat([factors, *extra])


def _annual_lifecycle(mix: pl.DataFrame) -> float:
    version, factors = load_factor_table()
    years = sorted(set(mix["ts_utc"].dt.year()))
    ci = production_intensity(mix, _factors_covering(factors, years), version)
    return float(
        (ci["ci_lifecycle_g_per_kwh"] * ci["generation_mwh"]).sum() / ci["generation_mwh"].sum()
    )


@lru_cache(maxsize=8)
def _calibrated_year(year: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    lo, hi = 0.7, 1.6
    for _ in range(18):
        mid = (lo + hi) / 2
        if _annual_lifecycle(_year_mix(year, seed, mid)[0]) < TARGET_LIFECYCLE_G_PER_KWH:
            lo = mid
        else:
            hi = mid
    return _year_mix(year, seed, (lo + hi) / 2)


def calibrated_year_mix(year: int, seed: int) -> pl.DataFrame:
    """The year's hourly mix with the load level bisected to hit 381 g/kWh lifecycle."""
    return _calibrated_year(year, seed)[0]


def _years(start: date, end: date) -> range:
    return range(start.year, (end.year if end.month == 1 and end.day == 1 else end.year + 1))


def _hourly_period(frame: pl.DataFrame, start: date, end: date, zone: str) -> pl.DataFrame:
    """Hourly rows of UTC days ``start <= day < end``, labelled with the zone."""
    return frame.filter(
        pl.col("ts_utc").dt.date().is_between(start, end, closed="left")
    ).with_columns(
        pl.lit(zone).alias("zone"),
        pl.col("ts_utc").dt.cast_time_unit("us"),
        pl.lit(3600, dtype=pl.Int32).alias("interval_s"),
    )


def grid_load(start: date, end: date, seed: int, zone: str = "DE_LU") -> pl.DataFrame:
    """The synthetic zone's hourly total load behind the calibrated mix (the A65
    product): zone, ts_utc, interval_s, load_mw [MW], source."""
    load = pl.concat([_calibrated_year(y, seed)[1] for y in _years(start, end)])
    return _hourly_period(
        load.with_columns(pl.lit(SOURCE).alias("source")), start, end, zone
    ).select("zone", "ts_utc", "interval_s", "load_mw", "source")


def grid_mix(start: date, end: date, seed: int, zone: str = "DE_LU") -> pl.DataFrame:
    """Hourly synthetic mix for UTC days ``start <= day < end``.

    Columns: zone, ts_utc, production_type, mode, energy_mwh [MWh], source.
    """
    mix = pl.concat([calibrated_year_mix(y, seed) for y in _years(start, end)])
    return (
        _hourly_period(mix, start, end, zone)
        .select("zone", "ts_utc", "production_type", "mode", "interval_s", "energy_mwh", "source")
        .sort("ts_utc", "production_type", "mode")
    )


def _price_noise(ts: pl.Series, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit-variance noise for each hour of ``ts``: a persistent AR(1) term (about
    two days' memory) and white noise, drawn per calendar year so an hour's value does
    not depend on the period generated."""
    drift = np.empty(len(ts))
    noise = np.empty(len(ts))
    years = ts.dt.year().to_numpy()
    hour_of_year = ((ts.dt.ordinal_day() - 1) * 24 + ts.dt.hour()).to_numpy()
    for year in np.unique(years):
        rng = np.random.default_rng([seed, int(year), 11])
        shocks = rng.normal(0, 1, 366 * 24)
        ar = np.zeros(366 * 24)
        for i in range(1, ar.size):
            ar[i] = 0.98 * ar[i - 1] + shocks[i] * (1 - 0.98**2) ** 0.5
        white = rng.normal(0, 1, 366 * 24)
        at = years == year
        drift[at], noise[at] = ar[hour_of_year[at]], white[hour_of_year[at]]
    return drift, noise


def day_ahead_prices(mix: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Hourly prices from the mix: a merit-order curve on the fossil share.

    Cheap or negative when renewables cover the load, expensive when gas sets the
    price, with a scarcity premium when gas runs near its capacity (dark doldrums)
    and a persistent fuel-and-market term. Levels follow DE_LU 2023–2025: a mean of
    about 90 EUR/MWh, a few hundred negative hours, winter spikes of several hundred.
    The noise of an hour depends only on ``seed`` and the hour, so every period
    generated gives a day the same prices.

    Columns: zone, ts_utc, interval_s (3600), price_eur_per_mwh [EUR/MWh], source.
    """
    gen = mix.filter(pl.col("mode") == "generation")
    hourly = (
        gen.group_by("zone", "ts_utc")
        .agg(
            pl.col("energy_mwh").sum().alias("total"),
            pl.col("energy_mwh")
            .filter(pl.col("production_type").is_in(["B02", "B05", "B04"]))
            .sum()
            .alias("fossil"),
            pl.col("energy_mwh").filter(pl.col("production_type") == "B04").sum().alias("gas"),
        )
        .sort("zone", "ts_utc")
    )
    share = (hourly["fossil"] / hourly["total"]).to_numpy()
    gas_share = (hourly["gas"] / hourly["total"]).to_numpy()
    scarcity = 300 * np.clip((hourly["gas"].to_numpy() / GAS_MAX_MW - 0.85) / 0.15, 0, None) ** 2
    drift, noise = _price_noise(hourly["ts_utc"], seed)
    price = -15 + 215 * share**1.4 + 120 * gas_share + scarcity + 10 * drift + 5 * noise
    price = np.where(share < 0.12, price - 40, price)
    return hourly.select(
        "zone",
        "ts_utc",
        pl.lit(3600, dtype=pl.Int32).alias("interval_s"),
        pl.Series("price_eur_per_mwh", np.round(price, 2)),
        pl.lit(SOURCE).alias("source"),
    )


def wind_solar_forecast(mix: pl.DataFrame, seed: int) -> pl.DataFrame:
    """A synthetic day-ahead wind and solar forecast (the A69 product), from the mix.

    Forecast = actual × a persistent multiplicative error: about 12 % for wind and
    8 % for solar, as day-ahead forecasts typically miss. Columns: zone, ts_utc,
    production_type, power_mw [MW], source.
    """
    rng = np.random.default_rng([seed, 23])
    parts = []
    for code, sigma in (("B16", 0.08), ("B18", 0.12), ("B19", 0.12)):
        actual = mix.filter(
            (pl.col("production_type") == code) & (pl.col("mode") == "generation")
        ).sort("ts_utc")
        shocks = rng.normal(0, sigma * 0.3, actual.height)
        error = np.zeros(actual.height)
        for i in range(1, actual.height):
            error[i] = 0.9 * error[i - 1] + shocks[i]
        power = actual["energy_mwh"].to_numpy() * 3600 / actual["interval_s"].to_numpy()
        parts.append(
            actual.select("zone", "ts_utc", "production_type").with_columns(
                pl.Series("power_mw", np.round(np.clip(power * (1 + error), 0, None), 1)),
                pl.lit(SOURCE).alias("source"),
            )
        )
    return pl.concat(parts).sort("ts_utc", "production_type")
