"""Materialization metadata: row count, markdown preview, figures, contract columns."""

from datetime import UTC, date, datetime

import dagster as dg
import polars as pl

from assets_defs.metadata import column_schema, frame_metadata, markdown_table, window_metadata
from assets_defs.partitions import Window
from pipelines import lake


def test_markdown_table_escapes_pipes_and_rounds_floats():
    frame = pl.DataFrame({"meter": ["a|b", "c"], "kwh": [1.23456, None]})
    assert markdown_table(frame).splitlines() == [
        "| meter | kwh   |",
        "|-------|-------|",
        r"| a\|b  | 1.235 |",
        "| c     | null  |",
    ]


def test_frame_metadata_counts_every_row_and_previews_the_head():
    frame = pl.DataFrame({"n": list(range(8))})
    meta = frame_metadata(frame, kwh=2.5, source="raw files")
    assert meta["dagster/row_count"] == dg.MetadataValue.int(8)
    preview = meta["preview"].value.splitlines()
    assert preview[2:] == [f"| {i} |" for i in range(5)]
    assert meta["kwh"] == 2.5 and meta["source"] == "raw files"


def test_frame_metadata_previews_a_chosen_frame_and_takes_a_given_count():
    frame = pl.DataFrame({"power_w": [0.0, 0.0, 5.0, 0.0, -3.0]})
    meta = frame_metadata(frame, row_count=9, preview=frame.filter(pl.col("power_w") != 0))
    assert meta["dagster/row_count"].value == 9
    assert meta["preview"].value.splitlines()[2:] == ["| 5.000   |", "| -3.000  |"]


def _reading(day: int, hour: int, meter: str) -> dict:
    return {
        "site_id": "site-a",
        "meter_id": meter,
        "ts_utc": datetime(2025, 3, day, hour, tzinfo=UTC),
        "interval_s": 900,
        "energy_wh": 100.0,
        "quality": "measured",
    }


def test_window_metadata_counts_the_rows_the_window_holds(tmp_path):
    rows = [_reading(d, h, m) for d in (1, 2, 3) for h in (0, 12) for m in ("m1", "m2")]
    frame = lake.conform(pl.DataFrame(rows), "meter_readings")
    days = [date(2025, 3, d) for d in (1, 2, 3)]
    lake.write_days(tmp_path, "meter_readings", frame, ["site-a"], days)
    meta = window_metadata(
        str(tmp_path), "meter_readings", Window(date(2025, 3, 2), date(2025, 3, 4)), ["site-a"]
    )
    assert meta["dagster/row_count"].value == 8
    assert len(meta["preview"].value.splitlines()) == 2 + 5
    empty = window_metadata(
        str(tmp_path), "meter_readings", Window(date(2025, 4, 1), date(2025, 4, 2)), ["site-a"]
    )
    assert empty["dagster/row_count"].value == 0


def test_column_schema_follows_the_contract():
    columns = column_schema("meter_readings").columns
    assert [(c.name, c.type) for c in columns] == [
        ("site_id", "String"),
        ("meter_id", "String"),
        ("ts_utc", "Datetime(time_unit='us', time_zone='UTC')"),
        ("interval_s", "Int32"),
        ("energy_wh", "Float64"),
        ("quality", "String"),
    ]
