"""The day-ahead forecast asset on three weeks of the sample site."""

from dataclasses import replace
from datetime import date

import dagster as dg
import polars as pl

from novaenergy.demo import materialize_all
from pipelines import lake

from .conftest import week_settings


def test_forecast_beats_persistence_once_it_has_two_weeks_of_history(tmp_path):
    settings = replace(
        week_settings(tmp_path), sample_start=date(2025, 5, 1), sample_end=date(2025, 5, 22)
    )
    passed, failed = materialize_all(settings, instance=dg.DagsterInstance.ephemeral())
    assert failed == []
    forecast = lake.scan(settings.lake_root, "grid_carbon_intensity_forecast").collect()
    days = sorted(forecast["hour_utc"].dt.date().unique().to_list())
    assert days == [date(2025, 5, d) for d in range(15, 22)]  # 14 days of history first
    assert forecast.height == 7 * 24
    assert (forecast["issued_at_utc"] < forecast["hour_utc"].dt.truncate("1d")).all()
    actual = lake.scan(settings.lake_root, "grid_carbon_intensity_hourly").collect()
    scored = forecast.join(
        actual.select("hour_utc", pl.col("ci_lifecycle_g_per_kwh").alias("actual")), on="hour_utc"
    )
    persistence = scored.join(
        actual.select(
            (pl.col("hour_utc") + pl.duration(days=1)).alias("hour_utc"),
            pl.col("ci_lifecycle_g_per_kwh").alias("yesterday"),
        ),
        on="hour_utc",
    )
    mae_model = (persistence["ci_lifecycle_g_per_kwh"] - persistence["actual"]).abs().mean()
    mae_persistence = (persistence["yesterday"] - persistence["actual"]).abs().mean()
    assert mae_model < mae_persistence
