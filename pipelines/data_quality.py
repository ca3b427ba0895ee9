"""Data quality: typed views of raw batches, derived columns for the expectation suites,
and the rows of ``data_quality_results``.

Pure Polars. The suites themselves are Great Expectations suites run as Dagster asset
checks (``assets_defs.checks``); what they need beyond the rows of a batch is computed
here, as extra columns whose names start with ``dq_``:

- :func:`with_interval_counts`: ``dq_intervals_present`` / ``dq_intervals_expected``,
  distinct interval starts of the row's series on the batch's UTC day and how many a
  complete day has (96 for 15-min), so completeness is checked per series per day;
- :func:`with_register_steps`: ``dq_register_step_wh``, the change of a cumulative
  register since the meter's previous reading (a rollover counts as a step up);
- :func:`with_capacity`: ``dq_cap_wh``, the most energy a meter can deliver in the
  row's interval [Wh], from the meter registry.

Results are stored one row per expectation per day per dataset
(:data:`RESULT_COLUMNS`); :func:`merge_results` replaces one check's suites in a stored
day and keeps the rest, so re-running a check never duplicates rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime

import polars as pl

from pipelines.meters import parse
from pipelines.meters.cumulative import ROLLOVER_SHARE, power_of_ten_above
from pipelines.meters.validate import CAPACITY_MARGIN
from pipelines.schemas import KEYS, SCHEMAS, empty_frame

UTC_TS = pl.Datetime("us", "UTC")

#: Columns of a raw meter export after parsing, before validation.
RAW_METER_SCHEMA: dict[str, pl.DataType] = {
    "meter_id": pl.String,
    "ts_utc": UTC_TS,
    "interval_s": pl.Int32,
    "energy_wh": pl.Float64,
    "register": pl.String,
}
INTERVAL, CUMULATIVE = "interval", "cumulative"

#: Name of the helper column holding the UTC day a row's batch belongs to.
DAY = "__day"

RESULT_DATASET = "data_quality_results"
RESULT_COLUMNS = list(SCHEMAS[RESULT_DATASET])
RESULT_KEY = KEYS[RESULT_DATASET]


# ---------------------------------------------------------------- raw meter exports


def _null_if_blank(values: pl.Series) -> pl.Series:
    text = parse.as_text(values)
    return text.set(text.str.strip_chars().fill_null("") == "", None)


def _local_to_utc(raw: pl.DataFrame, meter: pl.Series, timezone: str) -> pl.Series:
    """UTC instants of ``ts_local``; the repeated autumn hour is told apart by order of
    appearance per meter (first = summer time), as the validator does."""
    naive = parse.parse_ts_local(raw["ts_local"])
    earliest, latest = parse.localize(naive, timezone)
    frame = pl.DataFrame({"m": meter, "t": naive, "e": earliest, "l": latest})
    return frame.select(
        pl.when(pl.int_range(pl.len()).over("m", "t") == 0)
        .then(pl.col("e"))
        .otherwise(pl.col("l"))
        .alias("ts_utc")
    ).to_series()


def raw_meter_frame(raw: pl.DataFrame, timezone: str = "Europe/Berlin") -> pl.DataFrame:
    """Typed view of the rows of a meter export as delivered (before validation).

    Parameters
    ----------
    raw : pl.DataFrame
        Rows as read by :func:`ingest.meter_files.read_meter_export` (text or typed
        columns in the export format).
    timezone : str
        IANA zone of ``ts_local`` values.

    Returns
    -------
    pl.DataFrame
        :data:`RAW_METER_SCHEMA`, one row per input row in input order. ``energy_wh``
        [Wh] is the interval energy, or the register reading on ``cumulative`` rows
        (``energy_kwh`` and ``value`` + ``unit`` are converted); ``interval_s`` [s]
        defaults to 900. A value that is missing or cannot be read as its type is null
        (a nonexistent local time too), so "not null" tests types.

    Raises
    ------
    ValueError
        If ``raw`` lacks the meter, timestamp or value column.
    """
    ts_col = next((c for c in ("ts_utc", "ts_local") if c in raw.columns), None)
    value_col = next((c for c in ("energy_wh", "energy_kwh", "value") if c in raw.columns), None)
    if "meter_id" not in raw.columns or ts_col is None or value_col is None:
        raise ValueError(f"not a meter export: columns {raw.columns}")
    meter = _null_if_blank(raw["meter_id"]).str.strip_chars()
    if ts_col == "ts_utc":
        ts = parse.parse_ts_utc(raw["ts_utc"])
    else:
        ts = _local_to_utc(raw, meter, timezone)
    number = parse.parse_number(raw[value_col])
    if value_col == "energy_kwh":
        number = number * 1_000.0
    elif value_col == "value":
        factor = (
            parse.parse_unit_factor(raw["unit"])
            if "unit" in raw.columns
            else pl.repeat(None, raw.height, dtype=pl.Float64, eager=True)
        )
        number = number * factor
    if "interval_s" in raw.columns:
        interval = parse.parse_interval_s(raw["interval_s"])[0]
    else:
        interval = pl.repeat(parse.DEFAULT_INTERVAL_S, raw.height, dtype=pl.Int32, eager=True)
    if "register" in raw.columns:
        cumulative, invalid = parse.parse_register(raw["register"])
        register = (
            pl.DataFrame({"c": cumulative, "i": invalid})
            .select(
                pl.when(pl.col("i"))
                .then(None)
                .when(pl.col("c"))
                .then(pl.lit(CUMULATIVE))
                .otherwise(pl.lit(INTERVAL))
            )
            .to_series()
        )
    else:
        register = pl.repeat(INTERVAL, raw.height, dtype=pl.String, eager=True)
    return pl.DataFrame(
        [
            meter.alias("meter_id"),
            ts.alias("ts_utc"),
            interval.alias("interval_s"),
            number.alias("energy_wh"),
            register.alias("register"),
        ]
    ).cast(RAW_METER_SCHEMA)  # type: ignore[arg-type]


def empty_raw_meter_frame() -> pl.DataFrame:
    return pl.DataFrame(schema=RAW_METER_SCHEMA)


# ---------------------------------------------------------------- derived columns


def with_interval_counts(
    frame: pl.DataFrame,
    series: Sequence[str],
    ts_col: str,
    interval_s: int,
    day_col: str = DAY,
    samples: bool = False,
) -> pl.DataFrame:
    """Add ``dq_intervals_present`` and ``dq_intervals_expected`` to each row.

    Parameters
    ----------
    frame : pl.DataFrame
        Rows with the ``series`` columns, ``ts_col`` (UTC) and ``day_col`` (Date, the
        UTC day of the batch the row belongs to).
    series : sequence of str
        Columns that identify one time series (meter, device and metric, ...).
    ts_col : str
        Start of the row's interval.
    interval_s : int
        Interval length [s] when the frame has no ``interval_s`` column (or it is null).
    samples : bool, default False
        Rows are samples at any rate (device telemetry, 1 Hz from MQTT or one per
        15 min from the sample site): an interval is present when it holds at least one
        sample of the series.

    Returns
    -------
    pl.DataFrame
        ``frame`` plus ``dq_intervals_present`` (distinct intervals of the row's
        series within its batch day) and ``dq_intervals_expected`` (86400 / interval
        length), both Int64. Rows timestamped outside their batch day (say, a
        cumulative baseline repeated from the day before) get nulls in both.
    """
    length = (
        pl.col("interval_s").cast(pl.Int64).fill_null(interval_s)
        if "interval_s" in frame.columns
        else pl.lit(interval_s, dtype=pl.Int64)
    )
    in_day = (pl.col(ts_col).dt.date() == pl.col(day_col)).fill_null(False)
    by = [*series, day_col]
    present = pl.col("__ts_in_day").drop_nulls().n_unique().over(by)
    start = pl.col(ts_col).dt.truncate(f"{interval_s}s") if samples else pl.col(ts_col)
    return (
        frame.with_columns(pl.when(in_day).then(start).alias("__ts_in_day"))
        .with_columns(
            pl.when(in_day).then(present).cast(pl.Int64).alias("dq_intervals_present"),
            pl.when(in_day).then(86_400 // length).cast(pl.Int64).alias("dq_intervals_expected"),
        )
        .drop("__ts_in_day")
    )


def with_register_steps(
    frame: pl.DataFrame,
    series: Sequence[str],
    ts_col: str = "ts_utc",
    value_col: str = "energy_wh",
    cumulative: pl.Expr | None = None,
) -> pl.DataFrame:
    """Add ``dq_register_step_wh``: each cumulative reading minus the meter's previous one.

    Readings are ordered by time within each series. A drop from at least 90 % of the
    register's width (the power of ten above the largest reading so far) is a
    rollover, as in :mod:`pipelines.meters.cumulative`, and counts as the step up to
    the width and on from zero. Any other drop stays negative: a non-monotonic register.
    Null on the first reading of a series, on rows that are not cumulative and where
    a value or timestamp is missing. Row order is kept.
    """
    cum = cumulative if cumulative is not None else pl.col("register") == CUMULATIVE
    work = frame.with_row_index("__row").with_columns(
        (
            cum.fill_null(False) & pl.col(value_col).is_not_null() & pl.col(ts_col).is_not_null()
        ).alias("__cum")
    )
    readings = work.filter(pl.col("__cum")).sort([*series, ts_col, "__row"])
    value = pl.col(value_col)
    prev = value.shift(1).over(series)
    largest_before = value.cum_max().shift(1).over(series)
    width = power_of_ten_above(largest_before.clip(lower_bound=1e-9))
    step = value - prev
    rollover = (step < 0) & (prev >= ROLLOVER_SHARE * width)
    steps = readings.select(
        "__row",
        pl.when(rollover).then(step + width).otherwise(step).alias("dq_register_step_wh"),
    )
    return (
        work.join(steps, on="__row", how="left", maintain_order="left")
        .drop("__row", "__cum")
        .with_columns(pl.col("dq_register_step_wh").cast(pl.Float64))
    )


def with_capacity(
    frame: pl.DataFrame,
    registry: pl.DataFrame,
    on: Sequence[str] = ("meter_id",),
    interval_s: int = parse.DEFAULT_INTERVAL_S,
    margin: float = CAPACITY_MARGIN,
) -> pl.DataFrame:
    """Add ``dq_cap_wh``: max_power_w × interval × margin [Wh] of the row's meter.

    The validator quarantines readings above this cap (``exceeds meter capacity``), so
    a reading above it cannot be physical. Null for a meter the registry lacks.
    """
    length = (
        pl.col("interval_s").cast(pl.Float64).fill_null(interval_s)
        if "interval_s" in frame.columns
        else pl.lit(float(interval_s))
    )
    caps = registry.select(*on, pl.col("max_power_w").cast(pl.Float64).alias("__max_w")).unique(
        list(on), keep="first", maintain_order=True
    )
    return (
        frame.join(caps, on=list(on), how="left", maintain_order="left", nulls_equal=False)
        .with_columns((pl.col("__max_w") * length / 3600 * margin).alias("dq_cap_wh"))
        .drop("__max_w")
    )


# ---------------------------------------------------------------- result rows


def day_start(day: date) -> datetime:
    """Midnight UTC of ``day`` (the ``day_utc`` of a result row)."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def dataset_scope(dataset: str, scope: str) -> str:
    """The ``data_quality_results`` partition of one dataset's results for one site or
    zone: its checks are its only writer, so no two processes ever write the same file."""
    return f"{dataset}@{scope}"


