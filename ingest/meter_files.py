"""Read meter export files (CSV or Parquet).

The export format
-----------------
One row per meter and interval. Columns (any order, extra columns are ignored):

- ``meter_id`` (required)
- a timestamp, the start of the interval: ``ts_utc`` (ISO 8601 with ``Z`` or an explicit
  offset; naive values are read as UTC) **or** ``ts_local`` (naive wall-clock time in the
  site's time zone, as many meters export; the repeated hour of the autumn change is
  told apart by order of appearance)
- a value: ``energy_wh`` **or** ``energy_kwh`` **or** ``value`` with ``unit`` in
  {Wh, kWh, MWh} (case-insensitive)
- ``register`` (optional): ``interval`` (default: energy of the interval) or
  ``cumulative`` (a meter register reading; energy is the difference to the previous
  reading)
- ``interval_s`` (optional, default 900) and ``site_id`` (optional; taken from the
  meter registry when absent)

CSV files are read with every column as text, so a bad value is quarantined with the
text the file held. Parquet files keep their types.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

TIMESTAMP_COLUMNS = ("ts_utc", "ts_local")
VALUE_COLUMNS = ("energy_wh", "energy_kwh", "value")


class MeterFileError(ValueError):
    """A meter export cannot be read; the message names the file, the row and the fix."""


def _check_columns(path: Path, columns: list[str]) -> None:
    missing = []
    if "meter_id" not in columns:
        missing.append("meter_id")
    if not any(c in columns for c in TIMESTAMP_COLUMNS):
        missing.append(" or ".join(TIMESTAMP_COLUMNS))
    if not any(c in columns for c in VALUE_COLUMNS):
        missing.append(" or ".join(VALUE_COLUMNS))
    if (
        "value" in columns
        and "unit" not in columns
        and not any(c in columns for c in VALUE_COLUMNS[:2])
    ):
        missing.append("unit (required with value)")
    if missing:
        raise MeterFileError(
            f"{path}: missing required column(s) {', '.join(missing)}; found {columns}. "
            "See the export format in ingest/meter_files.py."
        )


def _read_csv(path: Path) -> pl.DataFrame:
    raw = path.read_bytes()
    if not raw.strip():
        raise MeterFileError(f"{path}: the file is empty; expected a header line and rows")
    if b"\0" in raw[:4096]:
        raise MeterFileError(f"{path}: binary content, not a CSV text file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise MeterFileError(
            f"{path}: line {line}: not UTF-8 text ({exc.reason}); re-export as UTF-8"
        ) from exc
    lines = text.splitlines()
    header = lines[0].split(",")
    for number, line in enumerate(lines[1:], start=2):
        if line.strip() and line.count(",") != len(header) - 1:
            raise MeterFileError(
                f"{path}: line {number}: {line.count(',') + 1} fields where the header has "
                f"{len(header)}; the file is truncated or malformed: {line[:80]!r}"
            )
    try:
        frame = pl.read_csv(text.encode(), infer_schema=False, truncate_ragged_lines=False)
    except pl.exceptions.PolarsError as exc:
        raise MeterFileError(f"{path}: cannot parse as CSV ({exc})") from exc
    # line number as an editor shows it: the header is line 1; blank lines are skipped by the reader
    data_lines = [n for n, line in enumerate(lines[1:], start=2) if line.strip()]
    return frame.with_columns(pl.Series("row_number", data_lines[: frame.height], dtype=pl.Int64))


def _read_parquet(path: Path) -> pl.DataFrame:
    try:
        frame = pl.read_parquet(path)
    except Exception as exc:  # polars raises several error types for corrupt files
        raise MeterFileError(
            f"{path}: not a readable Parquet file, truncated or corrupt ({exc})"
        ) from exc
    return frame.with_row_index("row_number", offset=1).with_columns(
        pl.col("row_number").cast(pl.Int64)
    )


def read_meter_export(path: str | Path) -> pl.DataFrame:
    """Read one export as delivered, with ``row_number`` and ``source`` added.

    Parameters
    ----------
    path : str or Path
        A ``.csv`` or ``.parquet`` file in the export format above.

    Returns
    -------
    pl.DataFrame
        The file's columns (text for CSV, stored types for Parquet), ``row_number``
        (CSV: the line in the file, header = 1; Parquet: 1-based row) and ``source``.

    Raises
    ------
    MeterFileError
        Unknown extension, empty, binary, non-UTF-8, ragged or truncated CSV, corrupt
        Parquet, or missing required columns.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame = _read_csv(path)
    elif suffix == ".parquet":
        frame = _read_parquet(path)
    else:
        raise MeterFileError(
            f"{path}: unsupported file type {suffix!r}; give a .csv or .parquet export"
        )
    _check_columns(path, frame.columns)
    return frame.with_columns(pl.lit(path.name).alias("source"))
