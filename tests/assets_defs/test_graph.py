"""The whole asset graph over a week of the sample site, on a temporary lake."""

import hashlib
from pathlib import Path

import dagster as dg
import polars as pl

from assets_defs.catalog import CHECKS
from novaenergy.demo import materialize_all
from pipelines import lake
from pipelines.warehouse import connect_read_only
from tests.demo_lake import hours


def test_every_check_passes(week):
    _, passed, failed = week
    assert failed == []
    keys = [k for c in CHECKS for k in c.check_keys]
    plan_checks = [k for k in keys if k.asset_key.path[0] in ("setpoint_plans", "plan_runs")]
    assert plan_checks  # checked after the day-ahead and again after the intraday plan
    assert passed == len(keys) + len(plan_checks)


def test_hourly_energy_balance_holds(week):
    settings, *_ = week
    hourly = lake.scan(settings.lake_root, "site_energy_hourly").collect()
    assert hourly.height == hours(settings)
    assert (hourly["quality"] == "complete").all()
    residual = (
        hourly["grid_import_kwh"]
        + hourly["pv_production_kwh"]
        + hourly["battery_discharge_kwh"]
        + hourly["ev_discharge_kwh"]
        - hourly["consumption_kwh"]
        - hourly["battery_charge_kwh"]
        - hourly["ev_charge_kwh"]
        - hourly["grid_export_kwh"]
    )
    assert residual.abs().max() < 1e-6
    assert hourly["pv_production_kwh"].sum() > 0 and hourly["consumption_kwh"].sum() > 0


def test_meter_readings_are_complete_utc_and_unique(week):
    settings, *_ = week
    readings = lake.scan(settings.lake_root, "meter_readings").collect()
    registry = lake.scan(settings.lake_root, "meter_registry").collect()
    assert readings.schema["ts_utc"] == pl.Datetime("us", "UTC")
    assert readings.height == registry.height * hours(settings) * 4
    assert readings.select("meter_id", "ts_utc").is_duplicated().sum() == 0


def test_warehouse_views_serve_the_contract(week):
    settings, *_ = week
    with connect_read_only(settings.warehouse_path) as con:
        n = con.execute("SELECT count(*) FROM meter_readings").fetchone()[0]
        ci = con.execute(
            "SELECT count(*), min(factor_table_version) FROM grid_carbon_intensity_hourly"
        ).fetchone()
    assert n > 0
    assert ci == (hours(settings), "default-v1")


def _digests(root: str) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in Path(root).rglob("*.parquet")
        if "meter_quarantine" not in p.parts
    }


def test_materializing_again_gives_identical_files(week, tmp_path):
    settings, *_ = week
    before = _digests(settings.lake_root)
    passed, failed = materialize_all(settings, instance=dg.DagsterInstance.ephemeral())
    assert failed == []
    assert _digests(settings.lake_root) == before
    assert (
        lake.scan(settings.lake_root, "meter_readings").collect().height
        == lake.scan(settings.lake_root, "meter_readings")
        .unique(["meter_id", "ts_utc"])
        .collect()
        .height
    )
