"""4 × 7 daily partitions: one multiprocess backfill gives the lake that four weekly
in-process runs, one after another, give. No asset keeps state between partitions except
through the lake, so partitions may run in any order and in parallel."""

from datetime import date

import polars as pl

from bench.backfill import (
    backfill_in_process,
    backfill_multiprocess,
    lake_contents,
    register_meters,
    weeks,
)
from tests.demo_lake import week_settings

FIRST = date(2025, 3, 3)
SAMPLE_YEAR = date(2025, 1, 1), date(2026, 1, 1)
# The site's chain from raw files to certificates and vampire-load alerts, with its checks.
CHAIN = [
    "sample_site_raw",
    "meter_readings",
    "device_telemetry",
    "site_energy_hourly",
    "go_ledger",
    "go_hourly_matching",
]
# A day's vampire-load events read the readings of the 14 days after it (an event may run
# through a weekend; the baseline is centred on the day), so, as Dagster's backfill orders
# them by their partition mapping, they run once all the readings are in the lake.
VAMPIRE = ["vampire_load_events", "vampire_alerts"]
# The ledger numbers events and bundles in the order they happen, and stamps them with the end
# of the run's window: batching changes the numbers and stamps, never the certificates.
LEDGER_SNAPSHOTS = {"go_bundles", "go_ledger_events"}


def certificates(snapshot: pl.DataFrame) -> pl.DataFrame:
    """Wh of certificates by production hour, account and status (event type)."""
    by = [c for c in ("production_hour_utc", "account_id", "status", "event_type") if c in snapshot]
    return snapshot.group_by(by).agg(pl.col("quantity_wh").sum()).sort(by)


def test_multiprocess_backfill_equals_weeks_run_in_sequence(tmp_path):
    four_weeks = weeks(FIRST, 4)
    first, last = four_weeks[0][0], four_weeks[-1][1]
    # the sample site of the code location's defaults (the CLI's site has no sample period)
    sequential = week_settings(tmp_path / "sequential", *SAMPLE_YEAR)
    register_meters(sequential)
    for week_first, week_last in four_weeks:
        backfill_in_process(sequential, week_first, week_last, CHAIN)
    for week_first, week_last in four_weeks:
        backfill_in_process(sequential, week_first, week_last, VAMPIRE)
    parallel = week_settings(tmp_path / "parallel", *SAMPLE_YEAR)
    register_meters(parallel)
    output = backfill_multiprocess(parallel, first, last, tmp_path, CHAIN + VAMPIRE)
    # each step ran in a process of its own
    assert output.count("STEP_WORKER_STARTED") >= len(CHAIN + VAMPIRE)

    expected, got = lake_contents(sequential.lake_root), lake_contents(parallel.lake_root)
    assert sorted(got) == sorted(expected)
    days = {p.split("date=")[1][:10] for p in got if "date=" in p}
    assert len(days) == 28
    assert {p.split("/")[0] for p in got} >= {
        "meter_readings",
        "device_telemetry",
        "site_energy_hourly",
        "go_hourly_matching",
        "data_quality_results",
        "vampire_load_events",
        "vampire_alerts",
        *LEDGER_SNAPSHOTS,
    }
    assert sum(f.height for f in got.values()) > 50_000
    ledger = [p for p in expected if p.split("/")[0] in LEDGER_SNAPSHOTS]
    assert all(certificates(got[p]).equals(certificates(expected[p])) for p in ledger)
    different = [p for p in expected if p not in ledger and not got[p].equals(expected[p])]
    assert different == []
