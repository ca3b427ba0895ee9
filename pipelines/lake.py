"""The lake: partitioned Parquet datasets under one root.

Layout: ``<root>/<dataset>/<entity_col>=<value>/date=<YYYY-MM-DD>/part-0.parquet`` for
daily datasets and ``<root>/<dataset>/<entity_col>=<value>/part-0.parquet`` for small
per-entity ones. Files are self-describing (every column, including the ones in the
path, is stored), so any Parquet reader can glob ``<dataset>/**/*.parquet``.

Every write replaces one whole partition atomically: the frame is conformed to the
contract schema, sorted by the dataset key, checked for duplicate keys and written to a
hidden temporary file in the same folder, which is then renamed over the old file.
The same frame always gives the same bytes. A writer killed mid-write leaves only its
hidden temporary file, which the next write of that partition removes.

The root may be a local folder or an object-store URL (``s3://bucket/lake``): the same
functions serve both through fsspec (:func:`lake_path`). On an object store a partition is
one object written by a single PUT, which is atomic, so no temporary object is needed.
Credentials and the endpoint come from the standard ``AWS_*`` environment variables.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import polars as pl
from upath import UPath

from pipelines.frames import same_key_as_previous, sort_if_needed
from pipelines.schemas import KEYS, SCHEMAS, conform, empty_frame

PART_FILE = "part-0.parquet"
PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 3, "statistics": True}
STALE_TMP_S = 3600.0  # [s] a temporary file this old belongs to a dead writer

# dataset -> (entity column, timestamp column that sets the UTC day, or None)
PARTITIONING: dict[str, tuple[str, str | None]] = {
    "meter_registry": ("site_id", None),
    "meter_readings": ("site_id", "ts_utc"),
    "meter_quarantine": ("source", None),
    "device_telemetry": ("site_id", "ts_utc"),
    "site_energy_hourly": ("site_id", "hour_utc"),
    "grid_generation_mix": ("zone", "ts_utc"),
    "day_ahead_prices": ("zone", "ts_utc"),
    "grid_carbon_intensity_hourly": ("zone", "hour_utc"),
    "grid_wind_solar_forecast": ("zone", "ts_utc"),
    "grid_crossborder_flows": ("zone", "hour_utc"),
    "grid_load": ("zone", "ts_utc"),
    "grid_carbon_intensity_forecast": ("zone", "hour_utc"),
    "go_hourly_matching": ("site_id", "hour_utc"),
    "go_bundles": ("zone", None),
    "go_ledger_events": ("zone", None),
    "scope2_monthly": ("site_id", None),
    "vampire_load_events": ("site_id", "start_utc"),
    "vampire_alerts": ("site_id", "start_utc"),
    "load_forecast": ("site_id", "ts_utc"),
    "pv_forecast": ("site_id", "ts_utc"),
    "data_quality_results": ("dataset_scope", "day_utc"),
    "fleet_vehicles": ("site_id", None),
    "fleet_trips": ("site_id", None),
    "setpoint_plans": ("site_id", "slot_start_utc"),
    "plan_runs": ("site_id", "created_at_utc"),
    "v2g_settlements": ("site_id", None),
    "device_commands": ("site_id", "sent_at_utc"),
    "control_events": ("site_id", "ts_utc"),
}


class DuplicateKeyError(ValueError):
    """A frame handed to the lake holds the same key twice."""


def is_remote(root: str | Path) -> bool:
    """True for an object-store URL such as ``s3://bucket/lake``."""
    text = str(root)
    return "://" in text and not text.startswith("file://")


def lake_path(root: str | Path) -> Path:
    """The lake root as a path: a ``pathlib.Path`` for a local folder, a fsspec-backed
    :class:`upath.UPath` (same interface) for an object-store URL."""
    # other processes write the same bucket: never answer a listing from a cache
    return UPath(root, use_listings_cache=False) if is_remote(root) else Path(root)


def _safe(value: str) -> str:
    bad = set('/\\:*?"<>|') | {"\0"}
    return "".join("_" if ch in bad else ch for ch in str(value))


