"""Validate the rows of a meter export into readings, quarantined rows and duplicates.

Every row that comes in leaves as exactly one of: accepted (it produced one or more
readings), quarantined (with a reason), or an ignored exact duplicate.
:func:`validate_meter_rows` asserts that count before it returns.

Rules, in the order they are applied; a row gets the first reason that fits:

1. Row by row: ``unparseable timestamp '...'``; ``nonexistent local time '...' in
   <zone>`` (the skipped hour of the spring change); ``missing meter_id``, ``unknown
   meter <id>`` (``... at site <site>`` when the export names the site), ``ambiguous
   meter <id>`` (registered at several sites and the export has no site_id);
   ``non-numeric value '...'``; ``unknown unit '...'``; ``invalid interval_s '...'``;
   ``unknown register type '...'``; ``negative energy -3.0 Wh`` (``negative register
   reading`` for cumulative rows).
2. ``mixed register types (interval and cumulative) for meter <id>``: every row of a
   meter that has both kinds of rows in one export.
3. Duplicates: rows with the same site, meter and interval start. Exact copies (same
   energy, interval_s and register type) are ignored after the first; if the copies
   differ, every copy is quarantined as ``conflicting duplicate``.
4. Cumulative registers (see :mod:`pipelines.meters.cumulative`): the first reading of a
   meter is quarantined as ``cumulative baseline (no previous reading)``; a reading
   whose distance to the previous one is not a whole number of intervals as
   ``irregular cumulative reading ...``; one more than 35 days after it as
   ``cumulative reading ... days after the previous one ...`` (it becomes the
   baseline of the next reading).
5. ``exceeds meter capacity: ...``: energy above max_power_w × interval × 1.1.

Out-of-order rows are counted and sorted (one sort, only when needed). The repeated hour
of the autumn change in ``ts_local`` exports is resolved per meter by order of
appearance: the first occurrence is summer time, the second winter time. Gaps in
interval registers are counted and never filled; a cumulative difference spanning k
intervals is spread evenly over them (quality ``estimated_spread``).

Choices
-------
- The first reading of each cumulative meter (its *baseline*) goes to quarantine with
  the reason above instead of being accepted with a special quality: it carries no
  energy of its own, and a zero or null ``energy_wh`` row in ``meter_readings`` would
  be summed, and counted as a present interval, by every hourly rollup. The raw row
  stays in quarantine. Cumulative exports sent day by day should therefore repeat the
  previous day's last reading as their first row: that reading is the baseline and no
  interval is lost.
- The count ``rows_in == rows_accepted + len(quarantined) + duplicates_ignored`` is in
  input rows. ``rows_accepted`` is ``len(accepted)`` less ``stats["spread_intervals_added"]``,
  the readings added by spreading; without spreading the two are equal.
- A cumulative reading's energy is stamped with the start of the interval it closes
  (the previous reading's time), like every row of ``meter_readings``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import polars as pl

from pipelines.meters import parse
from pipelines.meters.cumulative import register_differences
from pipelines.meters.registry import MeterLookup, lookup_meters, run_starts
from pipelines.schemas import SCHEMAS

UTC_TS = pl.Datetime("us", "UTC")

#: Readings may exceed max_power_w × interval by this factor before quarantine.
CAPACITY_MARGIN = 1.1
# Longest span a cumulative difference is spread over [s]: a month's manual reading and
# some delay, not a meter silent for a season or a clock reset to 1970.
MAX_SPREAD_S = 35 * 86_400

BASELINE_REASON = "cumulative baseline (no previous reading)"
CONFLICT_REASON = "conflicting duplicate"

#: Counters in :attr:`MeterBatch.stats`; every key is always present.
STAT_KEYS = (
    "out_of_order",
    "dst_ambiguous_resolved",
    "nonexistent_local_times",
    "unit_converted",
    "conflicting_duplicates",
    "register_baselines",
    "register_rollovers",
    "register_resets",
    "estimated_spread",
    "spread_intervals_added",
    "gaps",
)

VALUE_COLUMNS = ("energy_wh", "energy_kwh", "value")
META_COLUMNS = ("row_number", "source")


@dataclass(frozen=True)
class MeterBatch:
    """Outcome of validating one batch of export rows.

    Attributes
    ----------
    accepted : pl.DataFrame
        ``meter_readings`` rows: site_id, meter_id, ts_utc (interval start, UTC),
        interval_s [s], energy_wh [Wh], quality; sorted by site_id, meter_id, ts_utc,
        unique on those three.
    quarantined : pl.DataFrame
        ``meter_quarantine`` rows: source, row_number, raw_row (the input row as JSON
        of its columns as text), reason, ingested_at_utc; in input order.
    duplicates_ignored : int
        Exact copies of another row of the batch.
    rows_in : int
        Input rows.
    stats : dict of str to int
        Counters, keys :data:`STAT_KEYS`. ``gaps`` counts missing intervals between
        consecutive accepted readings of a meter; ``spread_intervals_added`` counts
        readings added by spreading cumulative differences over gaps.
    """

    accepted: pl.DataFrame
    quarantined: pl.DataFrame
    duplicates_ignored: int
    rows_in: int
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def rows_accepted(self) -> int:
        """Input rows behind the accepted readings.

        ``rows_in == rows_accepted + len(quarantined) + duplicates_ignored``. It equals
        ``len(accepted)`` unless cumulative differences were spread over gaps.
        """
        return self.accepted.height - self.stats.get("spread_intervals_added", 0)


@dataclass
class _Ledger:
    """Where rows went: rejected positions with reasons, duplicates, counters."""

    rejected: list[pl.DataFrame] = field(default_factory=list)
    duplicates_ignored: int = 0
    stats: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STAT_KEYS, 0))

    def reject(self, rows: pl.DataFrame, reason: pl.Expr | str) -> None:
        """Quarantine the ``__i`` positions of ``rows`` with ``reason`` (one per row)."""
        if rows.height:
            reason_expr = pl.lit(reason) if isinstance(reason, str) else reason
            # rechunked: pl.format panicked on a two-chunk Float64 column (polars 2.1.0)
            rows = rows.rechunk()
            self.rejected.append(rows.select("__i", reason_expr.cast(pl.String).alias("reason")))


def _with_positions(work: pl.DataFrame) -> pl.DataFrame:
    """Add ``__i`` (position in the export) before the first filter or sort.

    Until rows are dropped or moved, a row's position is its index, so the column is
    made only when needed.
    """
    if "__i" in work.columns:
        return work
    return work.with_columns(pl.int_range(0, work.height, dtype=pl.UInt32, eager=True).alias("__i"))


def _keep(work: pl.DataFrame, mask: pl.Series | pl.Expr) -> pl.DataFrame:
    return _with_positions(work).filter(mask)


def _shown(expr: pl.Expr) -> pl.Expr:
    """A raw value for a message: ``'12,5'``, or ``(missing)``."""
    return pl.format("'{}'", expr.cast(pl.String)).fill_null("(missing)")


def _columns(raw: pl.DataFrame) -> tuple[str, str]:
    """The export's timestamp and value columns; ValueError if it has none."""
    ts_col = next((c for c in ("ts_utc", "ts_local") if c in raw.columns), None)
    value_col = next((c for c in VALUE_COLUMNS if c in raw.columns), None)
    missing = [
        name
        for name, ok in [
            ("meter_id", "meter_id" in raw.columns),
            ("ts_utc or ts_local", ts_col),
            ("energy_wh, energy_kwh or value with unit", value_col),
            ("unit (with value)", value_col != "value" or "unit" in raw.columns),
        ]
        if not ok
    ]
    if missing:
        raise ValueError(f"meter rows lack column(s): {'; '.join(missing)}")
    return ts_col, value_col  # type: ignore[return-value]


