"""Parse the columns of a meter export into typed values, one vectorised pass per column.

Every parser takes a column as delivered (text from a CSV, or a typed Parquet column)
and returns a typed Series of the same length with null where a value cannot be
read. Large exports are uniform, so each parser first picks the one format that reads
the first value and applies it to every row; only the rows it could not read are
tried again with the other accepted formats (and with surrounding blanks removed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

import polars as pl

UTC_TS = pl.Datetime("us", "UTC")
LOCAL_TS = pl.Datetime("us")

#: Conversion factors to Wh of the accepted units (keys in lower case).
UNIT_FACTORS_TO_WH = {"wh": 1.0, "kwh": 1_000.0, "mwh": 1_000_000.0}

#: Default interval length [s] when an export has no ``interval_s``.
DEFAULT_INTERVAL_S = 900

# localize() tabulates UTC offsets per minute of the export's span; a span longer than
# this (a garbage year in a file) is converted row by row instead
_MAX_GRID_MINUTES = 6 * 366 * 24 * 60

Parser = Callable[[pl.Series], pl.Series]


def _strptime(fmt: str, dtype: pl.DataType) -> Parser:
    """A parser of text in ``fmt`` to ``dtype`` (UTC instants, or naive local times)."""

    def parse(text: pl.Series) -> pl.Series:
        out = text.str.to_datetime(fmt, strict=False, time_unit="us")
        if dtype == UTC_TS and out.dtype.time_zone is None:  # type: ignore[union-attr]
            out = out.dt.replace_time_zone("UTC")
        elif dtype == UTC_TS:
            out = out.dt.convert_time_zone("UTC")
        return out.cast(dtype)

    return parse


def _tidy_iso(parser: Parser) -> Parser:
    """Apply ``parser`` after removing blanks and writing the date-time separator as T."""
    return lambda text: parser(text.str.strip_chars().str.replace(" ", "T", literal=True, n=1))


def _tidy(parser: Parser) -> Parser:
    """Apply ``parser`` after removing surrounding blanks."""
    return lambda text: parser(text.str.strip_chars())


# ISO 8601 with Z or an offset; naive values in a ts_utc column are UTC by its name
_UTC_PARSERS: tuple[Parser, ...] = (
    _strptime("%Y-%m-%dT%H:%M:%SZ", UTC_TS),  # the common shape, parsed fastest
    _tidy_iso(_strptime("%Y-%m-%dT%H:%M:%S%.f%#z", UTC_TS)),
    _tidy_iso(_strptime("%Y-%m-%dT%H:%M%#z", UTC_TS)),
    _tidy_iso(_strptime("%Y-%m-%dT%H:%M:%S%.f", UTC_TS)),
    _tidy_iso(_strptime("%Y-%m-%dT%H:%M", UTC_TS)),
)

_LOCAL_PARSERS: tuple[Parser, ...] = (
    _strptime("%Y-%m-%d %H:%M:%S", LOCAL_TS),
    _strptime("%Y-%m-%d %H:%M", LOCAL_TS),
    _tidy_iso(_strptime("%Y-%m-%dT%H:%M:%S%.f", LOCAL_TS)),
    _tidy_iso(_strptime("%Y-%m-%dT%H:%M", LOCAL_TS)),
    _tidy(_strptime("%d.%m.%Y %H:%M:%S", LOCAL_TS)),
    _tidy(_strptime("%d.%m.%Y %H:%M", LOCAL_TS)),
)


def parse_first_fit(text: pl.Series, parsers: Sequence[Parser]) -> pl.Series:
    """Parse ``text`` with the parser that reads its first value, then retry failures.

    Parameters
    ----------
    text : pl.Series
        String values.
    parsers : sequence of callables
        Each maps a String Series to a typed Series (null where it cannot read a value),
        all returning the same dtype.

    Returns
    -------
    pl.Series
        Typed values; null where no parser could read the input (or the input is null).
    """
    first = text.drop_nulls().head(1)
    order = list(parsers)
    for i, parser in enumerate(parsers):
        if first.len() and parser(first).null_count() == 0:
            order.insert(0, order.pop(i))
            break
    out = order[0](text)
    for parser in order[1:]:
        failed = out.is_null() & text.is_not_null()
        if not failed.any():
            break
        index = failed.arg_true()
        out = out.scatter(index, parser(text.gather(index)))
    return out


def as_text(values: pl.Series) -> pl.Series:
    """The values as String (a no-op for text columns)."""
    return values if values.dtype == pl.String else values.cast(pl.String)


def parse_ts_utc(values: pl.Series) -> pl.Series:
    """Instants of a ``ts_utc`` column.

    Parameters
    ----------
    values : pl.Series
        ISO 8601 text with ``Z`` or an offset (naive text counts as UTC), or a Datetime
        column (naive Datetime counts as UTC).

    Returns
    -------
    pl.Series
        Datetime("us", "UTC"); null where the value is missing or unreadable.
    """
    if isinstance(values.dtype, pl.Datetime):
        if values.dtype.time_zone is None:
            return values.dt.replace_time_zone("UTC").cast(UTC_TS)
        return values.dt.convert_time_zone("UTC").cast(UTC_TS)
    return parse_first_fit(as_text(values), _UTC_PARSERS)


def parse_ts_local(values: pl.Series) -> pl.Series:
    """Naive wall-clock times of a ``ts_local`` column.

    Accepts ``YYYY-MM-DD HH:MM[:SS]``, the same with ``T``, and ``DD.MM.YYYY HH:MM[:SS]``.
    A typed Datetime column is taken as is (a zone-aware one as its wall-clock time in
    that zone is not local to the site, so it should be given as ``ts_utc`` instead).

    Returns
    -------
    pl.Series
        Naive Datetime("us"); null where missing or unreadable.
    """
    if isinstance(values.dtype, pl.Datetime) and values.dtype.time_zone is None:
        return values.cast(LOCAL_TS)
    return parse_first_fit(as_text(values), _LOCAL_PARSERS)


def localize(naive: pl.Series, timezone: str) -> tuple[pl.Series, pl.Series]:
    """Both UTC readings of naive local times: the earlier and the later instant.

    They differ only in the repeated hour of the autumn change; both are null for a
    local time that does not exist (the skipped hour of the spring change).

    Parameters
    ----------
    naive : pl.Series
        Naive Datetime wall-clock times in ``timezone``.
    timezone : str
        IANA zone name, e.g. ``"Europe/Berlin"``.

    Returns
    -------
    (pl.Series, pl.Series)
        Datetime("us", "UTC") of the earliest and the latest reading.

    Notes
    -----
    Converting every row through the time-zone database is slow on large exports; the
    UTC offsets are computed once per minute of the file's time span and looked up.
    Zone transitions fall on whole minutes.
    """
    naive = naive.cast(LOCAL_TS)
    lo, hi = naive.min(), naive.max()
    if lo is None or (hi - lo) // timedelta(minutes=1) > _MAX_GRID_MINUTES:  # type: ignore[operator]
        return tuple(  # type: ignore[return-value]
            naive.dt.replace_time_zone(timezone, ambiguous=a, non_existent="null")
            .dt.convert_time_zone("UTC")
            .cast(UTC_TS)
            for a in ("earliest", "latest")
        )
    start = lo.replace(second=0, microsecond=0)  # type: ignore[union-attr]
    grid = pl.datetime_range(start, hi, "1m", time_unit="us", eager=True)
    wall = grid.to_physical()
    minute = ((naive.to_physical() - wall[0]) // 60_000_000).cast(pl.UInt32)
    out = []
    for ambiguous in ("earliest", "latest"):
        instant = grid.dt.replace_time_zone(timezone, ambiguous=ambiguous, non_existent="null")
        offset = wall - instant.to_physical()  # wall clock minus UTC [us]
        out.append((naive.to_physical() - offset.gather(minute)).cast(UTC_TS))
    return out[0], out[1]


def parse_number(values: pl.Series) -> pl.Series:
    """Float64 of a numeric or text column; null where missing, unreadable or not finite."""
    if values.dtype.is_numeric():
        out = values.cast(pl.Float64)
    else:
        out = parse_first_fit(
            as_text(values),
            [
                lambda t: t.cast(pl.Float64, strict=False),
                lambda t: t.str.strip_chars().cast(pl.Float64, strict=False),
            ],
        )
    if out.is_finite().all():  # the common case: no NaN or inf to blank out
        return out
    return out.set(~out.is_finite().fill_null(True), None)


def parse_unit_factor(units: pl.Series) -> pl.Series:
    """Factor to Wh [Wh per unit] of each unit name (Wh, kWh, MWh, any case); else null."""
    text = as_text(units)
    mapping = {**UNIT_FACTORS_TO_WH, "Wh": 1.0, "kWh": 1_000.0, "MWh": 1_000_000.0}
    return parse_first_fit(
        text,
        [
            lambda t: t.replace_strict(mapping, default=None, return_dtype=pl.Float64),
            lambda t: (
                t.str.strip_chars()
                .str.to_lowercase()
                .replace_strict(UNIT_FACTORS_TO_WH, default=None, return_dtype=pl.Float64)
            ),
        ],
    )


def parse_interval_s(values: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Interval lengths [s] and a flag of invalid ones.

    A missing value means the default (900 s). A valid length is a positive whole
    number of seconds that divides one hour, so every interval lies within one hour.

    Returns
    -------
    (pl.Series, pl.Series)
        Int32 lengths (null where invalid) and Boolean ``invalid``.
    """
    number = parse_number(values)
    whole = number.cast(pl.Int64, strict=False)
    valid = (
        (whole == number) & (whole > 0) & (whole <= 3600) & (3600 % whole.clip(1) == 0)
    ).fill_null(False)
    missing = as_text(values).str.strip_chars().fill_null("") == ""
    invalid = ~valid & ~missing
    interval = whole.set(missing, DEFAULT_INTERVAL_S).set(invalid, None).cast(pl.Int32)
    return interval, invalid


def parse_register(values: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Whether each row is a cumulative register reading, and a flag of unknown types.

    ``interval`` (also a missing value) and ``cumulative``, any case.

    Returns
    -------
    (pl.Series, pl.Series)
        Boolean ``cumulative`` and Boolean ``invalid``.
    """
    codes = {"interval": 0, "cumulative": 1, "": 0}
    text = as_text(values).fill_null("")
    code = parse_first_fit(
        text,
        [
            lambda t: t.replace_strict(codes, default=None, return_dtype=pl.Int8),
            lambda t: (
                t.str.strip_chars()
                .str.to_lowercase()
                .replace_strict(codes, default=None, return_dtype=pl.Int8)
            ),
        ],
    )
    return (code == 1).fill_null(False), code.is_null()
