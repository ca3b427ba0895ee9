"""Append-only landing of the service's commands and events as raw batch files.

The control service is not a writer of the lake: every command it sends (with its
acknowledgement) and every event (island transitions, devices going offline, plan changes,
overrides, start and stop) is landed as a raw Parquet batch, and the ``device_commands`` and
``control_events`` assets ingest those files. As with telemetry
(:mod:`ingest.telemetry_landing`), a batch is written once, atomically (temporary name, then
a hard link that never overwrites), by one writer per file. Layout::

    <raw_root>/commands/<site_id>/<YYYY-MM-DD>/<writer>-<first ts>-<seq>.parquet
    <raw_root>/control_events/<site_id>/<YYYY-MM-DD>/<writer>-<first ts>-<seq>.parquet

The UTC day of the folder is the day of the rows' ``sent_at_utc`` (commands) or ``ts_utc``
(events).
"""

from __future__ import annotations

import itertools
import json
import os
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl

from pipelines.schemas import KEYS, SCHEMAS


@dataclass(frozen=True)
class Landing:
    """One kind of landed batch: its folder under the raw root, dataset and day column."""

    folder: str
    dataset: str
    ts_col: str

    @property
    def schema(self) -> dict[str, pl.DataType]:
        return SCHEMAS[self.dataset]


COMMANDS = Landing("commands", "device_commands", "sent_at_utc")
EVENTS = Landing("control_events", "control_events", "ts_utc")


def landing_dir(raw_root: str | Path, landing: Landing, site_id: str, day: date) -> Path:
    """Folder of the batch files of one site and UTC day."""
    return Path(raw_root) / landing.folder / site_id / day.isoformat()


def landed_files(raw_root: str | Path, landing: Landing, site_id: str, day: date) -> list[Path]:
    """Every complete batch file of one site and UTC day, in name order."""
    return sorted(landing_dir(raw_root, landing, site_id, day).glob("*.parquet"))


def read_landed(
    raw_root: str | Path, landing: Landing, site_id: str, days: list[date]
) -> pl.DataFrame:
    """Every landed row of ``site_id`` on ``days``, one row per key, sorted by key.

    Rows outside their folder's day are dropped; of rows sharing a key (a batch landed
    twice) the first in file-name order is kept.
    """
    paths = [p for d in days for p in landed_files(raw_root, landing, site_id, d)]
    if not paths:
        return pl.DataFrame(schema=landing.schema)
    frame = pl.concat(
        [pl.read_parquet(p).select(list(landing.schema)) for p in paths], how="vertical"
    ).cast(landing.schema)
    key = KEYS[landing.dataset]
    return (
        frame.filter((pl.col("site_id") == site_id) & pl.col(landing.ts_col).dt.date().is_in(days))
        .unique(subset=key, keep="first", maintain_order=True)
        .sort(key)
    )


class BatchWriter:
    """Writes batches of one landing for one writer; never overwrites a file.

    Parameters
    ----------
    raw_root : str or Path
        The raw landing root (``NOVAENERGY_RAW_ROOT``).
    landing : Landing
        :data:`COMMANDS` or :data:`EVENTS`.
    writer : str
        Name unique to this writer (one service instance), part of every file name.
    """

    def __init__(self, raw_root: str | Path, landing: Landing, writer: str) -> None:
        self.raw_root = Path(raw_root)
        self.landing = landing
        self.writer = writer
        self._seq = itertools.count()

    def write(self, rows: list[dict]) -> list[Path]:
        """Land one batch; rows of several sites or UTC days go to one file each."""
        if not rows:
            return []
        schema = self.landing.schema
        frame = pl.DataFrame(rows, schema=schema)
        ts = self.landing.ts_col
        written = []
        days = frame.with_columns(pl.col(ts).dt.date().alias("__day"))
        for (site_id, day), part in days.group_by("site_id", "__day", maintain_order=True):
            part = part.drop("__day")
            out = landing_dir(self.raw_root, self.landing, site_id, day)
            out.mkdir(parents=True, exist_ok=True)
            tmp = out / f".tmp-{uuid.uuid4().hex}.partial"
            try:
                part.write_parquet(tmp)
                written.append(self._publish(tmp, out, part[ts].min()))
            finally:
                tmp.unlink(missing_ok=True)
        return written

    def _publish(self, tmp: Path, out: Path, first: datetime) -> Path:
        while True:
            name = f"{self.writer}-{first:%Y%m%dT%H%M%S%fZ}-{next(self._seq):06d}.parquet"
            try:
                os.link(tmp, out / name)  # atomic, and fails instead of overwriting
            except FileExistsError:
                continue  # left by an earlier run of this writer (its seq restarted)
            return out / name


def new_id() -> str:
    """A fresh command or event id."""
    return uuid.uuid4().hex


def to_json(value: object) -> str:
    """Compact, key-sorted JSON (datetimes as ISO 8601) for payload and detail columns."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_iso)


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class CommandRecorder:
    """Lands ``device_commands`` and ``control_events`` rows for one service instance.

    Also keeps the most recent events in memory (seeded from the files of today and
    yesterday, so a restarted service still shows them) for the API.

    Parameters
    ----------
    raw_root : str or Path
        The raw landing root.
    site_id : str
        The site this service controls.
    writer : str
        Writer name in the file names; one per running service.
    keep_events : int
        Recent events kept in memory.
    now : datetime, optional
        Current time [UTC], to find the days to seed recent events from.
    """

    def __init__(
        self,
        raw_root: str | Path,
        site_id: str,
        writer: str = "control",
        keep_events: int = 500,
        now: datetime | None = None,
    ) -> None:
        self.raw_root = Path(raw_root)
        self.site_id = site_id
        self.commands = BatchWriter(raw_root, COMMANDS, writer)
        self.events = BatchWriter(raw_root, EVENTS, writer)
        self._recent: deque[dict] = deque(maxlen=keep_events)
        if now is not None:
            days = [(now - timedelta(days=1)).date(), now.date()]
            old = read_landed(raw_root, EVENTS, site_id, days).sort("ts_utc")
            self._recent.extend(old.tail(keep_events).to_dicts())

    def record_commands(self, rows: list[dict]) -> list[Path]:
        """Land command rows (see ``SCHEMAS["device_commands"]``; site_id is filled in)."""
        return self.commands.write([{"site_id": self.site_id, **r} for r in rows])

    def event(self, ts: datetime, event_type: str, device_id: str | None = None, **detail) -> dict:
        """An event row (not landed yet: pass it to :meth:`record_events`)."""
        return {
            "site_id": self.site_id,
            "event_id": new_id(),
            "ts_utc": ts,
            "event_type": event_type,
            "device_id": device_id,
            "detail": to_json(detail),
        }

    def record_events(self, rows: list[dict]) -> list[Path]:
        """Land event rows and remember them as recent."""
        written = self.events.write(rows)
        self._recent.extend(rows)
        return written

    def recent_events(self, limit: int = 100, event_type: str | None = None) -> list[dict]:
        """The newest events first, optionally of one type."""
        rows = [r for r in reversed(self._recent) if event_type in (None, r["event_type"])]
        return rows[:limit]