def partition_dir(root: str | Path, dataset: str, entity: str, day: date | None = None) -> Path:
    """Folder of one partition.

    Parameters
    ----------
    root : str or Path
        Lake root folder.
    dataset : str
        Dataset name, a key of :data:`PARTITIONING`.
    entity : str
        Value of the dataset's entity column (site, zone or source).
    day : date, optional
        UTC day for daily datasets.
    """
    entity_col, ts_col = PARTITIONING[dataset]
    path = lake_path(root) / dataset / f"{entity_col}={_safe(entity)}"
    if ts_col is not None:
        if day is None:
            raise ValueError(f"{dataset} is partitioned by day: pass day=")
        path = path / f"date={day.isoformat()}"
    return path


def write_partition(
    root: str | Path, dataset: str, df: pl.DataFrame, entity: str, day: date | None = None
) -> Path | None:
    """Replace one partition with ``df`` atomically.

    An empty ``df`` removes the partition. Returns the file written, or None.

    Raises
    ------
    DuplicateKeyError
        If two rows share the dataset key.
    ValueError
        If a row belongs to another entity or another UTC day than the partition.
    """
    out_dir = partition_dir(root, dataset, entity, day)
    target = out_dir / PART_FILE
    frame = conform(df, dataset)
    entity_col, ts_col = PARTITIONING[dataset]
    if frame.height:
        bounds = [pl.col(entity_col).min().alias("e0"), pl.col(entity_col).max().alias("e1")]
        if ts_col is not None:
            bounds += [
                pl.col(ts_col).min().dt.date().alias("d0"),
                pl.col(ts_col).max().dt.date().alias("d1"),
            ]
        b = frame.select(bounds).row(0, named=True)
        if (
            b["e0"] != entity
            or b["e1"] != entity
            or (ts_col is not None and not (b["d0"] == b["d1"] == day))
        ):
            raise ValueError(f"{dataset}: rows do not belong to partition {out_dir}: {b}")
    if frame.is_empty():
        target.unlink(missing_ok=True)
        return None
    key = KEYS[dataset]
    frame = sort_if_needed(frame, key)
    dupes = frame.filter(same_key_as_previous(key))
    if dupes.height:
        raise DuplicateKeyError(
            f"{dataset}: {dupes.height} rows share a key {key}: {dupes.head(3)}"
        )
    if is_remote(root):
        with target.open("wb") as out:  # one PUT: the object appears whole or not at all
            frame.write_parquet(out, **PARQUET_OPTIONS)
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    sweep_dead_writers(out_dir)
    tmp = out_dir / f".tmp-{os.getpid()}-{uuid.uuid4().hex}.partial"
    try:
        frame.write_parquet(tmp, **PARQUET_OPTIONS)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def sweep_dead_writers(folder: Path, max_age_s: float = STALE_TMP_S) -> list[Path]:
    """Remove temporary files left in ``folder`` by writers that died mid-write.

    A temporary file is left behind when a writer is killed before its rename. It is never
    visible to readers (they look for :data:`PART_FILE` only); it is removed when its
    writer's process no longer exists on this host, or after ``max_age_s`` [s] (a writer on
    another host sharing the folder).
    """
    removed = []
    for tmp in folder.glob(".tmp-*.partial"):
        pid = tmp.name.split("-")[1]
        try:
            stale = not pid.isdigit() or not _alive(int(pid))
            stale = stale or time.time() - tmp.stat().st_mtime > max_age_s
        except FileNotFoundError:  # its writer renamed it meanwhile
            continue
        if stale:
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def write_days(
    root: str | Path,
    dataset: str,
    df: pl.DataFrame,
    entities: Iterable[str],
    days: Iterable[date],
) -> list[Path]:
    """Replace every (entity, day) partition of a window with the rows of ``df``.

    Partitions in the window with no rows are removed, so a re-run over a window
    never leaves stale rows behind.
    """
    entity_col, ts_col = PARTITIONING[dataset]
    if ts_col is None:
        raise ValueError(f"{dataset} is not partitioned by day")
    frame = df.with_columns(pl.col(ts_col).dt.date().alias("__day"))
    groups = {
        (ent, d): part.drop("__day")
        for (ent, d), part in frame.group_by([entity_col, "__day"], maintain_order=True)
    }
    written = []
    for ent in entities:
        for d in days:
            part = groups.pop((ent, d), empty_frame(dataset))
            path = write_partition(root, dataset, part, ent, d)
            if path is not None:
                written.append(path)
    if groups:
        outside = sorted(groups)[:3]
        raise ValueError(f"{dataset}: rows outside the window being written, e.g. {outside}")
    return written


