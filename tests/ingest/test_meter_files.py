from pathlib import Path

import polars as pl
import pytest

from ingest.meter_files import MeterFileError, read_meter_export

DATA = Path(__file__).resolve().parents[1] / "data" / "meters"


def test_csv_is_read_as_text_with_editor_line_numbers():
    frame = read_meter_export(DATA / "kwh_export.csv")
    assert frame["row_number"].to_list() == [2, 3, 4]
    assert frame.schema["energy_kwh"] == pl.String
    assert frame["energy_kwh"][0] == "1.2505"  # kept verbatim, not rounded by inference
    assert frame["source"].unique().to_list() == ["kwh_export.csv"]


def test_parquet_keeps_types():
    frame = read_meter_export(DATA / "typed.parquet")
    assert frame.schema["ts_utc"] == pl.Datetime("us", "UTC")
    assert frame["row_number"][0] == 1 and frame.height == 50


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("ragged.csv", None, "ragged.csv: line 3: 2 fields where the header has 3"),
        ("truncated.parquet", None, "truncated.parquet: not a readable Parquet file"),
        ("empty.csv", b"", "the file is empty"),
        ("binary.csv", b"\x00\x01\x02garbage", "binary content"),
        (
            "latin.csv",
            "meter_id,ts_utc,energy_wh\nZähler,2025-01-01T00:00:00Z,1\n".encode("latin-1"),
            "line 2: not UTF-8",
        ),
        (
            "nocols.csv",
            b"meter,time,kwh\na,b,c\n",
            "missing required column(s) meter_id, ts_utc or ts_local",
        ),
        ("export.xlsx", b"PK", "unsupported file type '.xlsx'"),
    ],
)
def test_bad_files_name_the_file_and_row(tmp_path, name, content, message):
    path = DATA / name if content is None else tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(MeterFileError) as exc:
        read_meter_export(path)
    assert message in str(exc.value)
    assert name in str(exc.value)