def _timestamps(
    raw: pl.DataFrame, ts_col: str, lookup: MeterLookup, timezone: str, stats: dict[str, int]
) -> tuple[pl.Series, pl.Series | None]:
    """UTC interval starts (null if unreadable) and a flag of nonexistent local times."""
    if ts_col == "ts_utc":
        return parse.parse_ts_utc(raw["ts_utc"]), None
    naive = parse.parse_ts_local(raw["ts_local"])
    earliest, latest = parse.localize(naive, timezone)
    ambiguous = (earliest != latest).fill_null(False)
    if ambiguous.any():
        rows = ambiguous.arg_true()
        # per meter (its registry key, else its run of rows), in order of appearance
        meter = lookup.row_key.gather(rows).cast(pl.Int64)
        meter = meter.fill_null(-1 - lookup.run_id.gather(rows).cast(pl.Int64))
        chosen = pl.DataFrame(
            {"meter": meter, "t": naive.gather(rows), "e": earliest.gather(rows)}
        ).select(
            pl.when(pl.int_range(pl.len()).over("meter", "t") == 0)
            .then(pl.col("e"))
            .otherwise(pl.lit(latest.gather(rows)))
        )
        earliest = earliest.scatter(rows, chosen.to_series())
    stats["dst_ambiguous_resolved"] = int(ambiguous.sum())
    nonexistent = naive.is_not_null() & earliest.is_null()
    stats["nonexistent_local_times"] = int(nonexistent.sum())
    return earliest, nonexistent


