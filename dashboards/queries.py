"""Query functions for the dashboard: they return frames and never touch Streamlit."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines import lake


def site_energy_daily(lake_root: str | Path, site_id: str) -> pl.DataFrame:
    """Daily totals of the hourly site balance [kWh], read straight from Parquet."""
    return (
        lake.scan(lake_root, "site_energy_hourly")
        .filter(pl.col("site_id") == site_id)
        .group_by(pl.col("hour_utc").dt.date().alias("day"))
        .agg(pl.col("^.*_kwh$").sum())
        .sort("day")
        .collect()
    )


def overview_kpis(daily: pl.DataFrame) -> dict[str, float]:
    """Headline figures over the given days: energy used [MWh] and PV share [%]."""
    if daily.is_empty():
        return {"consumption_mwh": 0.0, "pv_production_mwh": 0.0, "pv_share_pct": 0.0}
    consumption = float(daily["consumption_kwh"].sum() + daily["ev_charge_kwh"].sum())
    self_consumed = float(daily["pv_self_consumed_kwh"].sum())
    return {
        "consumption_mwh": consumption / 1000,
        "pv_production_mwh": float(daily["pv_production_kwh"].sum()) / 1000,
        "pv_share_pct": 100 * self_consumed / consumption if consumption else 0.0,
    }