def result_frame(
    dataset: str,
    scope: str,
    day: date,
    suite: str,
    outcomes: Iterable[tuple[str, str | None, bool, str | None]],
    evaluated_at_utc: datetime,
) -> pl.DataFrame:
    """``data_quality_results`` rows of one suite run on one day's batch.

    Parameters
    ----------
    scope : str
        The site or grid zone whose rows the batch holds.
    outcomes : iterable of (expectation, column, success, observed)
        One per expectation; ``column`` is None for table-level expectations.
    evaluated_at_utc : datetime
        When the suite ran [UTC, timezone-aware].
    """
    rows = list(outcomes)
    return pl.DataFrame(
        {
            "dataset": [dataset] * len(rows),
            "scope": [scope] * len(rows),
            "dataset_scope": [dataset_scope(dataset, scope)] * len(rows),
            "day_utc": [day_start(day)] * len(rows),
            "suite": [suite] * len(rows),
            "expectation": [r[0] for r in rows],
            "column": [r[1] for r in rows],
            "success": [r[2] for r in rows],
            "observed": [r[3] for r in rows],
            "evaluated_at_utc": [evaluated_at_utc] * len(rows),
        },
        schema=SCHEMAS[RESULT_DATASET],
    )


def merge_results(stored: pl.DataFrame, new: pl.DataFrame, suites: Iterable[str]) -> pl.DataFrame:
    """One day's stored results with the rows of ``suites`` replaced by ``new``.

    Rows of other suites (other checks of the same dataset) stay. A new row whose
    outcome (success and observed value) equals the stored one keeps the stored
    ``evaluated_at_utc``, so re-running an unchanged check writes the same bytes; the
    column then reads "evaluated with this outcome since".

    Raises
    ------
    ValueError
        If ``new`` holds a suite outside ``suites`` or a key twice.
    """
    suites = list(suites)
    stored = stored.select(RESULT_COLUMNS).cast(SCHEMAS[RESULT_DATASET])  # type: ignore[arg-type]
    new = new.select(RESULT_COLUMNS).cast(SCHEMAS[RESULT_DATASET])  # type: ignore[arg-type]
    stray = set(new["suite"].unique().to_list()) - set(suites)
    if stray:
        raise ValueError(f"results of suites {sorted(stray)} not in {suites}")
    if new.select(RESULT_KEY).is_duplicated().any():
        dupes = new.filter(new.select(RESULT_KEY).is_duplicated()).head(3)
        raise ValueError(f"two results share a key {RESULT_KEY}: {dupes}")
    previous = stored.select(
        *RESULT_KEY,
        pl.col("success").alias("__s"),
        pl.col("observed").alias("__o"),
        pl.col("evaluated_at_utc").alias("__t"),
    )
    unchanged = (pl.col("success") == pl.col("__s")) & pl.col("observed").eq_missing(pl.col("__o"))
    new = (
        new.join(previous, on=RESULT_KEY, how="left", nulls_equal=True, maintain_order="left")
        .with_columns(
            pl.when(unchanged.fill_null(False))
            .then(pl.col("__t"))
            .otherwise(pl.col("evaluated_at_utc"))
            .alias("evaluated_at_utc")
        )
        .select(RESULT_COLUMNS)
    )
    kept = stored.filter(~pl.col("suite").is_in(suites))
    return pl.concat([kept, new]).sort(RESULT_KEY, nulls_last=False, maintain_order=True)


def empty_results() -> pl.DataFrame:
    return empty_frame(RESULT_DATASET)