def _energy_wh(
    raw: pl.DataFrame, value_col: str, stats: dict[str, int]
) -> tuple[pl.Series, pl.Series, pl.Series | None]:
    """Value [Wh] of each row (null if unreadable), the number, and the unit factor."""
    number = parse.parse_number(raw[value_col])
    if value_col == "energy_wh":
        return number, number, None
    if value_col == "energy_kwh":
        stats["unit_converted"] = number.len() - number.null_count()
        return number * 1_000.0, number, None
    factor = parse.parse_unit_factor(raw["unit"])
    wh = number * factor
    stats["unit_converted"] = int((wh.is_not_null() & (factor != 1.0)).sum())
    return wh, number, factor


def _row_reasons(raw: pl.DataFrame, ts_col: str, value_col: str, timezone: str) -> list:
    """(flag, reason) of the row rules in order; the reasons read the gathered rows."""
    text = {c: _shown(pl.col(c)) for c in raw.columns}
    absent = pl.lit("")
    return [
        ("__f_ts", pl.format("unparseable timestamp {}", text[ts_col])),
        (
            "__f_nonexistent",
            pl.format("nonexistent local time {} in {}", text[ts_col], pl.lit(timezone)),
        ),
        ("__f_meter", pl.col("__problem")),
        ("__f_value", pl.format("non-numeric value {}", text[value_col])),
        ("__f_unit", pl.format("unknown unit {}", text.get("unit", absent))),
        (
            "__f_interval",
            pl.format(
                "invalid interval_s {}: not a whole number of seconds that divides 3600",
                text.get("interval_s", absent),
            ),
        ),
        (
            "__f_register",
            pl.format(
                "unknown register type {}: interval or cumulative", text.get("register", absent)
            ),
        ),
        (
            "__f_negative",
            pl.when(pl.col("__cum"))
            .then(pl.format("negative register reading {} Wh", pl.col("__wh")))
            .otherwise(pl.format("negative energy {} Wh", pl.col("__wh"))),
        ),
    ]


def _null_flag(values: pl.Series) -> pl.Series | None:
    """Flag of null values, or None when there are none (null counts are free)."""
    return values.is_null() if values.null_count() else None


def _reject_rows(
    raw: pl.DataFrame,
    flags: dict[str, pl.Series],
    rows: pl.Series,
    extra: dict[str, pl.Series],
    reasons: list,
    ledger: _Ledger,
) -> None:
    """Quarantine the flagged ``rows`` (positions); the first flag's reason wins."""
    gathered = pl.concat(
        [
            raw.select(pl.all().gather(rows)),
            pl.DataFrame({k: v.gather(rows) for k, v in flags.items()}),
            pl.DataFrame({**extra, "__i": rows.cast(pl.UInt32)}),
        ],
        how="horizontal",
    )
    reason = pl.lit(None, dtype=pl.String)
    for flag, message in reversed(reasons):
        if flag in flags:
            reason = pl.when(pl.col(flag)).then(message).otherwise(reason)
    ledger.reject(gathered, reason)


