"""Read meter export files (CSV or Parquet) as delivered, for validation.

The export format
-----------------
One row per meter and interval (or per register reading). Columns, in any order;
names are matched after trimming blanks and lower-casing; other columns are kept and
ignored by validation:

``meter_id`` (required)
    The meter's id as in the meter registry.
``ts_utc`` **or** ``ts_local`` (required, one of them; ``ts_utc`` wins if both)
    ``ts_utc``: start of the interval, ISO 8601 with ``Z`` or an explicit offset
    (``2025-06-02T10:00:00Z``, ``2025-06-02T12:00:00+02:00``; a space may replace the
    ``T``, seconds and fractions are optional; a value without offset is taken as UTC).
    ``ts_local``: naive wall-clock time in the site's time zone, as many meters export
    (``2025-10-26 02:15``, ``2025-10-26T02:15:00`` or ``26.10.2025 02:15``). In the
    autumn the hour that occurs twice is told apart by order of appearance per meter
    (first = summer time, second = winter time); times in the skipped spring hour are
    quarantined.
``energy_wh`` **or** ``energy_kwh`` **or** ``value`` + ``unit`` (required, one of them)
    Energy of the interval [Wh] or [kWh]; or a number with its unit, one of ``Wh``,
    ``kWh``, ``MWh`` (any case). With ``register = cumulative`` the value is the meter's
    register reading instead. If several are present the first in this list is used.
``register`` (optional)
    ``interval`` (default; the energy of the interval) or ``cumulative`` (a register
    reading: the energy is the difference to the meter's previous reading).
``interval_s`` (optional, default 900)
    Interval length [s]; a whole number of seconds that divides 3600.
``site_id`` (optional)
    The site of the meter; needed only when a meter id is registered at several sites.

CSV: UTF-8 (a byte-order mark is allowed), comma-separated, first line = header,
double quotes for fields holding commas or line breaks. Parquet: any of the above
columns; ``ts_*`` may be Datetime columns and the values numeric columns.

What this module returns
------------------------
CSV files are read with every column as text (String), exactly as the file holds it,
so a bad value is quarantined with the text it had. Parquet columns keep their stored
types when they already are what the format asks for (Datetime timestamps, numeric
values and ``interval_s``); every other Parquet column is read as text. Casting a typed
Parquet file to text and parsing it back would cost more than the whole validation of
it (about 13 s per 35 million timestamps), and a typed Parquet column cannot hold an
unreadable value anyway.
"""

from __future__ import annotations

import codecs
import csv
import mmap
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl

TIMESTAMP_COLUMNS = ("ts_utc", "ts_local")
VALUE_COLUMNS = ("energy_wh", "energy_kwh", "value")
FORMAT_HINT = "See the export format in the ingest.meter_files module docstring."

_HEAD_BYTES = 1 << 16
_UTF8_BOM = codecs.BOM_UTF8
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


class MeterFileError(ValueError):
    """A meter export cannot be read; the message names the file, the line and the fix."""


def _fail(path: Path, problem: str, fix: str, line: int | None = None) -> MeterFileError:
    where = f"{path}: line {line}" if line is not None else str(path)
    return MeterFileError(f"{where}: {problem}; {fix}")


def normalise_column_name(name: str) -> str:
    """Column name as matched against the export format: trimmed, lower case."""
    return name.strip().lower()


def check_columns(path: Path, columns: list[str]) -> None:
    """Raise MeterFileError unless ``columns`` hold the format's required columns.

    Parameters
    ----------
    path : Path
        The file, for the message.
    columns : list of str
        Normalised column names.
    """
    missing = []
    if "meter_id" not in columns:
        missing.append("meter_id")
    if not any(c in columns for c in TIMESTAMP_COLUMNS):
        missing.append(" or ".join(TIMESTAMP_COLUMNS))
    if not any(c in columns for c in VALUE_COLUMNS):
        missing.append("energy_wh, energy_kwh or value+unit")
    elif not any(c in columns for c in VALUE_COLUMNS[:2]) and "unit" not in columns:
        missing.append("unit (required with value)")
    if missing:
        hint = ""
        if len(columns) == 1 and any(sep in columns[0] for sep in ";\t|"):
            hint = " The header looks like it uses another separator; export with commas."
        raise _fail(
            path,
            f"missing required column(s) {', '.join(missing)} (found {columns})",
            f"add them to the export.{hint} {FORMAT_HINT}",
        )


def _renamed(path: Path, names: list[str], line: int | None = None) -> dict[str, str]:
    """Mapping of the file's column names to normalised ones; MeterFileError on clashes."""
    normal = [normalise_column_name(n) for n in names]
    clashes = sorted(n for n, count in Counter(normal).items() if count > 1)
    if clashes:
        raise _fail(path, f"duplicate column(s) {clashes}", "keep one of each", line)
    return dict(zip(names, normal, strict=True))


