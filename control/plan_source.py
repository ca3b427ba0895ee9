"""The plan slot in force, read from the lake's ``setpoint_plans``.

Per device the setpoint of a slot is the row of the newest plan created no later than the
slot start (:func:`pipelines.planning.site_lake.plans_in_force`), among plans whose validity
covers the slot. A plan made during a slot applies from the next slot on, so what is in force
for a slot cannot change while the slot runs, except that a run may land its plan in the lake
a little after its ``created_at_utc``. Hence the cache: per slot, re-read at most every
``refresh_s``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from control.model import PlanSlot
from pipelines import lake
from pipelines.planning.site_lake import plans_in_force

SLOT = timedelta(minutes=15)


def slot_start(now: datetime, slot: timedelta = SLOT) -> datetime:
    """Start of the slot holding ``now`` (aware UTC)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((now - epoch) // slot) * slot


@dataclass(frozen=True)
class PlanInfo:
    """What the API shows about the plan in force: ids, kind and times [UTC]."""

    plan_id: str
    kind: str
    created_at: datetime
    valid_from: datetime
    valid_until: datetime
    devices: int


class LakePlanSource:
    """Reads the slot in force for one site, cached per slot.

    Parameters
    ----------
    lake_root : str or Path
        Lake root folder.
    site_id : str
        The site.
    slot : timedelta
        Slot length (15 minutes).
    refresh_s : float
        Longest time a cached slot is served before the lake is read again [s].
    """

    def __init__(
        self,
        lake_root: str | Path,
        site_id: str,
        slot: timedelta = SLOT,
        refresh_s: float = 60.0,
    ) -> None:
        self.lake_root = Path(lake_root)
        self.site_id = site_id
        self.slot = slot
        self.refresh_s = refresh_s
        self.info: PlanInfo | None = None
        self.reads = 0
        self._cached: tuple[datetime, datetime, PlanSlot | None] | None = None

    def slot_at(self, now: datetime) -> PlanSlot | None:
        """The setpoints in force at ``now`` (aware UTC), or None if no valid plan covers it."""
        start = slot_start(now, self.slot)
        cached = self._cached
        if cached is not None and cached[0] == start:
            if (now - cached[1]).total_seconds() < self.refresh_s:
                return cached[2]
        found = self._read(start)
        self._cached = (start, now, found)
        return found

    def _read(self, start: datetime) -> PlanSlot | None:
        self.reads += 1
        day = start.date()
        rows = lake.read_window(
            self.lake_root, "setpoint_plans", day, day + timedelta(days=1), [self.site_id]
        ).filter(
            (pl.col("slot_start_utc") == start)
            & (pl.col("valid_from_utc") <= start)
            & (pl.col("valid_until_utc") > start)
        )
        rows = plans_in_force(rows)
        if rows.is_empty():
            self.info = None
            return None
        newest = rows.sort("created_at_utc", "plan_id").row(-1, named=True)
        self.info = PlanInfo(
            plan_id=newest["plan_id"],
            kind=newest["kind"],
            created_at=newest["created_at_utc"],
            valid_from=newest["valid_from_utc"],
            valid_until=newest["valid_until_utc"],
            devices=rows.height,
        )
        return PlanSlot(
            plan_id=newest["plan_id"],
            slot_start=start,
            slot_end=start + self.slot,
            power_w=dict(zip(rows["device_id"], rows["power_w"], strict=True)),
        )
