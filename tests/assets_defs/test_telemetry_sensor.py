"""The telemetry batch sensor: MQTT batches of a closed day land in device_telemetry,
once, deduplicated, with the Great Expectations suites run on them."""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl

from assets_defs.site.assets import device_telemetry
from assets_defs.site.checks import device_telemetry_checks
from assets_defs.site.sensors import ingest_telemetry_batches_sensor, telemetry_ingest_job
from ingest import raw_files
from ingest.telemetry_landing import TelemetryBatchWriter
from novaenergy.demo import QUIET, instance_with_sites, resources_for
from pipelines import lake

from .conftest import week_settings

SITE = "warehouse-b"
DAY = date(2025, 3, 27)
MACHINES = {"load-shredder-2": 120_000.0, "load-3dprinters": 30_000.0}


def day_of_power(device_id: str, rated_w: float) -> list[dict]:
    start = datetime.combine(DAY, datetime.min.time(), tzinfo=UTC)
    return [
        {
            "site_id": SITE,
            "device_id": device_id,
            "ts_utc": start + timedelta(minutes=15 * i),
            "metric": "power_w",
            "value": rated_w * (0.9 if 24 <= i < 72 else 0.0),
            "unit": "W",
        }
        for i in range(96)
    ]


def tick(resources, cursor=None):
    ctx = dg.build_sensor_context(
        cursor=cursor,
        resources={"lake_store": resources["lake_store"]},
        instance=instance_with_sites([SITE]),
    )
    return ingest_telemetry_batches_sensor(ctx), ctx.cursor


def test_new_batches_of_a_closed_day_are_ingested_once_and_checked(tmp_path):
    settings = week_settings(tmp_path)
    resources = resources_for(settings)
    writer = TelemetryBatchWriter(settings.raw_root, "mqtt-warehouse-b")
    rows = [r for dev, rated in MACHINES.items() for r in day_of_power(dev, rated)]
    written = [writer.write(rows[i : i + 40])[0] for i in range(0, len(rows), 40)]
    restarted = TelemetryBatchWriter(settings.raw_root, "mqtt-warehouse-b")  # seq from 0 again
    restarted.write(rows[:10])  # a QoS 1 redelivery landed again, under seq 0's name first
    assert pl.read_parquet(written[0]).height == 40  # kept, not overwritten
    today = datetime.now(UTC)
    writer.write([{**rows[0], "ts_utc": today}])  # today's partition does not exist yet
    sample = raw_files.telemetry_file(settings.raw_root, SITE, DAY - timedelta(days=1))
    sample.parent.mkdir(parents=True)
    pl.DataFrame(rows[:1]).write_parquet(sample)  # ingested by the daily job, not here

    requests, cursor = tick(resources)
    assert [r.partition_key for r in requests] == [f"{DAY}|{SITE}"]
    again, _ = tick(resources, cursor)
    assert isinstance(again, dg.SkipReason)

    defs = dg.Definitions(
        assets=[device_telemetry],
        asset_checks=[device_telemetry_checks],
        jobs=[telemetry_ingest_job],
        resources=resources,
    )
    result = defs.resolve_job_def("telemetry_ingest_job").execute_in_process(
        partition_key=requests[0].partition_key,
        run_config=QUIET,
        instance=instance_with_sites([SITE]),
    )
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks and all(checks.values()), checks

    landed = lake.read_partition(settings.lake_root, "device_telemetry", SITE, DAY)
    assert landed.height == 2 * 96
    assert landed.select("device_id", "metric", "ts_utc").is_unique().all()

    writer.write([{**rows[5], "ts_utc": rows[5]["ts_utc"] + timedelta(seconds=1)}])  # late
    late, _ = tick(resources, cursor)
    assert [r.partition_key for r in late] == [f"{DAY}|{SITE}"]
