"""The contract checks catch bad data that slipped past ingestion."""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl

from assets_defs.site.assets import meter_readings
from assets_defs.site.checks import meter_readings_checks
from novaenergy.demo import resources_for
from pipelines import lake

from .conftest import week_settings

DAY = date(2025, 3, 27)


def run_checks(settings) -> dict[str, bool]:
    result = dg.materialize(
        [meter_readings, meter_readings_checks],
        selection=dg.AssetSelection.checks_for_assets(meter_readings),
        resources=resources_for(settings),
        raise_on_error=False,
    )
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def day_of_readings(energy: float) -> pl.DataFrame:
    start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
    registry = pl.DataFrame(
        {
            "site_id": ["warehouse-b"],
            "meter_id": ["m1"],
            "kind": ["load"],
            "description": [""],
            "max_power_w": [1e5],
        }
    )
    return registry, pl.DataFrame(
        {
            "site_id": "warehouse-b",
            "meter_id": "m1",
            "ts_utc": [start + timedelta(minutes=15 * i) for i in range(96)],
            "interval_s": 900,
            "energy_wh": energy,
            "quality": "measured",
        }
    )


def test_checks_pass_on_good_data_and_fail_on_bad(tmp_path):
    settings = week_settings(tmp_path)
    registry, good = day_of_readings(10.0)
    lake.write_partition(settings.lake_root, "meter_registry", registry, "warehouse-b")
    lake.write_days(settings.lake_root, "meter_readings", good, ["warehouse-b"], [DAY])
    assert all(run_checks(settings).values())

    bad = good.with_columns(
        pl.when(pl.int_range(pl.len()) == 5)
        .then(-1.0)
        .otherwise(pl.col("energy_wh"))
        .alias("energy_wh")
    )
    lake.write_days(settings.lake_root, "meter_readings", bad.head(90), ["warehouse-b"], [DAY])
    outcome = run_checks(settings)
    assert outcome["meter_readings_value_ranges"] is False
    assert outcome["meter_readings_complete_intervals"] is False  # 90 of 96 intervals
    assert outcome["meter_readings_unique_key"] is True
