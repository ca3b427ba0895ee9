"""Site energy: daily totals, KPIs and flows between PV, grid, battery, EVs and loads."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

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


def data_span(lake_root: str | Path, site_id: str, timezone: str) -> tuple[date, date] | None:
    """First and last local day [date] with hourly site energy, or None on an empty lake."""
    files = lake.dataset_files(lake_root, "site_energy_hourly")
    if not files:
        return None
    span = (
        lake.scan(lake_root, "site_energy_hourly")
        .filter(pl.col("site_id") == site_id)
        .select(
            pl.col("hour_utc").min().alias("first"),
            pl.col("hour_utc").max().alias("last"),
        )
        .collect()
    )
    first, last = span.row(0)
    if first is None:
        return None
    tz = ZoneInfo(timezone)
    return first.astimezone(tz).date(), last.astimezone(tz).date()
