from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.meter_files import read_meter_export
from pipelines.meters import hourly_energy, merge_readings, validate_meter_rows

DATA = Path(__file__).resolve().parents[1] / "data" / "meters"
NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)
REGISTRY = pl.DataFrame(
    {
        "site_id": ["s"] * 4,
        "meter_id": ["load-hvac", "load-lighting", "load-shredder-2", "small"],
        "kind": ["load"] * 4,
        "max_power_w": [80_000.0, 40_000.0, 120_000.0, 1_000.0],
    }
)


def validate(frame: pl.DataFrame, tz: str = "Europe/Berlin"):
    return validate_meter_rows(frame, REGISTRY, ingested_at_utc=NOW, timezone=tz)


def text_rows(rows: list[tuple], columns=("meter_id", "ts_utc", "energy_wh")) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=list(columns), orient="row")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        ([("nope", "2025-06-02T10:00:00Z", "1")], "unknown meter nope"),
        ([("load-hvac", "yesterday", "1")], "unparseable timestamp yesterday"),
        ([("load-hvac", "2025-06-02T10:00:00Z", "12,5")], "non-numeric value 12,5"),
        ([("load-hvac", "2025-06-02T10:00:00Z", "")], "non-numeric value"),
        ([("load-hvac", "2025-06-02T10:00:00Z", "-3")], "negative energy -3.0 Wh"),
        ([("small", "2025-06-02T10:00:00Z", "300")], "exceeds meter capacity: 300.0 Wh in 900 s"),
        (
            [
                ("load-hvac", "2025-06-02T10:00:00Z", "5"),
                ("load-hvac", "2025-06-02T10:00:00Z", "6"),
            ],
            "conflicting duplicate",
        ),
    ],
)
def test_bad_rows_are_quarantined_with_their_reason(rows, reason):
    batch = validate(text_rows(rows))
    assert batch.accepted.height == 0
    assert batch.quarantined.height == len(rows)
    assert all(r.startswith(reason) for r in batch.quarantined["reason"])
    assert batch.quarantined["ingested_at_utc"][0] == NOW


def test_capacity_allows_the_margin():
    # 1 kW meter: 250 Wh per quarter hour nominal, 275 Wh with the 10 % margin
    batch = validate(
        text_rows(
            [("small", "2025-06-02T10:00:00Z", "275"), ("small", "2025-06-02T10:15:00Z", "276")]
        )
    )
    assert batch.accepted["energy_wh"].to_list() == [275.0]
    assert batch.quarantined["reason"][0].startswith("exceeds meter capacity")


def test_exact_duplicates_are_ignored_and_out_of_order_rows_sorted():
    rows = [
        ("load-hvac", "2025-06-02T10:30:00Z", "3"),
        ("load-hvac", "2025-06-02T10:00:00Z", "1"),
        ("load-hvac", "2025-06-02T10:15:00Z", "2"),
        ("load-hvac", "2025-06-02T10:15:00Z", "2"),
    ]
    batch = validate(text_rows(rows))
    assert batch.duplicates_ignored == 1
    assert batch.accepted["energy_wh"].to_list() == [1.0, 2.0, 3.0]
    assert batch.stats["out_of_order"] == 1


def test_gaps_are_counted_not_filled():
    rows = [("load-hvac", "2025-06-02T10:00:00Z", "1"), ("load-hvac", "2025-06-02T11:00:00Z", "1")]
    batch = validate(text_rows(rows))
    assert batch.accepted.height == 2
    assert batch.stats["gaps"] == 3


def test_units_are_converted_to_wh():
    batch = validate(read_meter_export(DATA / "kwh_export.csv"))
    assert batch.accepted["energy_wh"].to_list() == pytest.approx([1250.5, 1300.0, 1100.0])
    # +02:00 offset is converted to UTC
    assert batch.accepted["ts_utc"].to_list()[2] == utc(2025, 6, 2, 10, 30)
    assert batch.stats["unit_converted"] == 3


def test_value_with_unknown_unit_is_quarantined():
    frame = text_rows(
        [("load-hvac", "2025-06-02T10:00:00Z", "1", "kW")], ("meter_id", "ts_utc", "value", "unit")
    )
    assert validate(frame).quarantined["reason"][0] == "unknown unit kW"


def test_spring_forward_nonexistent_local_times_are_quarantined():
    batch = validate(read_meter_export(DATA / "local_spring_forward.csv"))
    reasons = batch.quarantined["reason"].to_list()
    assert len(reasons) == 4 and all(
        r.startswith("nonexistent local time 2025-03-30 02:") for r in reasons
    )
    assert batch.accepted.height == 12
    # 03:00 CEST is 01:00 UTC, directly after 01:45 UTC? No: 01:45 CET = 00:45 UTC, 03:00 CEST = 01:00 UTC
    ts = batch.accepted["ts_utc"].to_list()
    assert ts[7] == utc(2025, 3, 30, 0, 45) and ts[8] == utc(2025, 3, 30, 1, 0)


