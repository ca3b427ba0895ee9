import hashlib
import os
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from pipelines import lake


def readings(start: datetime, n: int, meter: str = "m1", site: str = "s1") -> pl.DataFrame:
    first = start.replace(tzinfo=UTC)
    ts = pl.datetime_range(first, first + timedelta(minutes=15 * (n - 1)), "15m", eager=True)
    return pl.DataFrame(
        {
            "site_id": site,
            "meter_id": meter,
            "ts_utc": ts,
            "interval_s": 900,
            "energy_wh": [float(i) for i in range(n)],
            "quality": "measured",
        }
    )


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_write_days_is_byte_identical_on_rerun(tmp_path):
    df = readings(datetime(2025, 3, 1), 192)
    days = [date(2025, 3, 1), date(2025, 3, 2)]
    first = [digest(p) for p in lake.write_days(tmp_path, "meter_readings", df, ["s1"], days)]
    second = [
        digest(p) for p in lake.write_days(tmp_path, "meter_readings", df.reverse(), ["s1"], days)
    ]
    assert first == second
    assert lake.scan(tmp_path, "meter_readings").collect().height == 192


def test_partition_layout_and_no_temp_files_left(tmp_path):
    lake.write_days(
        tmp_path, "meter_readings", readings(datetime(2025, 3, 1), 96), ["s1"], [date(2025, 3, 1)]
    )
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["meter_readings/site_id=s1/date=2025-03-01/part-0.parquet"]


def test_rerun_over_a_window_removes_stale_rows(tmp_path):
    days = [date(2025, 3, 1), date(2025, 3, 2)]
    lake.write_days(tmp_path, "meter_readings", readings(datetime(2025, 3, 1), 192), ["s1"], days)
    lake.write_days(tmp_path, "meter_readings", readings(datetime(2025, 3, 1), 96), ["s1"], days)
    assert lake.scan(tmp_path, "meter_readings").collect().height == 96
    assert (
        not (tmp_path / "meter_readings/site_id=s1/date=2025-03-02")
        .joinpath("part-0.parquet")
        .exists()
    )


def test_duplicate_keys_are_refused_and_leave_the_old_partition(tmp_path):
    good = readings(datetime(2025, 3, 1), 96)
    (path,) = lake.write_days(tmp_path, "meter_readings", good, ["s1"], [date(2025, 3, 1)])
    before = digest(path)
    with pytest.raises(lake.DuplicateKeyError):
        lake.write_partition(
            tmp_path, "meter_readings", pl.concat([good, good.head(1)]), "s1", date(2025, 3, 1)
        )
    assert digest(path) == before


def test_rows_outside_the_partition_are_refused(tmp_path):
    df = readings(datetime(2025, 3, 1, 23), 8)  # crosses midnight
    with pytest.raises(ValueError, match="do not belong"):
        lake.write_partition(tmp_path, "meter_readings", df, "s1", date(2025, 3, 1))
    with pytest.raises(ValueError, match="outside the window"):
        lake.write_days(tmp_path, "meter_readings", df, ["s1"], [date(2025, 3, 1)])


def test_schema_is_enforced_on_write(tmp_path):
    df = readings(datetime(2025, 3, 1), 4).drop("quality")
    with pytest.raises(ValueError, match="missing columns"):
        lake.write_partition(tmp_path, "meter_readings", df, "s1", date(2025, 3, 1))


def test_read_window_filters_days_and_entities(tmp_path):
    lake.write_days(
        tmp_path,
        "meter_readings",
        readings(datetime(2025, 3, 1), 288, site="a"),
        ["a"],
        [date(2025, 3, d) for d in (1, 2, 3)],
    )
    lake.write_days(
        tmp_path,
        "meter_readings",
        readings(datetime(2025, 3, 1), 96, site="b"),
        ["b"],
        [date(2025, 3, 1)],
    )
    got = lake.read_window(tmp_path, "meter_readings", date(2025, 3, 2), date(2025, 3, 4), ["a"])
    assert got.height == 192
    assert got["ts_utc"].dt.date().min() == date(2025, 3, 2)
    assert got.schema["ts_utc"] == pl.Datetime("us", "UTC")
    assert (
        lake.read_window(tmp_path, "meter_readings", date(2025, 3, 1), date(2025, 3, 2)).height
        == 192
    )


def test_absent_dataset_reads_empty_with_contract_schema(tmp_path):
    frame = lake.scan(tmp_path, "site_energy_hourly").collect()
    assert frame.height == 0
    assert "pv_self_consumed_kwh" in frame.columns


def test_sweep_removes_dead_or_old_writers_files_only(tmp_path):
    live = tmp_path / f".tmp-{os.getpid()}-a.partial"
    old = tmp_path / f".tmp-{os.getpid()}-b.partial"
    dead = tmp_path / ".tmp-999999999-c.partial"  # above any pid_max: no such process
    for f in (live, old, dead, tmp_path / lake.PART_FILE):
        f.write_bytes(b"x")
    os.utime(old, (0, 0))
    assert sorted(lake.sweep_dead_writers(tmp_path)) == sorted([old, dead])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, lake.PART_FILE])
