"""Counts behind the Overview's alert badges: vampire loads, data quality, plan shortfalls."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl

from pipelines import lake
from pipelines.explore.energy import local_time
from pipelines.forecasting import local_day_bounds

WEEK_DAYS = 7


def _count(frame: pl.DataFrame, day_col: pl.Expr, day: date) -> dict[str, int]:
    """Rows whose day is ``day``, and whose day is in the week ending on ``day``."""
    days = frame.select(day_col.alias("d"))["d"]
    week_start = day - timedelta(days=WEEK_DAYS - 1)
    return {
        "day": int((days == day).sum()),
        "week": int(((days >= week_start) & (days <= day)).sum()),
    }


def alert_counts(
    lake_root: str | Path, site_id: str, day: date, timezone: str
) -> dict[str, dict[str, int]]:
    """How many alerts of each kind fall on a local day and in the 7 days ending on it.

    - ``vampire_alerts``: vampire-load alerts of the site that start that day (local).
    - ``data_quality_failures``: failed data-quality expectations over all datasets,
      by the UTC day the results check.
    - ``plan_shortfalls``: setpoint plans of the site created that day (local) that are
      infeasible or leave vehicles short of energy at departure.

    Returns
    -------
    dict
        kind -> {"day": count, "week": count}.
    """
    week_start = day - timedelta(days=WEEK_DAYS - 1)
    start, _ = local_day_bounds(week_start, timezone)
    _, end = local_day_bounds(day, timezone)
    window = (start.date(), end.date() + timedelta(days=1))
    local_day = {
        col: local_time(col, timezone).dt.date() for col in ("start_utc", "created_at_utc")
    }

    vampire = lake.read_window(lake_root, "vampire_alerts", *window, [site_id])
    quality = lake.read_window(
        lake_root, "data_quality_results", week_start, day + timedelta(days=1)
    )
    plans = lake.read_window(lake_root, "plan_runs", *window, [site_id]).filter(
        (pl.col("ev_shortfall_kwh") > 0) | ~pl.col("feasible")
    )
    return {
        "vampire_alerts": _count(vampire, local_day["start_utc"], day),
        "data_quality_failures": _count(
            quality.filter(~pl.col("success")), pl.col("day_utc").dt.date(), day
        ),
        "plan_shortfalls": _count(plans, local_day["created_at_utc"], day),
    }
