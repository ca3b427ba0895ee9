"""Fuzz: meter exports through the path of ``novaenergy ingest meters PATH``.

Contract: a file either lands with every row accounted for (rows in + spread intervals =
accepted + quarantined + duplicates ignored, and the lake holds exactly those readings and
quarantine rows), or it fails with :class:`MeterFileError` naming the file, which the CLI
turns into exit code 2. Random bytes, truncated and corrupted CSV, wrong encodings and
extreme values (huge, negative, NaN, inf energy; timestamps far in the past or future).
"""

from __future__ import annotations

import io
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import polars as pl
from hypothesis import example, given
from hypothesis import strategies as st

from ingest.meter_files import MeterFileError
from ingest.meter_landing import (
    EARLIEST_READING_UTC,
    LATEST_READING_UTC,
    LandingReport,
    land_meter_file,
)
from novaenergy.cli import main
from pipelines import lake
from tests.fuzz.strategies import ABSURD_NUMBERS, ENCODINGS, bounded, mangled_bytes

NOW = datetime(2026, 1, 1, tzinfo=UTC)
REGISTRY = pl.DataFrame(
    {
        "site_id": ["s", "s"],
        "meter_id": ["m1", "m2"],
        "kind": ["load", "load"],
        "description": ["", ""],
        "max_power_w": [1e5, 1e12],  # m2 lets absurd energies past the capacity check
    }
)

METER_IDS = st.sampled_from(["m1", "m2", "m3", "", " m1 ", "M1", "mä"])
ENERGY_TEXT = st.sampled_from(
    ["1", "-1", "-0", "nan", "inf", "-inf", "1e309", "9" * 400, "", " 5 ", "0x10", "١", "1e-320"]
) | ABSURD_NUMBERS.map(str)
UTC_TIMES = st.sampled_from(
    [
        "2025-06-02T10:00:00Z",
        "2025-06-02T10:15:00+02:00",
        "2025-06-02 10:30",
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+14:00",
        "-0001-01-01T00:00:00Z",
        "1969-12-31T23:45:00Z",
        "2262-04-11T23:47:16Z",
        "9999-12-31T23:45:00Z",
        "10000-01-01T00:00:00Z",
        "2025-02-30T00:00:00Z",
        "2025-06-02T10:00:00.123456789Z",
        "garbage",
        "",
    ]
)
LOCAL_TIMES = st.sampled_from(
    [
        "2025-10-26 02:15",
        "2025-10-26 02:15",  # twice: the repeated autumn hour
        "2025-03-30 02:30",  # the skipped spring hour
        "26.10.2025 02:15",
        "0000-01-01 00:00",
        "-0001-01-01 00:00",
        "+10000-01-01 00:00",
        "31.12.9999 23:59",
        "x",
    ]
)
OPTIONAL_FIELDS = {
    "interval_s": st.sampled_from(["900", "3600", "0", "-900", "7", "900.0", "1e9", ""]),
    "register": st.sampled_from(["interval", "cumulative", "CUMULATIVE", "", "x"]),
    "site_id": st.sampled_from(["s", "t", ""]),
}


@st.composite
def meter_csv(draw) -> tuple[str, int]:
    """A CSV export in the documented format with bad values: (text, data rows)."""
    time_column = draw(st.sampled_from(["ts_utc", "ts_local"]))
    value_column = draw(st.sampled_from(["energy_wh", "energy_kwh", "value"]))
    columns = ["meter_id", time_column, value_column]
    fields = {
        "meter_id": METER_IDS,
        time_column: UTC_TIMES if time_column == "ts_utc" else LOCAL_TIMES,
        value_column: ENERGY_TEXT,
        "unit": st.sampled_from(["Wh", "kWh", "MWh", "GWh", " wh", ""]),
        **OPTIONAL_FIELDS,
    }
    if value_column == "value":
        columns.append("unit")
    columns += draw(st.lists(st.sampled_from(sorted(OPTIONAL_FIELDS)), unique=True))
    rows = draw(st.lists(st.tuples(*(fields[c] for c in columns)), max_size=8))
    end = draw(st.sampled_from(["", "\n", "\r\n"]))
    text = "\n".join([",".join(columns)] + [",".join(row) for row in rows]) + end
    return text, len(rows)


@st.composite
def delivered_csv(draw) -> tuple[bytes, int | None]:
    """A CSV export as delivered: in some encoding, maybe corrupted.

    Returns the bytes and the number of data rows, or None when they were corrupted
    (the count is then unknown).
    """
    text, rows = draw(meter_csv())
    encoding = draw(st.sampled_from(ENCODINGS))
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:  # Arabic digits in latin-1
        data = text.encode("utf-8")
    if draw(st.booleans()):
        return data, rows
    return draw(mangled_bytes(data)), None


