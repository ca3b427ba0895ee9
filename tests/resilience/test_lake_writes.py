"""The lake under concurrent readers and a writer killed mid-write.

Readers see the old or the new partition, never half of one; a killed writer leaves no
partial file where readers look, and running the write again repairs the partition.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from pipelines import lake, warehouse
from pipelines.schemas import conform
from tests.resilience.lake_writer import FIRST_DAY, SITE, VERSIONS, days, version_frame

ROOT_DIR = Path(__file__).resolve().parents[2]
N_DAYS = 4
ROWS = {n_meters * 96: energy for n_meters, energy in VERSIONS.values()}


def start_writer(root: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.resilience.lake_writer", str(root), *args],
        cwd=ROOT_DIR,
        stdout=subprocess.PIPE,
        text=True,
    )


def assert_whole_partitions(frame: pl.DataFrame) -> None:
    """Every (meter) day holds exactly one version: its row count and value agree."""
    per_day = frame.group_by(pl.col("ts_utc").dt.date()).agg(
        pl.len().alias("rows"), pl.col("energy_wh").unique().alias("values")
    )
    assert per_day.height == N_DAYS, per_day
    for rows, values in per_day.select("rows", "values").iter_rows():
        assert rows in ROWS and values == [ROWS[rows]], per_day


def test_readers_see_old_or_new_partitions_while_a_process_rewrites_them(tmp_path):
    root = tmp_path / "lake"
    for d in days(N_DAYS):
        lake.write_partition(root, "meter_readings", version_frame(d, 1), SITE, d)
    wh = tmp_path / "warehouse.duckdb"
    warehouse.refresh_views(root, wh)
    readers = {
        "polars read_window": lambda: lake.read_window(
            root, "meter_readings", FIRST_DAY, days(N_DAYS + 1)[-1]
        ),
        "polars scan": lambda: lake.scan(root, "meter_readings").collect(),
        "duckdb view": lambda: warehouse.query(wh, "SELECT * FROM meter_readings"),
    }
    reads = {name: 0 for name in readers}
    errors: list[BaseException] = []
    writer = start_writer(root, str(N_DAYS), "6")

    def read_repeatedly(name):
        while writer.poll() is None:
            try:
                assert_whole_partitions(readers[name]())
                reads[name] += 1
            except BaseException as exc:  # noqa: BLE001 - collected and re-raised below
                errors.append((name, exc))
                return

    threads = [threading.Thread(target=read_repeatedly, args=(n,)) for n in readers]
    for t in threads:
        t.start()
    # a notebook holds the warehouse open read-only while the views are refreshed
    with warehouse.connect_read_only(wh) as notebook:
        while writer.poll() is None:
            warehouse.refresh_views(root, wh)
            assert notebook.execute("SELECT count(*) FROM meter_readings").fetchone()[0] > 0
            time.sleep(0.2)
    writes = int(writer.stdout.read())
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors[0]
    assert writer.returncode == 0 and writes > 10 * N_DAYS
    print(f"{writes} partition writes, reads: {reads}")
    assert all(n >= 5 for n in reads.values()), reads


def visible_files(root: Path) -> list[Path]:
    return lake.dataset_files(root, "meter_readings")


@pytest.mark.parametrize("had_old_partition", [False, True])
def test_a_writer_killed_mid_write_leaves_nothing_partial_and_a_rerun_repairs(
    tmp_path, had_old_partition
):
    root = tmp_path / "lake"
    if had_old_partition:
        lake.write_partition(root, "meter_readings", version_frame(FIRST_DAY, 1), SITE, FIRST_DAY)
    writer = start_writer(root, "--one-big")
    assert writer.stdout.readline().strip() == "writing"
    folder = lake.partition_dir(root, "meter_readings", SITE, FIRST_DAY)
    deadline = time.monotonic() + 60
    while not list(folder.glob(".tmp-*")):  # the write has begun
        assert time.monotonic() < deadline and writer.poll() is None, "no temporary file seen"
        time.sleep(0.005)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=10)
    assert writer.returncode == -signal.SIGKILL
    # readers find the old partition or none, never a half-written file
    old_rows = 3 * 96 if had_old_partition else 0
    assert len(visible_files(root)) == had_old_partition
    assert lake.read_partition(root, "meter_readings", SITE, FIRST_DAY).height == old_rows
    assert lake.scan(root, "meter_readings").collect().height == old_rows
    # the re-run writes the partition whole and sweeps the dead writer's temporary file
    repaired = version_frame(FIRST_DAY, 2)
    lake.write_partition(root, "meter_readings", repaired, SITE, FIRST_DAY)
    assert lake.read_partition(root, "meter_readings", SITE, FIRST_DAY).equals(
        conform(repaired, "meter_readings").sort("meter_id", "ts_utc")
    )
    assert sorted(p.name for p in folder.iterdir()) == [lake.PART_FILE]