def _parse_rows(
    raw: pl.DataFrame, registry: pl.DataFrame, timezone: str, ledger: _Ledger
) -> tuple[pl.DataFrame, MeterLookup]:
    """Typed working rows of the export; rows that fail a row rule are quarantined.

    The working frame has ``__mk`` (meter key), ``ts_utc``, ``__wh`` [Wh],
    ``interval_s`` [s], ``__cum`` (if the export has a register column), ``meter_id``
    (when the ids need no cleaning) and, once rows were dropped, ``__i``.
    """
    ts_col, value_col = _columns(raw)
    site = raw["site_id"] if "site_id" in raw.columns else None
    lookup = lookup_meters(raw["meter_id"], site, registry)
    ts, nonexistent = _timestamps(raw, ts_col, lookup, timezone, ledger.stats)
    wh, number, factor = _energy_wh(raw, value_col, ledger.stats)
    columns = {"__mk": lookup.row_key, "ts_utc": ts, "__wh": wh}
    flags = {
        "__f_ts": _null_flag(ts) if nonexistent is None else ts.is_null() & ~nonexistent,
        "__f_nonexistent": nonexistent,
        "__f_meter": _null_flag(lookup.row_key),
        "__f_value": _null_flag(number),
        "__f_unit": None if factor is None else _null_flag(factor),
    }
    if "interval_s" in raw.columns:
        columns["interval_s"], flags["__f_interval"] = parse.parse_interval_s(raw["interval_s"])
    if "register" in raw.columns:
        columns["__cum"], flags["__f_register"] = parse.parse_register(raw["register"])
    flags["__f_negative"] = (wh < 0).fill_null(False)
    flags = {k: v for k, v in flags.items() if v is not None and v.any()}
    work = pl.DataFrame([v.alias(k) for k, v in columns.items()])
    if "interval_s" not in work.columns:  # one value: a scalar column, no memory per row
        work = work.with_columns(
            pl.lit(parse.DEFAULT_INTERVAL_S, dtype=pl.Int32).alias("interval_s")
        )
    if lookup.ids_verbatim:
        work = work.with_columns(raw["meter_id"].cast(pl.String).alias("meter_id"))
    if not flags:
        return work, lookup
    bad = pl.DataFrame(flags).select(pl.any_horizontal(pl.all())).to_series()
    rows = bad.arg_true()
    cum = columns.get("__cum")
    extra = {
        "__problem": lookup.problems(rows),
        "__wh": wh.gather(rows),
        "__cum": cum.gather(rows) if cum is not None else pl.repeat(False, rows.len(), eager=True),
    }
    _reject_rows(raw, flags, rows, extra, _row_reasons(raw, ts_col, value_col, timezone), ledger)
    return _keep(work, ~bad), lookup


def _order_and_repeats(work: pl.DataFrame) -> tuple[bool, bool]:
    """Whether rows are sorted by (meter key, time), and whether a key repeats."""
    key, ts = pl.col("__mk"), pl.col("ts_utc")
    same_key = key == key.shift(1)
    ordered, repeats = work.select(
        ((key > key.shift(1)) | (same_key & (ts >= ts.shift(1))))
        .fill_null(True)
        .all()
        .alias("ordered"),
        (same_key & (ts == ts.shift(1))).fill_null(False).any().alias("repeats"),
    ).row(0)
    return bool(ordered), bool(repeats)


def _sort(work: pl.DataFrame, stats: dict[str, int]) -> tuple[pl.DataFrame, bool]:
    """Rows sorted by meter key and time, and whether a key repeats.

    ``out_of_order`` counts rows earlier in time than a row before them of the same
    meter. The rows are sorted only if they are not in order already.
    """
    ordered, repeats = _order_and_repeats(work)
    if ordered:
        return work, repeats
    ts = pl.col("ts_utc")
    stats["out_of_order"] = int(work.select((ts < ts.cum_max().shift(1).over("__mk")).sum()).item())
    work = _with_positions(work).sort(_sort_key(work), maintain_order=True)
    return work, _order_and_repeats(work)[1]


def _sort_key(work: pl.DataFrame) -> pl.Expr | list[str]:
    """One Int64 that orders rows like (meter key, time), when both fit in 62 bits.

    Sorting by a single integer is several times faster than by two columns.
    """
    first, last = work.select(
        pl.col("ts_utc").to_physical().min().alias("first"),
        pl.col("ts_utc").to_physical().max().alias("last"),
    ).row(0)
    key_max = work["__mk"].max()
    if first is None or key_max is None:
        return ["__mk", "ts_utc"]
    ts_bits = int(last - first).bit_length()
    if ts_bits + int(key_max).bit_length() > 62:
        return ["__mk", "ts_utc"]
    offset = pl.col("ts_utc").to_physical() - first
    return pl.col("__mk").cast(pl.Int64) * (1 << ts_bits) + offset