# ---------------------------------------------------------------- CSV


def _check_text_head(path: Path, head: bytes) -> None:
    """Empty, binary and UTF-16 files fail before any parsing."""
    if not head.strip():
        raise _fail(path, "the file is empty", "expected a header line and one row per reading")
    if head.startswith(_UTF16_BOMS):
        raise _fail(path, "the file is UTF-16 text", "re-export it as UTF-8 CSV")
    if b"\0" in head:
        raise _fail(path, "binary content, not CSV text", "check that the right file was delivered")


def _header_names(path: Path, head: bytes) -> list[str]:
    """The column names on the first line (csv quoting rules); MeterFileError if unreadable.

    A stray carriage return or NUL inside the line makes the csv module give up; that is
    a damaged file, reported as such and not as a crash.
    """
    text = head.removeprefix(_UTF8_BOM).split(b"\n", 1)[0].decode("utf-8", errors="replace")
    try:
        return next(csv.reader([text.rstrip("\r")]), [])
    except csv.Error as exc:
        raise _fail(path, f"cannot read the header line ({exc})", "re-export it", line=1) from exc


def _first_bad_utf8_line(data: mmap.mmap | bytes) -> tuple[int, str] | None:
    """Line number and reason of the first byte sequence that is not UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    chunk = 1 << 22
    for start in range(0, len(data), chunk):
        block = data[start : start + chunk]
        try:
            decoder.decode(block, final=start + chunk >= len(data))
        except UnicodeDecodeError as exc:
            offset = max(start + exc.start - len(decoder.getstate()[0]), 0)
            return data[:offset].count(b"\n") + 1, exc.reason
    return None


def _ragged(path: Path, line: int, fields: int, width: int, text: str) -> MeterFileError:
    return _fail(
        path,
        f"{fields} fields where the header has {width}: {text[:80]!r}",
        "the file is truncated or malformed; re-export it",
        line,
    )


def _read_failed(path: Path, data: mmap.mmap, exc: Exception) -> MeterFileError:
    """The clearest error for a file the CSV reader rejected."""
    if (bad := _first_bad_utf8_line(data)) is not None:
        return _fail(path, f"not UTF-8 text ({bad[1]})", "re-export the file as UTF-8", bad[0])
    return _fail(path, f"cannot parse as CSV ({str(exc).splitlines()[0]})", "re-export it")


def _read_plain(path: Path, data: mmap.mmap, names: list[str]) -> pl.DataFrame:
    """A CSV without quotes: read whole lines, count their fields, then split them.

    Each line is one record, so a row's line number is its index, and a line with more
    or fewer fields than the header is found exactly (a CSV reader would pad short
    lines with empty fields).
    """
    try:
        lines = pl.read_csv(
            path,
            has_header=False,
            separator="\x1f",  # not in a plain file (checked): one field per line
            quote_char=None,
            infer_schema=False,
            empty_string_is_null=False,
            new_columns=["line"],
        )
    except pl.exceptions.PolarsError as exc:
        raise _read_failed(path, data, exc) from exc
    body = lines.with_row_index("row_number", offset=1).slice(1)
    body = body.filter(pl.col("line").str.strip_chars() != "")
    fields = pl.col("line").str.count_matches(",", literal=True) + 1
    ragged = body.filter(fields != len(names)).head(1)
    if ragged.height:
        line, text = ragged.row(0)
        raise _ragged(path, line, text.count(",") + 1, len(names), text)
    split = pl.col("line").str.split_exact(",", len(names) - 1)
    return body.select(
        split.struct.rename_fields(names).struct.unnest(),
        pl.col("row_number").cast(pl.Int64),
    )


def _records(data: mmap.mmap) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per CSV record (the header is record 0): first line, field count, blank flag.

    A newline or comma counts only outside double quotes, i.e. where the number of
    quote characters before it is even (an escaped quote ``""`` counts twice). Also
    returns the positions of the quote characters.
    """
    buffer = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buffer == ord("\n"))
    quotes = np.flatnonzero(buffer == ord('"'))
    commas = np.flatnonzero(buffer == ord(","))
    blanks = np.flatnonzero(np.isin(buffer, np.frombuffer(b" \t\r", dtype=np.uint8)))
    del buffer  # release the mmap
    end_index = np.flatnonzero(np.searchsorted(quotes, newlines) % 2 == 0)
    ends = newlines[end_index]
    commas = commas[np.searchsorted(quotes, commas) % 2 == 0]
    n_records = ends.size + 1
    fields = np.bincount(np.searchsorted(ends, commas), minlength=n_records) + 1
    starts = np.concatenate([[0], ends + 1])
    length = np.concatenate([ends, [len(data)]]) - starts
    n_blanks = np.bincount(np.searchsorted(ends, blanks), minlength=n_records)
    first_line = np.concatenate([[1], end_index + 2])
    return first_line, fields, (fields == 1) & (length == n_blanks), quotes


