"""Daily UTC partitions and the window a run covers."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg
import pandas as pd

PARTITIONS_START = "2025-01-01"
PARTITIONS_START_DATE = date.fromisoformat(PARTITIONS_START)

daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC")

# A backfill over many days runs as one run per asset, which handles the whole window.
# The parameter is marked beta in Dagster 1.13; we rely on it knowingly.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)
# So is a window mapping reaching before the first partition (vampire loads' history).
warnings.filterwarnings(
    "ignore", message="Parameter `allow_nonexistent_upstream_partitions`", category=dg.BetaWarning
)
single_run = dg.BackfillPolicy.single_run()


@dataclass(frozen=True)
class Window:
    """UTC days ``start <= day < end``."""

    start: date
    end: date

    @property
    def bounds_utc(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """Start and end of the window as UTC timestamps (for entsoe-py's client)."""
        return pd.Timestamp(self.start.isoformat(), tz="UTC"), pd.Timestamp(
            self.end.isoformat(), tz="UTC"
        )

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days)]


def window_of(context) -> Window:
    """The UTC day window of a partitioned run (one day or a single-run range)."""
    tw = context.partition_time_window
    return Window(tw.start.date(), tw.end.date())


def range_tags(first: date, last: date) -> dict[str, str]:
    """Run tags that make one run cover the UTC days ``first..last`` (both included)."""
    return {
        "dagster/asset_partition_range_start": first.isoformat(),
        "dagster/asset_partition_range_end": last.isoformat(),
    }