def merge_days(root: str | Path, dataset: str, df: pl.DataFrame) -> list[Path]:
    """Add or replace ``df``'s rows (by the dataset key) in the partitions they fall in.

    Unlike :func:`write_days` other rows of those partitions stay: for datasets such as
    forecasts or plans, where runs issued at different times share UTC days. A dataset
    not partitioned by day has one partition per entity.
    """
    entity_col, ts_col = PARTITIONING[dataset]
    day = pl.col(ts_col).dt.date() if ts_col is not None else pl.lit(None, pl.Date)
    frame = conform(df, dataset).with_columns(day.alias("__day"))
    written = []
    for (ent, d), part in frame.group_by([entity_col, "__day"], maintain_order=True):
        new = part.drop("__day")
        old = read_partition(root, dataset, ent, d)
        merged = pl.concat([old.join(new, on=KEYS[dataset], how="anti"), conform(new, dataset)])
        path = write_partition(root, dataset, merged, ent, d)
        if path is not None:
            written.append(path)
    return written


def read_partition(
    root: str | Path, dataset: str, entity: str, day: date | None = None
) -> pl.DataFrame:
    """Read one partition; an absent partition reads as an empty frame."""
    target = partition_dir(root, dataset, entity, day) / PART_FILE
    if not target.exists():
        return empty_frame(dataset)
    return read_files([target], dataset)


def dataset_files(root: str | Path, dataset: str) -> list[Path]:
    """All partition files of a dataset, sorted."""
    return sorted((lake_path(root) / dataset).glob(f"**/{PART_FILE}"))


def dataset_glob(root: str | Path, dataset: str) -> str:
    """Glob that matches every partition file of ``dataset`` (for DuckDB or Polars)."""
    return str(lake_path(root) / dataset / "**" / PART_FILE)


def scan(root: str | Path, dataset: str) -> pl.LazyFrame:
    """Lazily scan a whole dataset; an absent dataset scans as an empty frame."""
    return scan_files(dataset_files(root, dataset), dataset)


def scan_files(files: list[Path], dataset: str) -> pl.LazyFrame:
    """Lazily scan partition files of ``dataset`` (none scan as an empty frame).

    Local files are scanned by Polars itself; object-store files are fetched through
    fsspec, then scanned in memory.
    """
    if not files:
        return empty_frame(dataset).lazy()
    if not isinstance(files[0], Path):  # an object-store path (a UPath)
        return read_files(files, dataset).lazy()
    return pl.scan_parquet(files, schema=SCHEMAS[dataset])


def read_files(files: list[Path], dataset: str) -> pl.DataFrame:
    """Read partition files of ``dataset`` into one frame with the contract schema."""
    if not files:
        return empty_frame(dataset)
    if not isinstance(files[0], Path):  # an object-store path (a UPath)
        frames = []
        for f in files:
            with f.open("rb") as handle:
                frames.append(pl.read_parquet(handle, schema=SCHEMAS[dataset]))
        return pl.concat(frames, how="vertical")
    return pl.read_parquet(files, schema=SCHEMAS[dataset])


def window_files(
    root: str | Path, dataset: str, start: date, end: date, entities: Iterable[str] | None = None
) -> list[Path]:
    """Partition files of a daily dataset for UTC days ``start <= day < end``."""
    files = []
    ents = set(entities) if entities is not None else None
    for f in dataset_files(root, dataset):
        ent = f.parent.parent.name.split("=", 1)[1]
        d = date.fromisoformat(f.parent.name.split("=", 1)[1])
        if start <= d < end and (ents is None or ent in ents):
            files.append(f)
    return files


def read_window(
    root: str | Path, dataset: str, start: date, end: date, entities: Iterable[str] | None = None
) -> pl.DataFrame:
    """Rows of a daily dataset for UTC days ``start <= day < end``."""
    return read_files(window_files(root, dataset, start, end, entities), dataset)