def _mixed_registers(work: pl.DataFrame, lookup: MeterLookup, ledger: _Ledger) -> pl.DataFrame:
    """Quarantine meters with both interval and cumulative rows; drop ``__cum`` if unused."""
    if "__cum" not in work.columns:
        return work
    if not work["__cum"].any():
        return work.drop("__cum")
    if work["__cum"].all():
        return work
    cum = pl.col("__cum")
    mixed = work.select((cum.any() & (~cum).any()).over("__mk")).to_series()
    if mixed.any():
        rows = _keep(work, mixed)
        ids = lookup.keys["meter_id"].gather(rows["__mk"])
        ledger.reject(
            rows.with_columns(ids.alias("__meter")),
            pl.format("mixed register types (interval and cumulative) for meter {}", "__meter"),
        )
        work = _keep(work, ~mixed)
    return work


def _dedupe(work: pl.DataFrame, ledger: _Ledger) -> pl.DataFrame:
    """Drop exact duplicates after the first; quarantine every copy of conflicting ones."""
    key, ts = pl.col("__mk"), pl.col("ts_utc")
    repeat = work.select(((key == key.shift(1)) & (ts == ts.shift(1))).fill_null(False))
    repeat = repeat.to_series()
    group = (~repeat).cum_sum()
    in_group = repeat | repeat.shift(-1, fill_value=False)
    payload = [pl.col("__wh") + 0.0, pl.col("interval_s")]  # + 0.0 makes -0.0 equal 0.0
    if "__cum" in work.columns:
        payload.append(pl.col("__cum"))
    conflicting = (
        work.with_columns(group.alias("__group"))
        .filter(in_group)
        .group_by("__group")
        .agg(pl.struct(payload).n_unique().alias("n"))
        .filter(pl.col("n") > 1)["__group"]
    )
    conflict = group.is_in(conflicting.implode())
    ledger.reject(_keep(work, conflict), CONFLICT_REASON)
    ledger.stats["conflicting_duplicates"] = int(conflict.sum())
    ledger.duplicates_ignored += int((repeat & ~conflict).sum())
    return _keep(work, ~conflict & ~repeat)


