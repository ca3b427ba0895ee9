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
from datetime import date
from pathlib import Path

import polars as pl

from pipelines.schemas import SCHEMAS

TELEMETRY_SCHEMA = SCHEMAS["device_telemetry"]


def batch_dir(raw_root: str | Path, site_id: str, day: date) -> Path:
    """Folder of the batch files of one site and UTC day."""
    return Path(raw_root) / "telemetry" / site_id / day.isoformat()


def batch_files(raw_root: str | Path, site_id: str, day: date) -> list[Path]:
    """Every complete batch file of one site and UTC day, in name order."""
    return sorted(batch_dir(raw_root, site_id, day).glob("*.parquet"))


class TelemetryBatchWriter:
    """Writes batches of readings for one writer (one adapter instance).

    Parameters
    ----------
    raw_root : str or Path
        The raw landing root (``NOVAENERGY_RAW_ROOT``).
    writer : str
        Name unique to this writer, e.g. ``mqtt-warehouse-b``; part of every file name.
    """

    def __init__(self, raw_root: str | Path, writer: str) -> None:
        self.raw_root = Path(raw_root)
        self.writer = writer
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
            name = f"{self.writer}-{first:%Y%m%dT%H%M%S%fZ}-{next(self._seq):06d}.parquet"
            tmp = out / f".tmp-{uuid.uuid4().hex}.partial"
            try:
                part.write_parquet(tmp)
                os.replace(tmp, out / name)
            finally:
                tmp.unlink(missing_ok=True)
            written.append(out / name)
        return written
