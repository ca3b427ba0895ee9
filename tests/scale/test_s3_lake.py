"""The lake on object storage: an ``s3://`` root served by moto's S3 server on loopback.

The same lake functions, Dagster assets and DuckDB views run against the local folder and
the bucket; both must hold the same rows.
"""

import subprocess
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import polars as pl
import pytest
import s3fs

from bench.backfill import backfill_in_process, comparable, lake_contents, register_meters
from control.mosquitto import free_port
from pipelines import lake, warehouse
from tests.demo_lake import week_settings

BUCKET = "novaenergy-lake"
DAY = date(2025, 3, 12)
SAMPLE_YEAR = date(2025, 1, 1), date(2026, 1, 1)


@pytest.fixture
def s3_endpoint(monkeypatch, tmp_path):
    """moto's S3 server in its own process on loopback; the AWS_* variables point at it."""
    port = free_port()
    log = (tmp_path / "moto.log").open("w")
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    for name, value in {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "test-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        fs = s3fs.S3FileSystem()
        deadline = time.monotonic() + 30
        while True:
            try:
                fs.mkdir(BUCKET)
                break
            except Exception:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        yield fs
    finally:
        server.terminate()
        server.wait(timeout=10)
        s3fs.S3FileSystem.clear_instance_cache()


def bucket_contents(fs: s3fs.S3FileSystem, root: str) -> dict[str, pl.DataFrame]:
    """Every partition object under ``root`` by its path under the root, run stamps dropped."""
    prefix = root.removeprefix("s3://")
    out = {}
    for key in sorted(fs.glob(f"{prefix}/**/{lake.PART_FILE}")):
        rel = key.removeprefix(prefix + "/")
        with fs.open(key, "rb") as handle:
            frame = pl.read_parquet(handle)
        out[rel] = comparable(rel.split("/")[0], frame)
    return out


def test_lake_functions_read_back_what_they_wrote_on_s3(s3_endpoint, tmp_path):
    root = f"s3://{BUCKET}/unit"
    rows = pl.DataFrame(
        {
            "site_id": ["s1"] * 3,
            "meter_id": ["m1"] * 3,
            "ts_utc": pl.Series(
                ["2025-03-01 23:45", "2025-03-02 00:00", "2025-03-02 00:15"]
            ).str.to_datetime(time_unit="us", time_zone="UTC"),
            "interval_s": [900] * 3,
            "energy_wh": [1.0, 2.0, 3.0],
            "quality": ["measured"] * 3,
        }
    )
    days = [date(2025, 3, 1), date(2025, 3, 2)]
    for where in (root, str(tmp_path / "local")):
        written = lake.write_days(where, "meter_readings", rows, ["s1"], days)
        assert len(written) == 2
    remote = lake.read_window(root, "meter_readings", days[0], date(2025, 3, 3))
    local = lake.read_window(str(tmp_path / "local"), "meter_readings", days[0], date(2025, 3, 3))
    assert remote.equals(local) and remote.height == 3
    assert [f.parent.name for f in lake.dataset_files(root, "meter_readings")] == [
        "date=2025-03-01",
        "date=2025-03-02",
    ]
    # an emptied day disappears from the bucket, as it does from a folder
    lake.write_partition(root, "meter_readings", rows.head(0), "s1", days[0])
    assert lake.read_partition(root, "meter_readings", "s1", days[0]).is_empty()
    assert lake.scan(root, "meter_readings").collect().height == 2
    # merge keeps the other rows of the partition
    lake.merge_days(root, "meter_readings", rows.tail(1).with_columns(energy_wh=pl.lit(9.0)))
    merged = lake.read_partition(root, "meter_readings", "s1", days[1])
    assert merged["energy_wh"].to_list() == [2.0, 9.0]


def test_a_partition_on_s3_equals_the_same_partition_in_a_folder(s3_endpoint, tmp_path):
    local = week_settings(tmp_path / "local", *SAMPLE_YEAR)
    on_s3 = replace(week_settings(tmp_path / "s3", *SAMPLE_YEAR), lake_root=f"s3://{BUCKET}/lake")
    for settings in (local, on_s3):
        register_meters(settings)
        backfill_in_process(settings, DAY, DAY)

    expected = lake_contents(local.lake_root)
    got = bucket_contents(s3_endpoint, on_s3.lake_root)
    assert sorted(got) == sorted(expected)
    datasets = {p.split("/")[0] for p in got}
    assert {
        "meter_registry",
        "meter_readings",
        "site_energy_hourly",
        "go_hourly_matching",
    } <= datasets
    assert {"grid_carbon_intensity_hourly", "device_telemetry"} <= datasets
    assert [p for p in expected if not got[p].equals(expected[p])] == []
    assert not Path("s3:").exists()  # nothing written to a local folder named after the URL

    # the DuckDB views read the bucket, in the writer's connection and in a reader's
    warehouse.refresh_views(on_s3.lake_root, on_s3.warehouse_path)
    warehouse.refresh_views(local.lake_root, local.warehouse_path)
    sql = "SELECT count(*) AS n, sum(energy_wh) AS wh FROM meter_readings"
    from_s3 = warehouse.query(on_s3.warehouse_path, sql)
    assert from_s3["n"].item() > 0
    assert from_s3.equals(warehouse.query(local.warehouse_path, sql))
