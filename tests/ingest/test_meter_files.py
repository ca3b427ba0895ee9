from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from ingest.meter_files import MeterFileError, read_meter_export

DATA = Path(__file__).resolve().parents[1] / "data" / "meters"


def write(tmp_path: Path, name: str, content: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_csv_is_read_verbatim_as_text_with_editor_line_numbers():
    frame = read_meter_export(str(DATA / "kwh_export.csv"))  # str or Path
    assert frame.columns == ["meter_id", "ts_utc", "energy_kwh", "row_number", "source"]
    assert all(frame.schema[c] == pl.String for c in ("meter_id", "ts_utc", "energy_kwh"))
    assert frame["energy_kwh"].to_list() == ["1.2505", "1.3", "1.1"]  # not re-formatted
    assert frame["ts_utc"][2] == "2025-06-02T12:30:00+02:00"
    assert frame.schema["row_number"] == pl.Int64
    assert frame["row_number"].to_list() == [2, 3, 4]
    assert frame["source"].unique().to_list() == ["kwh_export.csv"]


def test_line_numbers_skip_blank_lines_and_follow_quoted_line_breaks(tmp_path):
    path = write(
        tmp_path,
        "notes.csv",
        "meter_id,ts_utc,energy_wh,note\r\n"
        'load-hvac,2025-06-02T10:00:00Z,1,"door open\r\nall day"\r\n'
        "\r\n"
        'load-hvac,2025-06-02T10:15:00Z,2,"says ""ok"", fine"\r\n'
        "load-hvac,2025-06-02T10:30:00Z,3,\r\n",
    )
    frame = read_meter_export(path)
    assert frame["row_number"].to_list() == [2, 5, 6]
    assert frame["note"].to_list() == ["door open\r\nall day", 'says "ok", fine', ""]
    assert frame["energy_wh"].to_list() == ["1", "2", "3"]


def test_plain_csv_skips_blank_lines_keeping_line_numbers(tmp_path):
    path = write(
        tmp_path,
        "gappy.csv",
        "meter_id,ts_utc,energy_wh\nm,2025-06-02T10:00:00Z,1\n\n   \nm,2025-06-02T10:15:00Z,\n\n",
    )
    frame = read_meter_export(path)
    assert frame["row_number"].to_list() == [2, 5]
    assert frame["energy_wh"].to_list() == ["1", ""]  # an empty field stays empty text


def test_header_names_are_trimmed_and_lower_cased(tmp_path):
    path = write(tmp_path, "bom.csv", b"\xef\xbb\xbf Meter_ID ,TS_UTC,Energy_Wh\nm,x,1\n")
    assert read_meter_export(path).columns[:3] == ["meter_id", "ts_utc", "energy_wh"]


def test_header_only_file_gives_no_rows(tmp_path):
    frame = read_meter_export(write(tmp_path, "none.csv", "meter_id,ts_local,value,unit\n"))
    assert frame.height == 0
    assert frame.columns == ["meter_id", "ts_local", "value", "unit", "row_number", "source"]


def test_parquet_keeps_fitting_types_and_numbers_rows():
    frame = read_meter_export(DATA / "typed.parquet")
    assert frame.schema["ts_utc"] == pl.Datetime("us", "UTC")
    assert frame.schema["energy_wh"] == pl.Float64
    assert frame["row_number"].to_list() == list(range(1, 51))
    assert frame["source"][0] == "typed.parquet"


def test_parquet_columns_of_other_types_become_text(tmp_path):
    path = tmp_path / "odd.parquet"
    pl.DataFrame(
        {
            "Meter_ID": pl.Series(["a", "b"], dtype=pl.Categorical),
            "ts_utc": [1_748_858_400, 1_748_859_300],  # epoch seconds: not a timestamp type
            "energy_wh": [1.5, 2.0],
            "register": pl.Series(["interval", "interval"], dtype=pl.Categorical),
        }
    ).write_parquet(path)
    frame = read_meter_export(path)
    assert frame.schema["meter_id"] == pl.String
    assert frame.schema["register"] == pl.String
    assert frame["ts_utc"].to_list() == ["1748858400", "1748859300"]
    assert frame.schema["energy_wh"] == pl.Float64


def test_parquet_naive_local_timestamps_are_kept(tmp_path):
    path = tmp_path / "local.parquet"
    pl.DataFrame(
        {"meter_id": ["a"], "ts_local": [datetime(2025, 10, 26, 2)], "energy_wh": [1.0]}
    ).write_parquet(path)
    assert read_meter_export(path).schema["ts_local"] == pl.Datetime("us")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "ragged.csv",
            None,
            "ragged.csv: line 3: 2 fields where the header has 3: "
            "'load-hvac,2025-06-02T10:15:00Z'; the file is truncated or malformed",
        ),
        (
            "truncated.parquet",
            None,
            "truncated.parquet: not a readable Parquet file, truncated or corrupt",
        ),
        (
            "long.csv",
            "meter_id,ts_utc,energy_wh\nm,2025-06-02T10:00:00Z,1\nm,2025-06-02T10:15:00Z,1,5\n",
            "long.csv: line 3: 4 fields where the header has 3",
        ),
        (
            "quoted_short.csv",
            'meter_id,ts_utc,energy_wh,note\nm,x,1,"a\nb"\nm,x,2\n',
            "quoted_short.csv: line 4: 3 fields where the header has 4",
        ),
        ("empty.csv", b"", "empty.csv: the file is empty"),
        ("blank.csv", b"\n \n", "blank.csv: the file is empty"),
        ("empty.parquet", b"", "empty.parquet: the file is empty"),
        ("binary.csv", b"\x1f\x8b\x08\x00\x00\x00\x00\x00garbage", "binary content, not CSV"),
        ("garbage.parquet", b"\x00\x01 definitely not parquet", "not a readable Parquet file"),
        (
            "latin.csv",
            "meter_id,ts_utc,energy_wh\nm,2025-06-02T10:00:00Z,1\nZähler,x,1\n".encode("latin-1"),
            "latin.csv: line 3: not UTF-8 text",
        ),
        ("utf16.csv", "meter_id,ts_utc,energy_wh\n".encode("utf-16"), "UTF-16"),
        (
            "unclosed.csv",
            'meter_id,ts_utc,energy_wh\nm,x,1\nm,"2025-06-02,2\nm,x,3\n',
            "unclosed.csv: line 3: a double quote is never closed",
        ),
        (
            "nocols.csv",
            "meter,time,kwh\na,b,c\n",
            "missing required column(s) meter_id, ts_utc or ts_local, energy_wh, energy_kwh",
        ),
        ("nounit.csv", "meter_id,ts_utc,value\na,b,1\n", "unit (required with value)"),
        ("semicolon.csv", "meter_id;ts_utc;energy_wh\na;b;1\n", "another separator"),
        (
            "twice.csv",
            "meter_id,ts_utc,energy_wh,METER_ID\na,b,1,a\n",
            "line 1: duplicate column(s) ['meter_id']",
        ),
        ("export.xlsx", b"PK\x03\x04", "unsupported file type '.xlsx'"),
    ],
)
def test_bad_files_raise_a_message_naming_file_line_and_fix(tmp_path, name, content, message):
    path = DATA / name if content is None else write(tmp_path, name, content)
    with pytest.raises(MeterFileError) as exc:
        read_meter_export(path)
    assert message in str(exc.value)
    assert str(path) in str(exc.value)
    assert "; " in str(exc.value)  # the problem, then what to do


def test_meter_file_error_is_a_value_error():
    assert issubclass(MeterFileError, ValueError)