def _cumulative(work: pl.DataFrame, ledger: _Ledger) -> pl.DataFrame:
    """Energy from cumulative readings; baselines and irregular readings quarantined."""
    if "__cum" not in work.columns:
        return work
    work = register_differences(_with_positions(work))
    stats = ledger.stats
    for key, flag in [
        ("register_baselines", "__baseline"),
        ("register_rollovers", "__rollover"),
        ("register_resets", "__reset"),
    ]:
        stats[key] = int(work[flag].sum())
    ledger.reject(work.filter(pl.col("__baseline")), BASELINE_REASON)
    # a register read again after weeks (or after a clock reset to 1970) says nothing about
    # when the energy was used: not spread over the gap; the reading is a new baseline
    too_long = ~pl.col("__irregular") & (pl.col("__span_s") > MAX_SPREAD_S)
    work = work.with_columns(too_long.fill_null(False).alias("__too_long"))
    ledger.reject(
        work.filter(pl.col("__too_long")),
        pl.format(
            "cumulative reading {} days after the previous one: longer than {} days, "
            "so its energy is not spread; it is the baseline of the next reading",
            (pl.col("__span_s") / 86_400).round(1),
            pl.lit(MAX_SPREAD_S // 86_400),
        ),
    )
    ledger.reject(
        work.filter(pl.col("__irregular")),
        pl.format(
            "irregular cumulative reading: {} s after the previous reading, "
            "not a whole number of {}-s intervals",
            pl.col("__span_s"),
            pl.col("interval_s"),
        ),
    )
    keep = ~pl.col("__baseline") & ~pl.col("__irregular") & ~pl.col("__too_long")
    return work.filter(keep).drop(
        "__baseline", "__irregular", "__too_long", "__rollover", "__reset", "__span_s", "__cum"
    )


def _uniform_interval(work: pl.DataFrame) -> int | None:
    """The one interval length [s] of all rows, or None if they differ."""
    low, high = work.select(
        pl.col("interval_s").min().alias("low"), pl.col("interval_s").max().alias("high")
    ).row(0)
    return int(low) if low is not None and low == high else None


def _pristine(work: pl.DataFrame, lookup: MeterLookup) -> bool:
    """Rows untouched since the lookup (none dropped or moved), one run per meter."""
    return "__i" not in work.columns and lookup.run_is_key


def _capacity(work: pl.DataFrame, lookup: MeterLookup, ledger: _Ledger) -> pl.DataFrame:
    """Quarantine readings above max_power_w × interval × 1.1 [Wh]."""
    # energy per second of interval allowed [Wh/s], per meter key; + 1e-12 for rounding
    per_s = lookup.keys["max_power_w"] * (CAPACITY_MARGIN * (1 + 1e-12) / 3600)
    interval = _uniform_interval(work) if work.height else None
    if interval is not None and _pristine(work, lookup):
        # the largest reading of each meter is enough to clear all of its rows
        largest = np.maximum.reduceat(work["__wh"].to_numpy(), lookup.starts)
        if not (largest > (per_s * interval).fill_null(np.inf).to_numpy()).any():
            return work
    if interval is not None:
        limit = (per_s * interval).gather(work["__mk"])
    else:
        limit = per_s.gather(work["__mk"]) * work["interval_s"]
    over = (work["__wh"] > limit).fill_null(False)
    if not over.any():
        return work
    rows = _keep(work, over).with_columns(
        lookup.keys["max_power_w"].gather(work["__mk"].filter(over)).alias("__max_power_w")
    )
    limit_wh = pl.col("__max_power_w") * pl.col("interval_s") * CAPACITY_MARGIN / 3600
    ledger.reject(
        rows,
        pl.format(
            "exceeds meter capacity: {} Wh in {} s > {} Wh ({} W x {})",
            pl.col("__wh"),
            pl.col("interval_s"),
            limit_wh.round(3),
            pl.col("__max_power_w"),
            pl.lit(CAPACITY_MARGIN),
        ),
    )
    return _keep(work, ~over)


def _spread(work: pl.DataFrame, stats: dict[str, int]) -> pl.DataFrame:
    """Repeat each reading that covers k > 1 intervals over those k intervals."""
    if "__k" not in work.columns:
        return work
    k = work["__k"].cast(pl.Int64)
    work = work.drop("__k")
    if k.len() == 0 or k.max() <= 1:  # type: ignore[operator]
        return work
    counts = k.to_numpy()
    rows = np.repeat(np.arange(counts.size), counts)
    nth = np.arange(rows.size) - np.repeat(np.cumsum(counts) - counts, counts)
    stats["estimated_spread"] = int((k > 1).sum())
    stats["spread_intervals_added"] = int((k - 1).sum())
    return work.select(pl.all().gather(rows)).with_columns(
        pl.col("ts_utc") + pl.duration(seconds=pl.lit(nth) * pl.col("interval_s"))
    )


def _count_gaps(work: pl.DataFrame, lookup: MeterLookup) -> int:
    """Missing intervals within each meter's span of readings (rows sorted by key, time).

    With one interval length, a meter's gaps are the intervals between its first and
    last reading that have no reading: counted from the ends of its run of rows,
    without touching every row. Otherwise each step between consecutive readings is
    measured, in intervals of the reading that follows it.
    """
    if work.height == 0:
        return 0
    interval = _uniform_interval(work)
    if interval is not None:
        starts = lookup.starts if _pristine(work, lookup) else run_starts([work["__mk"]])
        ends = np.append(starts[1:], work.height) - 1
        ts = work["ts_utc"].to_physical()
        first = ts.gather(starts).to_numpy()
        last = ts.gather(ends).to_numpy()
        expected = (last - first) // (interval * 1_000_000) + 1
        return int(np.clip(expected - (ends - starts + 1), 0, None).sum())
    key, ts, step = pl.col("__mk"), pl.col("ts_utc"), pl.col("interval_s").cast(pl.Int64)
    uncovered_us = (ts - ts.shift(1)).dt.total_microseconds() - step.shift(1) * 1_000_000
    missing = (uncovered_us // (step * 1_000_000)).clip(lower_bound=0)
    return int(work.select(pl.when(key == key.shift(1)).then(missing).sum()).item() or 0)


def _accepted(work: pl.DataFrame, lookup: MeterLookup) -> pl.DataFrame:
    """The readings in the ``meter_readings`` schema, sorted by site, meter and time."""
    keys = lookup.keys
    sites = keys["site_id"].unique()
    site = pl.lit(sites[0]) if sites.len() == 1 else pl.lit(keys["site_id"].gather(work["__mk"]))
    meter = (
        pl.col("meter_id")
        if "meter_id" in work.columns
        else pl.lit(keys["meter_id"].gather(work["__mk"]))
    )
    quality = pl.col("quality") if "quality" in work.columns else pl.lit("measured")
    return work.select(
        site.cast(pl.String).alias("site_id"),
        meter.alias("meter_id"),
        "ts_utc",
        "interval_s",
        pl.col("__wh").alias("energy_wh"),
        quality.alias("quality"),
    ).cast(SCHEMAS["meter_readings"])  # type: ignore[arg-type]


def _quarantined(raw: pl.DataFrame, ledger: _Ledger, ingested_at_utc: datetime) -> pl.DataFrame:
    """The rejected rows in the ``meter_quarantine`` schema, in input order."""
    schema = SCHEMAS["meter_quarantine"]
    if not ledger.rejected:
        return pl.DataFrame(schema=schema)
    rejected = pl.concat(ledger.rejected).sort("__i")
    rows = rejected["__i"]
    inputs = [c for c in raw.columns if c not in META_COLUMNS]
    source = (
        raw["source"].cast(pl.String).gather(rows)
        if "source" in raw.columns
        else pl.repeat("frame", rows.len(), eager=True)
    )
    number = (
        raw["row_number"].cast(pl.Int64).gather(rows)
        if "row_number" in raw.columns
        else rows.cast(pl.Int64) + 1
    )
    delivered = raw.select(pl.col(inputs).gather(rows).cast(pl.String))
    raw_row = delivered.select(pl.struct(inputs).struct.json_encode()).to_series()
    return pl.DataFrame(
        {
            "source": source,
            "row_number": number,
            "raw_row": raw_row,
            "reason": rejected["reason"],
            "ingested_at_utc": pl.repeat(ingested_at_utc, rows.len(), eager=True),
        }
    ).cast(schema)  # type: ignore[arg-type]


def validate_meter_rows(
    raw: pl.DataFrame,
    registry: pl.DataFrame,
    *,
    ingested_at_utc: datetime,
    timezone: str = "Europe/Berlin",
) -> MeterBatch:
    """Turn the rows of a meter export into readings, quarantined rows and duplicates.

    Parameters
    ----------
    raw : pl.DataFrame
        Rows of one export as read by :func:`ingest.meter_files.read_meter_export`
        (text or typed columns in the export format, plus ``row_number`` and
        ``source``; both are optional here).
    registry : pl.DataFrame
        Known meters: site_id, meter_id, kind, max_power_w [W].
    ingested_at_utc : datetime
        Landing time [UTC, timezone-aware], written to quarantined rows.
    timezone : str, default "Europe/Berlin"
        IANA zone of ``ts_local`` values.

    Returns
    -------
    MeterBatch
        Accepted readings, quarantined rows, the number of ignored exact duplicates
        and counters (see :data:`STAT_KEYS`).

    Raises
    ------
    ValueError
        If ``raw`` lacks a required column or ``ingested_at_utc`` is naive.
    """
    if ingested_at_utc.tzinfo is None:
        raise ValueError("ingested_at_utc must be timezone-aware (UTC)")
    ledger = _Ledger()
    work, lookup = _parse_rows(raw, registry, timezone, ledger)
    work, repeats = _sort(work, ledger.stats)
    work = _mixed_registers(work, lookup, ledger)
    if repeats:
        work = _dedupe(work, ledger)
    work = _cumulative(work, ledger)
    work = _capacity(work, lookup, ledger)
    work = _spread(work, ledger.stats)
    ledger.stats["gaps"] = _count_gaps(work, lookup)
    batch = MeterBatch(
        accepted=_accepted(work, lookup),
        quarantined=_quarantined(raw, ledger, ingested_at_utc),
        duplicates_ignored=ledger.duplicates_ignored,
        rows_in=raw.height,
        stats=ledger.stats,
    )
    accounted = batch.rows_accepted + batch.quarantined.height + batch.duplicates_ignored
    if accounted != batch.rows_in:
        raise AssertionError(
            f"meter row accounting broken: {batch.rows_in} rows in != {batch.rows_accepted} "
            f"accepted + {batch.quarantined.height} quarantined + "
            f"{batch.duplicates_ignored} duplicates"
        )
    return batch