def land_and_check(data: bytes, suffix: str) -> LandingReport | None:
    """Land ``data`` as a file in a fresh lake and check the contract; None if refused."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "lake"
        lake.write_partition(root, "meter_registry", REGISTRY, "s")
        path = Path(folder) / f"export{suffix}"
        path.write_bytes(data)
        try:
            report = land_meter_file(path, root, "Europe/Berlin", NOW)
        except MeterFileError as refused:
            assert str(path) in str(refused) and "; " in str(refused)  # the file, then the fix
            return None
        readings = lake.scan(root, "meter_readings").collect()
        quarantine = lake.scan(root, "meter_quarantine").collect()
    landed = report.accepted + report.quarantined + report.duplicates_ignored
    assert report.rows_in + report.spread_intervals_added == landed
    assert readings.height == report.accepted
    assert quarantine.height == report.quarantined == sum(report.reasons.values())
    assert (quarantine["reason"].str.len_chars() > 0).all()
    assert readings["energy_wh"].is_finite().all() and (readings["energy_wh"] >= 0).all()
    window = (EARLIEST_READING_UTC, LATEST_READING_UTC)
    assert readings["ts_utc"].is_between(*window, closed="left").all()
    return report


@given(delivered=delivered_csv())
@example(delivered=(b"meter_id,ts_utc,energy_wh\nm1,-0001-01-01T00:00:00Z,3\n", 1))
@example(delivered=(b"meter_id,ts_local,energy_wh\nm1,0000-01-01 00:00,3\n", 1))
@example(delivered=(b"meter_id,ts_utc\renergy_wh\nm1,2025-06-02T10:00:00Z,3\n", None))
@example(delivered=("meter_id,ts_utc,energy_wh\nmä,2025-06-02T10:00:00Z,3\n".encode("latin-1"), 1))
@bounded(200)
def test_csv_exports_land_every_row_or_fail_naming_the_file(delivered):
    data, rows = delivered
    report = land_and_check(data, ".csv")
    if report is not None and rows is not None:
        assert report.rows_in == rows  # no row of the file goes missing


@given(data=st.binary(max_size=300))
@bounded(100)
def test_random_bytes_are_refused_or_landed_as_csv_and_as_parquet(data):
    land_and_check(data, ".csv")
    land_and_check(data, ".parquet")


# [us since 1970]: two in 2025, 1970 (a clock reset), 2000, then year 1, year 9999 and about
# 146,000 years either side. A cumulative register read in 1970 and again in 2025 is not
# spread over the 1.9 million intervals between (pipelines.meters.validate.MAX_SPREAD_S).
EXTREME_US = st.sampled_from(
    [None, 1_748_858_400_000_000, 1_748_859_300_000_000, 0, 946_684_800_000_000]
    + [-62_135_596_800_000_000, 253_402_300_799_000_000, -(2**62), 2**62]
)
FLOAT_EXTREMES = ABSURD_NUMBERS.filter(lambda v: isinstance(v, float) or abs(v) <= 2**64).map(float)
VALUE_TYPES = st.sampled_from([pl.Float64, pl.Float32, pl.Int64, pl.UInt64, pl.Int8, pl.String])


@st.composite
def typed_parquet_frame(draw) -> pl.DataFrame:
    """A Parquet export with typed columns holding extreme times and values."""
    n = draw(st.integers(0, 6))
    micros = pl.Series(draw(st.lists(EXTREME_US, min_size=n, max_size=n)), dtype=pl.Int64)
    time_column = draw(st.sampled_from(["ts_utc", "ts_local"]))
    zone = None if time_column == "ts_local" else draw(st.sampled_from([None, "UTC", "Asia/Tokyo"]))
    values = draw(st.lists(FLOAT_EXTREMES, min_size=n, max_size=n))
    columns = {
        "meter_id": pl.Series(draw(st.lists(METER_IDS, min_size=n, max_size=n)), dtype=pl.String),
        time_column: micros.cast(pl.Datetime("us", zone)),
        "energy_wh": pl.Series(values, dtype=pl.Float64).cast(draw(VALUE_TYPES), strict=False),
    }
    if draw(st.booleans()):
        intervals = st.sampled_from([900, 3600, 0, -1, 2**62, None])
        columns["interval_s"] = pl.Series(
            draw(st.lists(intervals, min_size=n, max_size=n)), dtype=pl.Int64
        )
    if draw(st.booleans()):
        registers = st.sampled_from(["cumulative", "interval", None])
        columns["register"] = pl.Series(
            draw(st.lists(registers, min_size=n, max_size=n)), dtype=pl.String
        )
    return pl.DataFrame(columns)


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


@given(frame=typed_parquet_frame())
@example(  # year 0 as a typed local time crashed the time-zone step
    frame=pl.DataFrame(
        {
            "meter_id": ["m2"],
            "ts_local": pl.Series([-62_198_755_200_000_000]).cast(pl.Datetime("us")),
            "energy_wh": [1.0],
        }
    )
)
@example(  # local midnight of 1970-01-01 in Berlin is 1969: stored outside the window
    frame=pl.DataFrame(
        {
            "meter_id": ["m1"],
            "ts_local": pl.Series([0]).cast(pl.Datetime("us")),
            "energy_wh": [0.0],
        }
    )
)
@example(  # a register read in 1970 (clock reset) and in 2025: spread over 55 years until
    frame=pl.DataFrame(  # gaps were bounded
        {
            "meter_id": ["m1", "m1"],
            "ts_utc": pl.Series([0, 1_748_858_400_000_000]).cast(pl.Datetime("us", "UTC")),
            "energy_wh": [10.0, 20.0],
            "register": ["cumulative", "cumulative"],
        }
    )
)
@bounded(100)
def test_typed_parquet_with_extreme_values_lands_every_row(frame):
    report = land_and_check(parquet_bytes(frame), ".parquet")
    assert report is not None and report.rows_in == frame.height


@given(delivered=delivered_csv())
@example(delivered=(b"meter_id,ts_utc\renergy_wh\n", None))  # was exit code 1, csv.Error
@bounded(100, slow_fixture=True)
def test_the_cli_answers_bad_meter_files_with_exit_code_2(delivered, capsys):
    data, _ = delivered
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "lake"
        lake.write_partition(root, "meter_registry", REGISTRY, "s")
        path = Path(folder) / "export.csv"
        path.write_bytes(data)
        with mock.patch.dict(os.environ, {"NOVAENERGY_LAKE_ROOT": str(root)}):
            code = main(["ingest", "meters", str(path)])
    out, err = capsys.readouterr()
    assert code in (0, 2), err
    if code == 2:
        assert err.startswith(f"error: {path}") and "Traceback" not in err
    else:
        assert "rows in" in out and not err
