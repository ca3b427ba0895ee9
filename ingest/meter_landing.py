"""Land a meter export in the lake: validate, quarantine, merge, count.

The one path every meter file takes: the CLI (``novaenergy ingest meters``), the
drop-folder sensor and the sample site's daily asset all call :func:`land_meter_file`.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from ingest.meter_files import read_meter_export
from pipelines import lake
from pipelines.meters import MeterBatch, merge_readings, validate_meter_rows
from pipelines.meters.parse import parse_ts_local, parse_ts_utc
from pipelines.schemas import SCHEMAS

CONFLICT_REASON = "conflicts with stored reading"
OUT_OF_RANGE_REASON = "timestamp out of range"

#: Readings must start in ``[EARLIEST_READING_UTC, LATEST_READING_UTC)`` [UTC]. A time
#: outside is a broken meter clock or export, and a year before 1 or after 9999 cannot
#: even name a lake partition.
EARLIEST_READING_UTC = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_READING_UTC = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class LandingReport:
    """Counts of one landed file:
    ``rows_in + spread_intervals_added == accepted + quarantined + duplicates_ignored``.

    A cumulative difference over k intervals becomes k ``estimated_spread`` readings
    from one input row; ``spread_intervals_added`` counts the extra k − 1, so without
    cumulative gaps it is 0 and every input row is accounted for exactly once.
    """

    source: str
    rows_in: int
    accepted: int
    quarantined: int
    duplicates_ignored: int
    spread_intervals_added: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)
    partitions: tuple[tuple[str, date], ...] = ()

    def summary(self) -> str:
        lines = [
            f"{self.source}: {self.rows_in} rows in, {self.accepted} accepted, "
            f"{self.quarantined} quarantined, {self.duplicates_ignored} duplicates ignored"
            + (
                f" ({self.spread_intervals_added} more intervals estimated from spread register differences)"
                if self.spread_intervals_added
                else ""
            )
        ]
        lines += [f"  quarantined {n:>6} x {reason}" for reason, n in sorted(self.reasons.items())]
        return "\n".join(lines)


def source_name(path: str | Path) -> str:
    """A file's source id: its name plus a short content hash, so a re-sent file
    replaces its own quarantine records and two different files never collide."""
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]
    return f"{Path(path).name}#{digest}"


REASON_FAMILIES = (
    "unparseable timestamp",
    "nonexistent local time",
    "unknown meter",
    "non-numeric value",
    "unknown unit",
    "unknown register type",
    "conflicting duplicate",
    CONFLICT_REASON,
    "cumulative baseline",
    "missing meter_id",
    "ambiguous meter",
    "invalid interval_s",
    "negative register reading",
    "mixed register types",
    "irregular cumulative reading",
    "negative energy",
    "exceeds meter capacity",
    OUT_OF_RANGE_REASON,
)


def _reason_family(reason: str) -> str:
    """Group reasons for counting: 'unknown meter m-7' -> 'unknown meter'."""
    return next((family for family in REASON_FAMILIES if reason.startswith(family)), reason)


def _day_partitions(accepted: pl.DataFrame):
    """Yield ((site_id, UTC day), rows) with each partition's rows in key order.

    A stable sort on the day alone keeps the (site, meter, time) order inside each day
    and is far cheaper than grouping on (site, day) over a large export.
    """
    by_day = accepted.sort("__day", maintain_order=True)
    offset = 0
    for length, day in by_day.select(pl.col("__day").rle()).unnest("__day").iter_rows():
        block = by_day.slice(offset, length).drop("__day")
        offset += length
        sites = block["site_id"].unique(maintain_order=True)
        if sites.len() == 1:
            yield (sites[0], day), block
        else:
            for site_id in sites:
                yield (site_id, day), block.filter(pl.col("site_id") == site_id)


def _outside_window(accepted: pl.DataFrame) -> bool:
    """Whether an accepted reading starts outside the window (compared as integers [us],
    since a year before 1 has no Python datetime)."""
    if accepted.is_empty():
        return False
    ts_us = accepted["ts_utc"].to_physical()
    lo, hi = (int(t.timestamp() * 1_000_000) for t in (EARLIEST_READING_UTC, LATEST_READING_UTC))
    return ts_us.min() < lo or ts_us.max() >= hi  # type: ignore[operator]


def _out_of_range(raw: pl.DataFrame) -> pl.Series:
    """Rows whose timestamp reads as an instant outside the window; unreadable ones are
    left to validation. A ``ts_local`` time, whose UTC offset is known only after
    validation, must lie a day inside the window, so its instant surely does."""
    if "ts_utc" in raw.columns:
        ts, margin = parse_ts_utc(raw["ts_utc"]), timedelta(0)
    else:
        ts, margin = parse_ts_local(raw["ts_local"]).dt.replace_time_zone("UTC"), timedelta(days=1)
    earliest, latest = EARLIEST_READING_UTC + margin, LATEST_READING_UTC - margin
    return ((ts < earliest) | (ts >= latest)).fill_null(False)


def _quarantine_rows(raw: pl.DataFrame, reason: pl.Expr, now: datetime) -> pl.DataFrame:
    """``meter_quarantine`` rows (without ``source``) for raw rows, as validation writes
    them: the row's input columns as JSON text."""
    inputs = [c for c in raw.columns if c not in ("row_number", "source")]
    return raw.select(
        pl.col("row_number").cast(pl.Int64),
        pl.struct(pl.col(inputs).cast(pl.String)).struct.json_encode().alias("raw_row"),
        reason.alias("reason"),
        pl.lit(now).cast(SCHEMAS["meter_quarantine"]["ingested_at_utc"]).alias("ingested_at_utc"),
    )


