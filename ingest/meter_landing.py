"""Land a meter export in the lake: validate, quarantine, merge, count.

The one path every meter file takes: the CLI (``novaenergy ingest meters``), the
drop-folder sensor and the sample site's daily asset all call :func:`land_meter_file`.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import polars as pl

from ingest.meter_files import read_meter_export
from pipelines import lake
from pipelines.meters import merge_readings, validate_meter_rows
from pipelines.schemas import SCHEMAS

CONFLICT_REASON = "conflicts with stored reading"


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
    with the other rejected rows, under this source.
    """
    batch = validate_meter_rows(raw, registry, ingested_at_utc=now, timezone=timezone)
    accepted = batch.accepted.with_columns(pl.col("ts_utc").dt.date().alias("__day"))
    quarantine = [batch.quarantined.with_columns(pl.lit(source).alias("source"))]
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
        rows_in=batch.rows_in,
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
    path: str | Path, lake_root: str | Path, timezone: str, now: datetime
) -> LandingReport:
    """Read a CSV or Parquet meter export and land it; see :func:`land_meter_rows`.

    Raises
    ------
    ingest.meter_files.MeterFileError
        If the file is corrupt or lacks required columns (names the file and row).
    """
    registry = lake.scan(lake_root, "meter_registry").collect()
    raw = read_meter_export(path)
    return land_meter_rows(raw, source_name(path), lake_root, registry, timezone, now)
