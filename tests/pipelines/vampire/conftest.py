"""Hand-built meter series for the vampire-load tests.

A few machines run on working days from 06:00 to 22:00 local time (with noise) and
idle otherwise; tests add patterns on top (a machine left on, compressor spikes, a
holiday shift) in local wall-clock time, so the expected bounds are easy to state.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from pipelines.vampire.offhours import off_hours_calendar, quarter_hour_grid

TZ = "Europe/Berlin"
# meter -> (working power [W], idle power [W])
MACHINES = {"press-1": (20_000.0, 500.0), "saw-2": (8_000.0, 150.0), "oven-3": (40_000.0, 2_000.0)}


def local(*args: int) -> datetime:
    """A local wall-clock time at the site, as an aware UTC datetime."""
    return datetime(*args, tzinfo=ZoneInfo(TZ)).astimezone(UTC)


class Site:
    """Quarter-hour power [W] of the MACHINES from ``start`` for ``days`` UTC days."""

    def __init__(self, start: date, days: int, seed: int = 0, subdivision: str = "BB"):
        first = datetime(start.year, start.month, start.day, tzinfo=UTC)
        self.ts = quarter_hour_grid(first, first + timedelta(days=days) - timedelta(minutes=15))
        cal = off_hours_calendar(self.ts, TZ, subdivision=subdivision)
        self.working = ~cal["off_hours"].to_numpy()
        rng = np.random.default_rng(seed)
        self.power = {
            m: np.where(
                self.working,
                on * rng.normal(1, 0.05, len(self.ts)),
                idle * rng.normal(1, 0.02, len(self.ts)),
            )
            for m, (on, idle) in MACHINES.items()
        }

    def mask(self, start_utc: datetime, end_utc: datetime) -> np.ndarray:
        ts = self.ts.to_numpy()
        return (ts >= np.datetime64(start_utc.replace(tzinfo=None))) & (
            ts < np.datetime64(end_utc.replace(tzinfo=None))
        )

    def add(self, meter: str, start_utc: datetime, end_utc: datetime, watts: float) -> None:
        """Add ``watts`` [W] to ``meter`` over ``[start_utc, end_utc)``."""
        self.power[meter] = self.power[meter] + np.where(self.mask(start_utc, end_utc), watts, 0)

    def run_as_workday(self, meter: str, day: date) -> None:
        """Run ``meter`` 06:00–22:00 local on ``day`` as if it were a working day."""
        on, idle = MACHINES[meter]
        self.add(
            meter,
            local(day.year, day.month, day.day, 6),
            local(day.year, day.month, day.day, 22),
            on - idle,
        )

    def readings(self) -> pl.DataFrame:
        """meter_id, ts_utc, energy_wh [Wh] for all machines."""
        return pl.concat(
            pl.DataFrame({"meter_id": m, "ts_utc": self.ts, "energy_wh": np.round(w * 0.25, 1)})
            for m, w in self.power.items()
        )
