"""Benchmark: hourly production- and consumption-based intensity, 10 zones x 1 year.

Mixes are the sample site's synthetic generator run with ten seeds (one per zone);
flows are random exchanges between neighbouring zones on a ring. Times our path
(production-based intensity from the per-type mix, then flow tracing) against a bare
Polars weighted sum over the same mix, in the same run.
"""

from __future__ import annotations

import time
from datetime import date

import numpy as np
import polars as pl

from ingest.sample_site.grid_mix import grid_mix
from pipelines.carbon_intensity import production_intensity
from pipelines.emission_factors import factors_for, load_factor_table
from pipelines.flow_tracing import consumption_intensity

ZONES = [f"Z{i:02d}" for i in range(10)]


def build_inputs() -> tuple[pl.DataFrame, pl.DataFrame]:
    mixes = [
        grid_mix(date(2025, 1, 1), date(2026, 1, 1), seed).with_columns(pl.lit(z).alias("zone"))
        for seed, z in enumerate(ZONES)
    ]
    mix = pl.concat(mixes)
    hours = mix["ts_utc"].unique().sort()
    rng = np.random.default_rng(3)
    flows = pl.concat(
        [
            pl.DataFrame(
                {
                    "zone_from": a,
                    "zone_to": b,
                    "hour_utc": hours,
                    "flow_mwh": rng.uniform(0, 3000, hours.len()),
                }
            )
            for i, a in enumerate(ZONES)
            for b in (ZONES[(i + 1) % len(ZONES)],)
        ]
    )
    return mix, flows


def main() -> None:
    mix, flows = build_inputs()
    version, factors = load_factor_table()
    print(
        f"mix rows: {mix.height:,}, zone-hours: {mix.select('zone', 'ts_utc').n_unique():,}, flow rows: {flows.height:,}"
    )

    with_factors = factors_for(mix.filter(pl.col("mode") == "generation"), factors)
    start = time.perf_counter()
    bare = with_factors.group_by("zone", "ts_utc").agg(
        (
            (pl.col("energy_mwh") * pl.col("ci_lifecycle_g_per_kwh")).sum()
            / pl.col("energy_mwh").sum()
        ).alias("ci")
    )
    t_bare = time.perf_counter() - start

    start = time.perf_counter()
    production = production_intensity(mix, factors, version)
    t_production = time.perf_counter() - start
    start = time.perf_counter()
    consumption = consumption_intensity(production, flows)
    t_consumption = time.perf_counter() - start

    assert production.height == consumption.height == bare.height
    total = t_production + t_consumption
    print(f"bare polars weighted sum (factors pre-joined):  {t_bare:6.3f} s")
    print(f"ours: production-based (incl. factor lookup):   {t_production:6.3f} s")
    print(f"ours: consumption-based flow tracing:           {t_consumption:6.3f} s")
    print(
        f"ours total: {total:.3f} s for {production.height:,} zone-hours (target < 2 s); ratio to bare: {total / t_bare:.1f}x"
    )


def forecast_backtest() -> None:
    """Rolling-origin backtest of the day-ahead forecast on the sample year."""
    from datetime import timedelta

    from ingest.sample_site.grid_mix import wind_solar_forecast
    from pipelines.ci_forecast import backtest, wind_solar_driver

    version, factors = load_factor_table()
    mix = grid_mix(date(2025, 1, 1), date(2026, 1, 1), 42)
    ci = production_intensity(mix, factors, version)
    days = [date(2025, 2, 1) + timedelta(days=7 * i) for i in range(46)]
    start = time.perf_counter()
    with_driver = backtest(ci, days, drivers=wind_solar_driver(wind_solar_forecast(mix, 42)))
    without = backtest(ci, days)
    took = time.perf_counter() - start
    print(f"forecast backtest, {with_driver.days} origins (weekly, 24 h ahead), {took:.1f} s:")
    print(f"  persistence (yesterday's same hour) MAE {with_driver.mae_persistence:6.1f} g/kWh")
    print(
        f"  model with wind/solar forecast      MAE {with_driver.mae_model:6.1f} g/kWh (skill {with_driver.skill:+.1%})"
    )
    print(
        f"  model on calendar and lags only     MAE {without.mae_model:6.1f} g/kWh (skill {without.skill:+.1%})"
    )


if __name__ == "__main__":
    main()
    forecast_backtest()
