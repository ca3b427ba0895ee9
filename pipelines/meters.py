"""Meter readings: validate an export's rows, quarantine the bad ones, merge with the lake.

Every row that comes in leaves as exactly one of: an accepted reading, a quarantined
row with a reason, or an ignored exact duplicate. :func:`validate_meter_rows` asserts
``rows_in == accepted + quarantined + duplicates_ignored``.

Rules, in the order they are applied (a row gets the first reason that fits):

1. unparseable timestamp; nonexistent local time (the spring-forward hour)
2. unknown meter (not in the registry)
3. non-numeric value; unknown unit (Wh, kWh and MWh are converted to Wh)
4. conflicting duplicate: the same meter and interval twice with different values
   (every copy is quarantined; exact copies are ignored as duplicates)
5. cumulative registers: energy is the difference to the previous reading. A drop
   where the previous reading is at least 90 % of the register's width (the power of
   ten above the largest reading seen) is a rollover; any other drop is a reset (energy = the new reading, quality
   ``register_reset``). The first reading of a meter has no predecessor: it is kept in
   quarantine as ``cumulative register baseline`` (it yields no interval energy). A
   difference spanning missing intervals becomes one reading whose ``interval_s``
   covers the gap, quality ``spans_gap``: the energy is known, its split is not.
6. negative energy; energy above the meter's ``max_power_w`` × interval × 1.1

Gaps in interval registers are counted, never filled. Out-of-order rows are counted and
sorted. Local times of the autumn change (the hour that occurs twice) are resolved by
order of appearance per meter: first summer time, then winter time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import polars as pl

from pipelines.frames import same_key_as_previous, sort_if_needed
from pipelines.schemas import SCHEMAS

UTC_TS = pl.Datetime("us", "UTC")
UNIT_FACTORS = {"wh": 1.0, "kwh": 1_000.0, "mwh": 1_000_000.0}
CAPACITY_MARGIN = 1.1
KEY = ["site_id", "meter_id", "ts_utc"]


@dataclass(frozen=True)
class MeterBatch:
    """Outcome of validating one batch of export rows."""

    accepted: pl.DataFrame
    quarantined: pl.DataFrame
    duplicates_ignored: int
    rows_in: int
    stats: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class MergeResult:
    merged: pl.DataFrame
    duplicates_ignored: int
    conflicts: pl.DataFrame


def _text(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.String).str.strip_chars()


def _timestamps(raw: pl.DataFrame, timezone: str) -> tuple[pl.DataFrame, dict[str, int]]:
    """Add ``ts_utc`` (UTC) and the flags ``__ts_unparseable`` and ``__ts_nonexistent``."""
    stats = {"dst_ambiguous_resolved": 0}
    if "ts_utc" in raw.columns:
        col = raw["ts_utc"]
        if isinstance(col.dtype, pl.Datetime):
            ts = (
                col.dt.replace_time_zone("UTC")
                if col.dtype.time_zone is None
                else col.dt.convert_time_zone("UTC")
            )
            frame = raw.with_columns(ts.dt.cast_time_unit("us").alias("__ts"))
        else:
            text = _text("ts_utc")
            frame = raw.with_columns(
                pl.coalesce(
                    text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%#z", strict=False, time_unit="us"),
                    text.str.to_datetime("%Y-%m-%d %H:%M:%S%.f%#z", strict=False, time_unit="us"),
                    text.str.to_datetime(
                        "%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us"
                    ).dt.replace_time_zone("UTC"),
                    text.str.to_datetime(
                        "%Y-%m-%d %H:%M:%S%.f", strict=False, time_unit="us"
                    ).dt.replace_time_zone("UTC"),
                    text.str.to_datetime(
                        "%Y-%m-%dT%H:%M", strict=False, time_unit="us"
                    ).dt.replace_time_zone("UTC"),
                )
                .dt.convert_time_zone("UTC")
                .alias("__ts")
            )
        frame = frame.with_columns(
            pl.col("__ts").is_null().alias("__ts_unparseable"),
            pl.lit(False).alias("__ts_nonexistent"),
        )
        return frame.rename({"ts_utc": "__in_ts_utc", "__ts": "ts_utc"}), stats
    col = raw["ts_local"]
    naive = (
        col.cast(pl.Datetime("us"))
        if isinstance(col.dtype, pl.Datetime)
        else pl.select(
            pl.coalesce(
                pl.lit(col)
                .str.strip_chars()
                .str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us"),
                pl.lit(col)
                .str.strip_chars()
                .str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False, time_unit="us"),
                pl.lit(col)
                .str.strip_chars()
                .str.to_datetime("%Y-%m-%d %H:%M", strict=False, time_unit="us"),
            )
        ).to_series()
    )
    frame = raw.with_columns(naive.alias("__naive"))
    # nth appearance of the same local time on the same meter: 0 -> summer, 1 -> winter
    frame = frame.with_columns(pl.int_range(pl.len()).over("meter_id", "__naive").alias("__nth"))
    earliest = pl.col("__naive").dt.replace_time_zone(
        timezone, ambiguous="earliest", non_existent="null"
    )
    latest = pl.col("__naive").dt.replace_time_zone(
        timezone, ambiguous="latest", non_existent="null"
    )
    frame = frame.with_columns(
        earliest.alias("__early"),
        latest.alias("__late"),
    ).with_columns(
        pl.when(pl.col("__nth") == 0)
        .then(pl.col("__early"))
        .otherwise(pl.col("__late"))
        .dt.convert_time_zone("UTC")
        .alias("ts_utc"),
        (pl.col("__early") != pl.col("__late")).fill_null(False).alias("__ambiguous"),
    )
    stats["dst_ambiguous_resolved"] = int(frame["__ambiguous"].sum())
    frame = frame.with_columns(
        pl.col("__naive").is_null().alias("__ts_unparseable"),
        (pl.col("__naive").is_not_null() & pl.col("ts_utc").is_null()).alias("__ts_nonexistent"),
    )
    return frame.drop("__naive", "__nth", "__early", "__late", "__ambiguous"), stats


def _values(frame: pl.DataFrame) -> tuple[pl.DataFrame, str]:
    """Add ``__value`` [Wh], the flags ``__value_bad`` and ``__unit_bad``, and
    ``__unit_converted``; also return the name of the value column."""
    if "energy_wh" in frame.columns:
        source, factor = "energy_wh", pl.lit(1.0)
    elif "energy_kwh" in frame.columns:
        source, factor = "energy_kwh", pl.lit(1_000.0)
    else:
        source = "value"
        unit = _text("unit").str.to_lowercase()
        factor = unit.replace_strict(UNIT_FACTORS, default=None, return_dtype=pl.Float64)
    dtype = frame.schema[source]
    number = (
        pl.col(source).cast(pl.Float64, strict=False)
        if dtype.is_numeric()
        else _text(source).cast(pl.Float64, strict=False)
    )
    frame = frame.with_columns(
        (number * factor).alias("__value"),
        (number.is_null() | number.is_nan()).alias("__value_bad"),
        factor.is_null().alias("__unit_bad"),
        (factor != 1.0).fill_null(False).alias("__unit_converted"),
    )
    return frame, source


def _with_registry(frame: pl.DataFrame, reg: pl.DataFrame) -> pl.DataFrame:
    """Add ``__reg_site`` and ``max_power_w`` of each row's meter; strip ``meter_id``.

    Exports hold long runs of one meter, so the lookup is done once per run and the
    results are repeated over the run: a join or a per-row mapping would touch every
    string of a large export.
    """
    runs = frame.select(pl.col("meter_id").cast(pl.String).rle()).unnest("meter_id")
    per_run = runs.with_columns(pl.col("value").str.strip_chars().alias("meter_id")).join(
        reg, on="meter_id", how="left", maintain_order="left"
    )
    lengths = runs["len"].to_numpy()
    index = pl.Series(np.repeat(np.arange(len(lengths), dtype=np.uint32), lengths))
    columns = [per_run["__reg_site"].gather(index), per_run["max_power_w"].gather(index)]
    if (per_run["meter_id"] != per_run["value"]).any():
        columns.append(per_run["meter_id"].gather(index))
    return frame.with_columns(columns)


def _first_reason(frame: pl.DataFrame, rules: list[tuple[str, pl.Expr]]) -> pl.DataFrame:
    """Set ``reason`` from the first true flag column of ``rules`` (flag, message).

    Run only on rows already known to be bad: formatting messages for every row of a
    large export would cost more than validating it.
    """
    reason = pl.lit(None, dtype=pl.String)
    for flag, message in reversed(rules):
        reason = pl.when(pl.col(flag)).then(message).otherwise(reason)
    return frame.with_columns(reason.alias("reason"))


def _raw_json(columns: list[str]) -> pl.Expr:
    """The row as it came in, as JSON (the parsed ``ts_utc`` keeps its input aside)."""
    fields = [
        pl.col("__in_ts_utc" if c == "ts_utc" else c).cast(pl.String).alias(c) for c in columns
    ]
    return pl.struct(fields).struct.json_encode().alias("raw_row")


def validate_meter_rows(
    raw: pl.DataFrame,
    registry: pl.DataFrame,
    *,
    ingested_at_utc: datetime,
    timezone: str = "Europe/Berlin",
) -> MeterBatch:
    """Turn raw export rows into readings, quarantined rows and ignored duplicates.

    Parameters
    ----------
    raw : pl.DataFrame
        Rows from :func:`ingest.meter_files.read_meter_export` (text or typed columns,
        with ``row_number`` and ``source``).
    registry : pl.DataFrame
        Known meters: site_id, meter_id, kind, max_power_w [W].
    ingested_at_utc : datetime
        Landing time written to quarantined rows.
    timezone : str
        IANA zone of ``ts_local`` columns.

    Returns
    -------
    MeterBatch
        ``accepted`` has the ``meter_readings`` schema, sorted by site, meter and time.
    """
    rows_in = raw.height
    input_cols = [c for c in raw.columns if c not in ("row_number", "source")]
    if "row_number" not in raw.columns:
        raw = raw.with_row_index("row_number", offset=1).with_columns(
            pl.col("row_number").cast(pl.Int64)
        )
    if "source" not in raw.columns:
        raw = raw.with_columns(pl.lit("frame").alias("source"))
    frame = raw
    frame, stats = _timestamps(frame, timezone)
    frame, value_col = _values(frame)
    reg = registry.select(
        pl.col("meter_id").cast(pl.String),
        pl.col("site_id").cast(pl.String).alias("__reg_site"),
        pl.col("max_power_w").cast(pl.Float64),
    )
    frame = _with_registry(frame, reg)
    site = (
        pl.coalesce(pl.col("site_id").cast(pl.String), pl.col("__reg_site"))
        if "site_id" in frame.columns
        else pl.col("__reg_site")
    )
    interval = (
        _text("interval_s").cast(pl.Int32, strict=False).fill_null(900)
        if "interval_s" in frame.columns
        else pl.lit(900, dtype=pl.Int32)
    )
    register = (
        _text("register").str.to_lowercase().fill_null("interval")
        if "register" in frame.columns
        else pl.lit("interval")
    )
    frame = frame.with_columns(
        site.alias("site_id"), interval.alias("interval_s"), register.alias("__register")
    )
    frame = frame.with_columns(
        pl.col("__reg_site").is_null().alias("__unknown_meter"),
        (~pl.col("__register").is_in(["interval", "cumulative"])).alias("__bad_register"),
    )
    row_flags = [
        "__ts_unparseable",
        "__ts_nonexistent",
        "__unknown_meter",
        "__value_bad",
        "__unit_bad",
        "__bad_register",
    ]
    frame = frame.with_columns(pl.any_horizontal(row_flags).alias("__bad"))
    ts_in = _text("__in_ts_utc") if "__in_ts_utc" in frame.columns else _text("ts_local")
    unit_in = pl.col("unit").cast(pl.String) if "unit" in frame.columns else pl.lit("")
    rejected = _first_reason(
        frame.filter(pl.col("__bad")),
        [
            ("__ts_unparseable", pl.format("unparseable timestamp {}", ts_in)),
            (
                "__ts_nonexistent",
                pl.format("nonexistent local time {} in {}", ts_in, pl.lit(timezone)),
            ),
            ("__unknown_meter", pl.format("unknown meter {}", pl.col("meter_id"))),
            ("__value_bad", pl.format("non-numeric value {}", pl.col(value_col).cast(pl.String))),
            ("__unit_bad", pl.format("unknown unit {}", unit_in)),
            ("__bad_register", pl.format("unknown register type {}", pl.col("__register"))),
        ],
    )
    frame = frame.filter(~pl.col("__bad")).with_columns(
        pl.lit(None, dtype=pl.String).alias("reason")
    )
    stats["unit_converted"] = int(
        frame.filter(pl.col("reason").is_null())["__unit_converted"].sum()
    )

    # Out-of-order rows (in file order), then exact and conflicting duplicates, which
    # sit next to each other once the rows are sorted by key.
    valid = frame
    stats["out_of_order"] = int(
        valid.select(
            (
                (pl.col("meter_id") == pl.col("meter_id").shift(1))
                & (pl.col("ts_utc") < pl.col("ts_utc").shift(1))
            )
            .fill_null(False)
            .sum()
        ).item()
    )
    valid = sort_if_needed(valid, KEY)
    repeat = same_key_as_previous(KEY)
    valid = valid.with_columns(repeat.alias("__repeat"))
    duplicates_ignored = 0
    conflicts = valid.head(0)
    if valid["__repeat"].any():
        valid = valid.with_columns((~pl.col("__repeat")).cum_sum().alias("__group"))
        repeated_groups = valid.filter(pl.col("__repeat"))["__group"].unique()
        in_repeats = valid.filter(pl.col("__group").is_in(repeated_groups.implode()))
        conflicting = (
            in_repeats.group_by("__group")
            .agg(pl.col("__value").n_unique().alias("n"))
            .filter(pl.col("n") > 1)["__group"]
        )
        is_conflict = pl.col("__group").is_in(conflicting.implode())
        conflicts = valid.filter(is_conflict).with_columns(
            pl.lit("conflicting duplicate").alias("reason")
        )
        duplicates_ignored = valid.filter(~is_conflict & pl.col("__repeat")).height
        valid = valid.filter(~is_conflict & ~pl.col("__repeat")).drop("__group")
        conflicts = conflicts.drop("__group")
    singles = valid.drop("__repeat")
    conflicts = conflicts.drop("__repeat")

    # Cumulative registers: differences between consecutive readings of a meter.
    cum = singles.filter(pl.col("__register") == "cumulative")
    interval_rows = singles.filter(pl.col("__register") == "interval").with_columns(
        pl.lit("measured").alias("quality")
    )
    stats["register_resets"] = stats["register_rollovers"] = 0
    baselines = cum.head(0)
    if cum.height:
        prev_v = pl.col("__value").shift(1).over("meter_id")
        prev_t = pl.col("ts_utc").shift(1).over("meter_id")
        # a register's width is the power of ten above the largest reading it has shown
        wrap = pl.lit(10.0).pow(
            (pl.col("__value").cum_max().shift(1).over("meter_id") + 1).log10().ceil()
        )
        cum = cum.with_columns(
            prev_v.alias("__prev"), prev_t.alias("__prev_t"), wrap.alias("__wrap")
        )
        drop = pl.col("__value") < pl.col("__prev")
        rollover = drop & (pl.col("__prev") >= 0.9 * pl.col("__wrap"))
        reset = drop & ~rollover
        span_s = (pl.col("ts_utc") - pl.col("__prev_t")).dt.total_seconds().cast(pl.Int32)
        cum = cum.with_columns(
            pl.when(rollover)
            .then(pl.col("__value") + pl.col("__wrap") - pl.col("__prev"))
            .when(reset)
            .then(pl.col("__value"))
            .otherwise(pl.col("__value") - pl.col("__prev"))
            .alias("__energy"),
            rollover.alias("__rollover"),
            reset.alias("__reset"),
            pl.when(reset)
            .then(pl.lit("register_reset"))
            .when(span_s > pl.col("interval_s"))
            .then(pl.lit("spans_gap"))
            .otherwise(pl.lit("measured"))
            .alias("quality"),
            # the reading closes the interval that started at the previous reading
            pl.col("__prev_t").alias("__start"),
            pl.when(span_s > pl.col("interval_s"))
            .then(span_s)
            .otherwise(pl.col("interval_s"))
            .alias("__span"),
        )
        stats["register_rollovers"] = int(cum["__rollover"].sum())
        stats["register_resets"] = int(cum["__reset"].sum())
        baselines = cum.filter(pl.col("__prev").is_null()).with_columns(
            pl.lit("cumulative register baseline: first reading, no interval energy").alias(
                "reason"
            )
        )
        cum = cum.filter(pl.col("__prev").is_not_null()).with_columns(
            pl.col("__energy").alias("__value"),
            pl.col("__start").alias("ts_utc"),
            pl.col("__span").alias("interval_s"),
        )
    readings = pl.concat(
        [
            interval_rows.select(singles.columns + ["quality"]),
            cum.select(singles.columns + ["quality"]),
        ]
        if cum.height
        else [interval_rows],
        how="vertical_relaxed",
    )
    readings = readings.with_columns(
        (pl.col("__value") < 0).alias("__negative"),
        (
            pl.col("__value")
            > pl.col("max_power_w") * pl.col("interval_s") / 3600 * CAPACITY_MARGIN
        ).alias("__over_capacity"),
    ).with_columns(pl.any_horizontal("__negative", "__over_capacity").alias("__bad"))
    implausible = _first_reason(
        readings.filter(pl.col("__bad")),
        [
            ("__negative", pl.format("negative energy {} Wh", pl.col("__value"))),
            (
                "__over_capacity",
                pl.format(
                    "exceeds meter capacity: {} Wh in {} s", pl.col("__value"), pl.col("interval_s")
                ),
            ),
        ],
    )
    readings = readings.filter(~pl.col("__bad"))

    quarantine_parts = [rejected, conflicts, baselines, implausible]
    quarantined = pl.concat(
        [
            q.select(
                pl.col("source").cast(pl.String),
                pl.col("row_number").cast(pl.Int64),
                _raw_json(input_cols),
                pl.col("reason"),
                pl.lit(ingested_at_utc).cast(UTC_TS).alias("ingested_at_utc"),
            )
            for q in quarantine_parts
        ]
    ).sort("row_number", "reason")
    accepted = readings.select(
        "site_id",
        "meter_id",
        pl.col("ts_utc").cast(UTC_TS),
        pl.col("interval_s").cast(pl.Int32),
        pl.col("__value").alias("energy_wh"),
        "quality",
    )
    if cum.height:  # cumulative readings moved to their interval start: restore the order
        accepted = sort_if_needed(accepted, KEY)
    # gaps: missing nominal intervals within each meter's span
    # gaps: missing nominal intervals between consecutive readings of a meter (sorted)
    step_s = (pl.col("ts_utc") - pl.col("ts_utc").shift(1)).dt.total_seconds()
    missing = ((step_s - pl.col("interval_s").shift(1)) / 900).clip(lower_bound=0)
    meter_run = pl.col("meter_id").rle_id()
    same_meter = meter_run == meter_run.shift(1)
    stats["gaps"] = int(
        accepted.select(pl.when(same_meter).then(missing).otherwise(0).fill_null(0).sum()).item()
        or 0
    )
    if rows_in != accepted.height + quarantined.height + duplicates_ignored:
        raise AssertionError(
            f"meter row accounting broken: {rows_in} in != {accepted.height} accepted + "
            f"{quarantined.height} quarantined + {duplicates_ignored} duplicates"
        )
    return MeterBatch(
        accepted=accepted,
        quarantined=quarantined.select(list(SCHEMAS["meter_quarantine"])),
        duplicates_ignored=duplicates_ignored,
        rows_in=rows_in,
        stats=stats,
    )


def merge_readings(existing: pl.DataFrame, incoming: pl.DataFrame) -> MergeResult:
    """Merge new readings into a stored partition.

    Identical rows (same key and energy) are duplicates ignored; a row whose key is
    stored with a different energy is a conflict, returned for quarantine and not
    merged. The result is sorted by the key, so rewriting a partition is byte-stable.
    """
    cols = list(SCHEMAS["meter_readings"])
    existing = existing.select(cols)
    incoming = incoming.select(cols)
    if existing.is_empty():  # incoming comes sorted from validate_meter_rows; the lake re-checks
        return MergeResult(incoming, 0, incoming.head(0))
    joined = incoming.join(
        existing.select(*KEY, pl.col("energy_wh").alias("__stored")), on=KEY, how="left"
    )
    dupes = joined.filter(pl.col("__stored") == pl.col("energy_wh"))
    conflicts = joined.filter(
        pl.col("__stored").is_not_null() & (pl.col("__stored") != pl.col("energy_wh"))
    ).select(cols)
    new = joined.filter(pl.col("__stored").is_null()).select(cols)
    return MergeResult(sort_if_needed(pl.concat([existing, new]), KEY), dupes.height, conflicts)


def hourly_energy(readings: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Sum readings into hours: site_id, meter_id, hour_utc, energy_wh [Wh], n_intervals."""
    return (
        readings.lazy()
        .group_by("site_id", "meter_id", pl.col("ts_utc").dt.truncate("1h").alias("hour_utc"))
        .agg(pl.col("energy_wh").sum(), pl.len().alias("n_intervals"))
    )
