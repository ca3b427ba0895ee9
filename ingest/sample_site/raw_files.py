"""Write the sample site as raw source files, one set per UTC day (layout in
:mod:`ingest.raw_files`). Writes are atomic and byte-stable."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from ingest import raw_files
from ingest.sample_site.generate import SampleSite
from ingest.telemetry_landing import TelemetryBatchWriter


def _atomic(path: Path, write) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".tmp-{uuid.uuid4().hex}.partial"
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _csv(frame: pl.DataFrame):
    return lambda p: frame.write_csv(p, datetime_format="%Y-%m-%dT%H:%M:%SZ", float_precision=1)


def _parquet(frame: pl.DataFrame):
    return lambda p: frame.write_parquet(p, compression="zstd", compression_level=3)


def _day(frame: pl.DataFrame, col: str, day: date) -> pl.DataFrame:
    return frame.filter(pl.col(col).dt.date() == day)


def write_raw(
    site: SampleSite, raw_root: str | Path, days: Iterable[date] | None = None
) -> list[Path]:
    """Write meter exports, telemetry batches and grid files for ``days`` (default: the
    whole period), plus the fleet and the vampire labels. Returns the paths written."""
    cfg = site.config
    if days is None:
        days = [cfg.start + timedelta(days=i) for i in range((cfg.end - cfg.start).days)]
    grid = {
        "mix": site.grid_mix,
        "prices": site.day_ahead_prices,
        "wind_solar_forecast": site.wind_solar_forecast,
        "load": site.grid_load,
    }
    written = []
    for day in days:
        if not (cfg.start <= day < cfg.end):
            continue
        meters = _day(site.meter_readings, "ts_utc", day).select("meter_id", "ts_utc", "energy_wh")
        written.append(_atomic(raw_files.meter_file(raw_root, cfg.site_id, day), _csv(meters)))
        # the same landing path as the protocol adapters: one batch per day, whose name
        # (first reading at midnight, batch 0) is raw_files.telemetry_file, so a rewrite
        # replaces it with the same bytes
        telemetry = _day(site.telemetry, "ts_utc", day)
        writer = TelemetryBatchWriter(raw_root, raw_files.SAMPLE_TELEMETRY_WRITER, replace=True)
        written.extend(writer.write(telemetry))
        for kind, frame in grid.items():
            path = raw_files.grid_file(raw_root, cfg.zone, day, kind)
            written.append(_atomic(path, _parquet(_day(frame, "ts_utc", day))))
    for kind, frame in {"vehicles": site.fleet_vehicles, "trips": site.fleet_trips}.items():
        written.append(_atomic(raw_files.fleet_file(raw_root, cfg.site_id, kind), _parquet(frame)))
    labels = Path(raw_root) / "labels" / cfg.site_id / "vampire_events.parquet"
    written.append(_atomic(labels, _parquet(site.vampire_labels)))
    return written