def _validate(
    raw: pl.DataFrame, registry: pl.DataFrame, timezone: str, now: datetime
) -> tuple[MeterBatch, pl.DataFrame]:
    """Validate the rows; rows dated outside the window are quarantined instead.

    Returns the :class:`~pipelines.meters.MeterBatch` of the rows inside the window and
    the quarantine rows (without ``source``) of those outside it. ``ts_utc`` times are
    checked on the accepted readings (cheap), and parsed again only when one is outside;
    ``ts_local`` times before validation, whose time-zone step fails on a year outside
    1 to 9999.
    """

    def validate(rows: pl.DataFrame) -> MeterBatch:
        return validate_meter_rows(rows, registry, ingested_at_utc=now, timezone=timezone)

    empty = pl.DataFrame(schema=SCHEMAS["meter_quarantine"]).drop("source")
    column = "ts_utc" if "ts_utc" in raw.columns else "ts_local"
    batch = validate(raw) if column == "ts_utc" else None
    if batch is not None and not _outside_window(batch.accepted):
        return batch, empty
    outside = _out_of_range(raw)
    if not outside.any():
        return (batch if batch is not None else validate(raw)), empty
    if "row_number" not in raw.columns:  # keep each row's number when rows are removed
        raw = raw.with_row_index("row_number", offset=1)
    reason = pl.format(
        f"{OUT_OF_RANGE_REASON} ({EARLIEST_READING_UTC.year} to "
        f"{LATEST_READING_UTC.year - 1}): '{{}}'",
        pl.col(column).cast(pl.String),
    )
    return validate(raw.filter(~outside)), _quarantine_rows(raw.filter(outside), reason, now)


def land_meter_rows(
    raw: pl.DataFrame,
    source: str,
    lake_root: str | Path,
    registry: pl.DataFrame,
    timezone: str,
    now: datetime,
) -> LandingReport:
    """Validate raw export rows and merge the accepted ones into ``meter_readings``.

    Each touched (site, UTC day) partition is read, merged with the new rows and
    replaced atomically. Rows that conflict with a stored reading go to quarantine
    with the other rejected rows, under this source, and so do rows dated outside
    ``[EARLIEST_READING_UTC, LATEST_READING_UTC)`` (reason ``timestamp out of range``).
    """
    batch, out_of_range = _validate(raw, registry, timezone, now)
    accepted = batch.accepted.with_columns(pl.col("ts_utc").dt.date().alias("__day"))
    quarantine = [
        q.with_columns(pl.lit(source).alias("source")) for q in (out_of_range, batch.quarantined)
    ]
    merge_dupes = 0
    accepted_n = 0
    partitions = []
    for (site_id, day), part in _day_partitions(accepted):
        existing = lake.read_partition(lake_root, "meter_readings", site_id, day)
        result = merge_readings(existing, part)
        merge_dupes += result.duplicates_ignored
        accepted_n += part.height - result.duplicates_ignored - result.conflicts.height
        if result.conflicts.height:
            quarantine.append(
                result.conflicts.select(
                    pl.lit(source).alias("source"),
                    pl.lit(None, dtype=pl.Int64).alias("row_number"),
                    pl.struct(pl.all().cast(pl.String))
                    .map_elements(lambda r: json.dumps(r, sort_keys=True), return_dtype=pl.String)
                    .alias("raw_row"),
                    pl.lit(CONFLICT_REASON).alias("reason"),
                    pl.lit(now)
                    .cast(SCHEMAS["meter_quarantine"]["ingested_at_utc"])
                    .alias("ingested_at_utc"),
                )
            )
        lake.write_partition(lake_root, "meter_readings", result.merged, site_id, day)
        partitions.append((site_id, day))
    quarantined = pl.concat(
        [
            q.select(list(SCHEMAS["meter_quarantine"])).cast(SCHEMAS["meter_quarantine"])
            for q in quarantine
        ]
    ).unique(maintain_order=True)
    lake.write_partition(lake_root, "meter_quarantine", quarantined, source)
    report = LandingReport(
        source=source,
        rows_in=batch.rows_in + out_of_range.height,
        accepted=accepted_n,
        quarantined=quarantined.height,
        duplicates_ignored=batch.duplicates_ignored + merge_dupes,
        spread_intervals_added=batch.stats.get("spread_intervals_added", 0),
        reasons=dict(Counter(_reason_family(r) for r in quarantined["reason"].to_list())),
        stats=dict(batch.stats),
        partitions=tuple(partitions),
    )
    landed = report.accepted + report.quarantined + report.duplicates_ignored
    if report.rows_in + report.spread_intervals_added != landed:
        raise AssertionError(f"count mismatch landing {source}: {report}")
    return report


def land_meter_file(
    path: str | Path,
    lake_root: str | Path,
    timezone: str,
    now: datetime,
    site_id: str | None = None,
) -> LandingReport:
    """Read a CSV or Parquet meter export and land it; see :func:`land_meter_rows`.

    ``site_id`` names the site whose export it is: its rows are then matched against
    that site's meters only (sites of a portfolio may share meter ids). Without it, a
    meter id registered at several sites needs a ``site_id`` column in the file.

    Raises
    ------
    ingest.meter_files.MeterFileError
        If the file is corrupt or lacks required columns (names the file and row).
    """
    registry = lake.scan(lake_root, "meter_registry")
    if site_id is not None:
        registry = registry.filter(pl.col("site_id") == site_id)
    registry = registry.collect()
    raw = read_meter_export(path)
    return land_meter_rows(raw, source_name(path), lake_root, registry, timezone, now)
