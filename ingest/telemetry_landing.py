"""Append-only landing of device telemetry as raw batch files, one writer per file.

Protocol adapters (MQTT, Modbus/SunSpec, OCPP) and the sample-site generator land device
readings here; the ``device_telemetry`` asset ingests them into the lake. A batch file is
written once, atomically (temporary name, then rename), and never changed, so a reader sees
whole files or nothing and two writers never share a file. Layout::

    <raw_root>/telemetry/<site_id>/<YYYY-MM-DD>/<writer>-<first ts, YYYYmmddTHHMMSSffffffZ>-<seq>.parquet

Rows are ``site_id, device_id, ts_utc, metric, value, unit`` (the ``device_telemetry``
contract); the UTC day of the folder is the day of the rows' ``ts_utc``.
"""

from __future__ import annotations

import itertools
import os
import uuid
from datetime import date, datetime
from pathlib import Path

import polars as pl

from pipelines.schemas import KEYS, SCHEMAS

TELEMETRY_SCHEMA = SCHEMAS["device_telemetry"]


def batch_dir(raw_root: str | Path, site_id: str, day: date) -> Path:
    """Folder of the batch files of one site and UTC day."""
    return Path(raw_root) / "telemetry" / site_id / day.isoformat()


def batch_files(raw_root: str | Path, site_id: str, day: date) -> list[Path]:
    """Every complete batch file of one site and UTC day, in name order."""
    return sorted(batch_dir(raw_root, site_id, day).glob("*.parquet"))


def batch_name(writer: str, first_ts: datetime, seq: int) -> str:
    """File name of a writer's ``seq``-th batch whose earliest reading is ``first_ts``."""
    return f"{writer}-{first_ts:%Y%m%dT%H%M%S%fZ}-{seq:06d}.parquet"


def batch_days(raw_root: str | Path, site_id: str) -> list[date]:
    """The UTC days of one site that have a batch folder, oldest first."""
    root = Path(raw_root) / "telemetry" / site_id
    if not root.is_dir():
        return []
    days = []
    for p in root.iterdir():
        if not p.is_dir():
            continue
        try:
            days.append(date.fromisoformat(p.name))
        except ValueError:
            continue  # not a day folder
    return sorted(days)


def read_batches(raw_root: str | Path, site_id: str, days: list[date]) -> pl.DataFrame:
    """Every batch of ``site_id`` on ``days``, one row per key (site, device, metric, ts).

    QoS 1 delivery is at least once and several writers may land the same reading; the
    first copy in file-name order is kept. Rows outside their folder's day are dropped.
    Rows come sorted by key, so the same files always give the same frame.

    Raises
    ------
    ingest.raw_files.RawFileError
        Naming a batch file that is not readable Parquet.
    """
    from ingest.raw_files import read_parquet_files  # raw_files imports this module

    paths = [p for d in days for p in batch_files(raw_root, site_id, d)]
    if not paths:
        return pl.DataFrame(schema=TELEMETRY_SCHEMA)
    try:
        frame = pl.read_parquet(paths)
    except Exception:  # polars raises several types; find the file and name it
        frame = read_parquet_files(paths)
    frame = frame.select([pl.col(c).cast(t) for c, t in TELEMETRY_SCHEMA.items()])
    return (
        frame.filter((pl.col("site_id") == site_id) & pl.col("ts_utc").dt.date().is_in(days))
        .unique(subset=KEYS["device_telemetry"], keep="first", maintain_order=True)
        .sort(KEYS["device_telemetry"])
    )


class TelemetryBatchWriter:
    """Writes batches of readings for one writer (one adapter instance).

    Parameters
    ----------
    raw_root : str or Path
        The raw landing root (``NOVAENERGY_RAW_ROOT``).
    writer : str
        Name unique to this writer, e.g. ``mqtt-warehouse-b``; part of every file name.
    replace : bool
        Whether a batch may replace a file of the same name. Only a writer that rewrites
        the same batches byte for byte (the sample site) sets it; otherwise a name taken
        by an earlier run of the writer moves on to the next free sequence number.
    """

    def __init__(self, raw_root: str | Path, writer: str, replace: bool = False) -> None:
        self.raw_root = Path(raw_root)
        self.writer = writer
        self.replace = replace
        self._seq = itertools.count()

    def write(self, rows: pl.DataFrame | list[dict]) -> list[Path]:
        """Land one batch; rows spanning several sites or UTC days go to one file each.

        Returns the files written (none for an empty batch).
        """
        frame = pl.DataFrame(rows, schema=TELEMETRY_SCHEMA) if isinstance(rows, list) else rows
        frame = frame.select([pl.col(c).cast(t) for c, t in TELEMETRY_SCHEMA.items()])
        written = []
        days = frame.with_columns(pl.col("ts_utc").dt.date().alias("__day"))
        for (site_id, day), part in days.group_by("site_id", "__day", maintain_order=True):
            part = part.drop("__day")
            first = part["ts_utc"].min()
            out = batch_dir(self.raw_root, site_id, day)
            out.mkdir(parents=True, exist_ok=True)
            tmp = out / f".tmp-{uuid.uuid4().hex}.partial"
            try:
                part.write_parquet(tmp)
                written.append(self._publish(tmp, out, first))
            finally:
                tmp.unlink(missing_ok=True)
        return written

    def _publish(self, tmp: Path, out: Path, first: datetime) -> Path:
        while True:
            target = out / batch_name(self.writer, first, next(self._seq))
            if self.replace:
                os.replace(tmp, target)
                return target
            try:
                os.link(tmp, target)  # atomic, and fails instead of overwriting
            except FileExistsError:
                continue  # left by an earlier run of this writer (its seq restarted)
            return target