def test_fall_back_repeated_hour_resolves_by_order_of_appearance():
    batch = validate(read_meter_export(DATA / "local_fall_back.csv"))
    assert batch.quarantined.height == 0 and batch.duplicates_ignored == 0
    ts = batch.accepted["ts_utc"].to_list()
    assert len(ts) == 16 and len(set(ts)) == 16
    # 01:00 CEST = 23:00 UTC the day before; the second 02:00 is CET = 01:00 UTC
    assert ts[0] == utc(2025, 10, 25, 23, 0) and ts[-1] == utc(2025, 10, 26, 2, 45)
    assert batch.stats["dst_ambiguous_resolved"] == 8
    assert batch.accepted["energy_wh"].to_list()[4:8] == [250.0] * 4  # first 02:xx (summer time)


def test_cumulative_register_rollover_and_reset():
    batch = validate(read_meter_export(DATA / "cumulative_rollover_reset.csv"))
    acc = batch.accepted
    assert acc["energy_wh"].to_list() == [500.0, 400.0, 500.0, 500.0, 120.0, 500.0]
    assert acc["quality"].to_list() == ["measured"] * 4 + ["register_reset", "measured"]
    assert acc["ts_utc"][0] == utc(2025, 6, 2, 10, 0)  # the reading closes the interval before it
    assert batch.stats["register_rollovers"] == 1 and batch.stats["register_resets"] == 1
    assert batch.quarantined["reason"].to_list() == [
        "cumulative register baseline: first reading, no interval energy"
    ]


def test_cumulative_difference_over_a_gap_keeps_its_span():
    rows = [
        ("load-hvac", "2025-06-02T10:00:00Z", "1000", "cumulative"),
        ("load-hvac", "2025-06-02T10:45:00Z", "1900", "cumulative"),
    ]
    batch = validate(text_rows(rows, ("meter_id", "ts_utc", "energy_wh", "register")))
    row = batch.accepted.row(0, named=True)
    assert (row["energy_wh"], row["interval_s"], row["quality"]) == (900.0, 2700, "spans_gap")


def test_typed_parquet_passes_through():
    batch = validate(read_meter_export(DATA / "typed.parquet"))
    assert batch.accepted.height == 50 and batch.accepted["site_id"].unique().to_list() == ["s"]


def test_merge_ignores_identical_and_returns_conflicts():
    base = validate(
        text_rows(
            [("load-hvac", "2025-06-02T10:00:00Z", "1"), ("load-hvac", "2025-06-02T10:15:00Z", "2")]
        )
    ).accepted
    new = validate(
        text_rows(
            [
                ("load-hvac", "2025-06-02T10:15:00Z", "2"),
                ("load-hvac", "2025-06-02T10:00:00Z", "9"),
                ("load-hvac", "2025-06-02T10:30:00Z", "3"),
            ]
        )
    ).accepted
    result = merge_readings(base, new)
    assert result.duplicates_ignored == 1
    assert result.conflicts["energy_wh"].to_list() == [9.0]
    assert result.merged["energy_wh"].to_list() == [1.0, 2.0, 3.0]


def test_hourly_energy_sums_quarters():
    rows = [("load-hvac", f"2025-06-02T10:{m:02d}:00Z", str(m)) for m in (0, 15, 30, 45)]
    hourly = hourly_energy(validate(text_rows(rows)).accepted).collect()
    assert hourly.row(0, named=True)["energy_wh"] == 90.0 and hourly["n_intervals"][0] == 4


values = st.one_of(
    st.integers(-5, 400).map(str),
    st.sampled_from(["", "abc", "1e3", "NaN", " 7 "]),
)
row = st.tuples(
    st.sampled_from(["load-hvac", "small", "ghost"]),
    st.integers(0, 8).map(
        lambda q: f"2025-06-02T10:{(q % 4) * 15:02d}:00Z" if q < 8 else "not-a-time"
    ),
    values,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(row, max_size=40))
def test_every_row_is_accounted_for(rows):
    batch = validate(text_rows(rows) if rows else text_rows([("x", "y", "z")]).head(0))
    assert batch.rows_in == len(rows)
    assert batch.accepted.height + batch.quarantined.height + batch.duplicates_ignored == len(rows)
    assert batch.accepted.select("meter_id", "ts_utc").is_duplicated().sum() == 0
    assert (batch.accepted["energy_wh"] >= 0).all()
