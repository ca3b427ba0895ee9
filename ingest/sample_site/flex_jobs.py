"""The sample site's queue of flexible jobs: batches the planner may place in a window.

The load meters already show the machines' habitual runs (they are part of the load
forecast); these are *additional* batches the operators queue for the planner, so that
follow-the-sun demand response has something to move:

- ``load-shredder-2``: a 2-hour, 60 kW shredding batch on working days between 06:00 and
  20:00 local; once started it runs to the end.
- ``load-3dprinters``: 6 hours of 8 kW printing every day between 08:00 and 22:00 local;
  the farm can pause between layers, so the job is interruptible.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import polars as pl

UTC_TS = pl.Datetime("us", "UTC")

JOB_SCHEMA = {
    "job_id": pl.String,
    "device_id": pl.String,
    "power_kw": pl.Float64,
    "duration_min": pl.Int64,
    "earliest_utc": UTC_TS,
    "deadline_utc": UTC_TS,
    "interruptible": pl.Boolean,
}

# device, power [kW], duration [min], window (local hours), interruptible, working days only
BATCHES = (
    ("load-shredder-2", 60.0, 120, (6, 20), False, True),
    ("load-3dprinters", 8.0, 360, (8, 22), True, False),
)


def job_queue(first: date, last: date, timezone: str = "Europe/Berlin") -> pl.DataFrame:
    """Queued batches for local days ``first..last`` (inclusive), one row per job."""
    tz = ZoneInfo(timezone)
    public = holidays.country_holidays("DE", subdiv="BB", years=range(first.year, last.year + 1))
    rows = []
    day = first
    while day <= last:
        workday = day.weekday() < 5 and day not in public
        for device, kw, minutes, (h0, h1), interruptible, workdays_only in BATCHES:
            if workdays_only and not workday:
                continue
            rows.append(
                {
                    "job_id": f"{device.removeprefix('load-')}@{day.isoformat()}",
                    "device_id": device,
                    "power_kw": kw,
                    "duration_min": minutes,
                    "earliest_utc": datetime.combine(day, time(h0), tz),
                    "deadline_utc": datetime.combine(day, time(h1), tz),
                    "interruptible": interruptible,
                }
            )
        day += timedelta(days=1)
    return pl.DataFrame(rows, schema=JOB_SCHEMA)
