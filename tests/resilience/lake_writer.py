"""A lake writer run as its own process by the resilience tests.

``python -m tests.resilience.lake_writer ROOT DAYS SECONDS`` rewrites the meter_readings
partitions of ``DAYS`` days, alternating two versions, until ``SECONDS`` have passed.
``python -m tests.resilience.lake_writer ROOT --one-big`` writes one large partition (to be
killed in the middle).
"""

import sys
import time
from datetime import UTC, date, datetime, timedelta

import polars as pl

from pipelines import lake

SITE = "s"
FIRST_DAY = date(2025, 3, 1)
# version -> (meters, energy_wh of every row): the versions differ in row count and value,
# so a reader that saw half of one and half of the other would notice
VERSIONS = {1: (3, 1.0), 2: (5, 2.0)}


def version_frame(day: date, version: int, meters: int | None = None) -> pl.DataFrame:
    """A day of 15-minute readings of ``meters`` meters, every energy_wh equal to the version's."""
    n_meters, energy_wh = VERSIONS[version]
    n_meters = meters or n_meters
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    ts = [start + timedelta(minutes=15 * i) for i in range(96)]
    return pl.DataFrame(
        {
            "site_id": SITE,
            "meter_id": [f"m{m}" for m in range(n_meters) for _ in ts],
            "ts_utc": ts * n_meters,
            "interval_s": 900,
            "energy_wh": energy_wh,
            "quality": "measured",
        }
    )


def days(n: int) -> list[date]:
    return [FIRST_DAY + timedelta(days=i) for i in range(n)]


def rewrite_until(root: str, n_days: int, seconds: float) -> int:
    """Rewrite every partition again and again, alternating the versions; returns the writes."""
    deadline, writes, version = time.monotonic() + seconds, 0, 1
    while time.monotonic() < deadline:
        version = 3 - version
        for d in days(n_days):
            lake.write_partition(root, "meter_readings", version_frame(d, version), SITE, d)
            writes += 1
        time.sleep(0.02)  # a pipeline rewrites a partition once per run, not back to back
    return writes


if __name__ == "__main__":
    root = sys.argv[1]
    if sys.argv[2] == "--one-big":
        print("writing", flush=True)
        big = version_frame(FIRST_DAY, 2, meters=20_000)  # ~2 M rows: takes a while to write
        lake.write_partition(root, "meter_readings", big, SITE, FIRST_DAY)
        print("done", flush=True)
    else:
        print(rewrite_until(root, int(sys.argv[2]), float(sys.argv[3])), flush=True)
