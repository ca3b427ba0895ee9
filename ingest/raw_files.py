"""Where raw source files land, and readers for the ones that are not meter exports.

Layout under the raw root (the sample site writes it; a real site's collectors would):
``meters/<site_id>/<YYYY-MM-DD>.csv``, ``telemetry/<site_id>/<YYYY-MM-DD>/*.parquet``
(append-only batch files, see :mod:`ingest.telemetry_landing`),
``grid/<zone>/<YYYY-MM-DD>_mix.parquet``, ``grid/<zone>/<YYYY-MM-DD>_prices.parquet``,
``fleet/<site_id>/vehicles.parquet`` and ``fleet/<site_id>/trips.parquet``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from pathlib import Path

import polars as pl

from ingest.telemetry_landing import batch_dir, batch_name


class RawFileError(ValueError):
    """A raw source file is missing or unreadable."""


def meter_file(raw_root: str | Path, site_id: str, day: date) -> Path:
    return Path(raw_root) / "meters" / site_id / f"{day.isoformat()}.csv"


#: Writer name of the sample-site generator's telemetry batches.
SAMPLE_TELEMETRY_WRITER = "sample-site"


def telemetry_file(raw_root: str | Path, site_id: str, day: date) -> Path:
    """The sample site's telemetry batch of ``day``: one batch per day, its first reading
    at midnight UTC; other writers add their own batch files beside it."""
    first = datetime.combine(day, time(), tzinfo=UTC)
    return batch_dir(raw_root, site_id, day) / batch_name(SAMPLE_TELEMETRY_WRITER, first, 0)


def grid_file(raw_root: str | Path, zone: str, day: date, kind: str) -> Path:
    return Path(raw_root) / "grid" / zone / f"{day.isoformat()}_{kind}.parquet"


def fleet_file(raw_root: str | Path, site_id: str, kind: str) -> Path:
    return Path(raw_root) / "fleet" / site_id / f"{kind}.parquet"


def read_parquet_files(paths: Iterable[Path]) -> pl.DataFrame:
    """Read and concatenate raw Parquet files; a missing or corrupt one raises
    :class:`RawFileError` naming it."""
    frames = []
    for path in paths:
        if not path.exists():
            raise RawFileError(
                f"{path}: raw file missing; materialize sample_site_raw for that day first"
            )
        try:
            frames.append(pl.read_parquet(path))
        except Exception as exc:  # polars raises several types for corrupt files
            raise RawFileError(f"{path}: not a readable Parquet file ({exc})") from exc
    return pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame()