def _read_quoted(path: Path, data: mmap.mmap, names: list[str]) -> pl.DataFrame:
    """A CSV with quoted fields: the reader parses, :func:`_records` numbers and checks."""
    first_line, fields, blank, quotes = _records(data)
    if quotes.size % 2:
        line = data[: int(quotes[-1])].count(b"\n") + 1
        raise _fail(path, "a double quote is never closed", "fix the quoting of the field", line)
    try:
        frame = pl.read_csv(
            path,
            infer_schema=False,
            empty_string_is_null=False,
            truncate_ragged_lines=True,  # checked below, with the line number
            new_columns=names,
        )
    except pl.exceptions.PolarsError as exc:
        raise _read_failed(path, data, exc) from exc
    rows = slice(1, 1 + frame.height)  # a final line break opens no record
    ragged = np.flatnonzero((fields[rows] != len(names)) & ~blank[rows])
    if ragged.size:
        line = int(first_line[rows][ragged[0]])
        text = data[:].split(b"\n")[line - 1].decode("utf-8", "replace")
        raise _ragged(path, line, int(fields[rows][ragged[0]]), len(names), text)
    return frame.with_columns(pl.Series("row_number", first_line[rows], dtype=pl.Int64)).filter(
        ~pl.Series(blank[rows])
    )


def _read_csv(path: Path) -> pl.DataFrame:
    with path.open("rb") as handle:
        head = handle.read(_HEAD_BYTES)
        _check_text_head(path, head)
        names = list(_renamed(path, _header_names(path, head), line=1).values())
        check_columns(path, names)
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            if data.find(b'"') == -1 and data.find(b"\x1f") == -1:
                return _read_plain(path, data, names)
            return _read_quoted(path, data, names)


# ---------------------------------------------------------------- Parquet


def _typed_ok(name: str, dtype: pl.DataType) -> bool:
    """Whether a Parquet column's stored type is what the export format asks for."""
    if name in TIMESTAMP_COLUMNS:
        return isinstance(dtype, pl.Datetime)
    if name in (*VALUE_COLUMNS, "interval_s"):
        return dtype.is_numeric()
    return dtype == pl.String


def _read_parquet(path: Path) -> pl.DataFrame:
    """A Parquet export, its columns checked from the footer before the data is read."""
    if path.stat().st_size == 0:
        raise _fail(path, "the file is empty", "expected a Parquet export with rows")
    corrupt = (
        "not a readable Parquet file, truncated or corrupt ({})",
        "re-export or re-send the file",
    )
    try:
        scan = pl.scan_parquet(path)
        schema = scan.collect_schema()  # the footer only: check columns before reading
    except Exception as exc:  # polars raises several error types for corrupt files
        raise _fail(path, corrupt[0].format(type(exc).__name__), corrupt[1]) from exc
    names = _renamed(path, list(schema))
    check_columns(path, list(names.values()))
    if any(old != new for old, new in names.items()):
        scan = scan.rename(names)
    text = [
        pl.col(names[c]).cast(pl.String)
        for c, dtype in schema.items()
        if not _typed_ok(names[c], dtype)
    ]
    try:
        # one chunk per column: the row-by-row checks downstream run much faster on it
        frame = (scan.with_columns(text) if text else scan).collect().rechunk()
    except Exception as exc:
        raise _fail(path, corrupt[0].format(type(exc).__name__), corrupt[1]) from exc
    number = pl.int_range(1, frame.height + 1, dtype=pl.Int64, eager=True)
    return frame.drop("row_number", "source", strict=False).with_columns(
        number.alias("row_number"), pl.lit(path.name, dtype=pl.String).alias("source")
    )


def read_meter_export(path: str | Path) -> pl.DataFrame:
    """Read one meter export as delivered, with ``row_number`` and ``source`` added.

    Parameters
    ----------
    path : str or Path
        A ``.csv`` or ``.parquet`` file in the export format (module docstring).

    Returns
    -------
    pl.DataFrame
        The file's columns under normalised names (text for CSV; for Parquet, stored
        types where they fit the format, text otherwise), then ``row_number`` (Int64;
        CSV: the line on which the row starts as an editor shows it, header = line 1;
        Parquet: the 1-based row) and ``source`` (the file's name). Blank CSV lines
        are skipped.

    Raises
    ------
    MeterFileError
        Unknown extension; empty file; binary, UTF-16 or otherwise non-UTF-8 CSV (with
        the line); a CSV line with more or fewer fields than the header (with the
        line); truncated or corrupt Parquet; duplicate or missing required columns.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path).with_columns(pl.lit(path.name, dtype=pl.String).alias("source"))
    if suffix == ".parquet":
        return _read_parquet(path)
    raise _fail(
        path, f"unsupported file type {suffix or '(none)'!r}", "give a .csv or .parquet export"
    )
