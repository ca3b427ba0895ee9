import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from ingest.meter_files import read_meter_export
from pipelines.meters import (
    BASELINE_REASON,
    STAT_KEYS,
    MeterBatch,
    hourly_energy,
    merge_readings,
    validate_meter_rows,
)
from pipelines.schemas import SCHEMAS

DATA = Path(__file__).resolve().parents[1] / "data" / "meters"
NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)
REGISTRY = pl.DataFrame(
    {
        "site_id": ["s"] * 4 + ["t", "t"],
        "meter_id": ["load-hvac", "load-lighting", "load-shredder-2", "small", "small", "pv"],
        "kind": ["load"] * 5 + ["pv"],
        "max_power_w": [80_000.0, 40_000.0, 120_000.0, 1_000.0, 2_000.0, 50_000.0],
    }
)
TS = ("meter_id", "ts_utc", "energy_wh")


def validate(frame: pl.DataFrame, tz: str = "Europe/Berlin") -> MeterBatch:
    return validate_meter_rows(frame, REGISTRY, ingested_at_utc=NOW, timezone=tz)


def rows(data: list[tuple], columns=TS) -> pl.DataFrame:
    """Text rows as a CSV export gives them."""
    return pl.DataFrame(data, schema={c: pl.String for c in columns}, orient="row")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def quarter(n: int) -> str:
    """ISO text of the n-th quarter hour after 2025-06-02 10:00 UTC."""
    return (utc(2025, 6, 2, 10) + timedelta(minutes=15 * n)).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- one row, one reason


@pytest.mark.parametrize(
    ("data", "columns", "reason"),
    [
        ([("nope", quarter(0), "1")], TS, "unknown meter nope"),
        ([("", quarter(0), "1")], TS, "missing meter_id"),
        ([("load-hvac", "yesterday", "1")], TS, "unparseable timestamp 'yesterday'"),
        ([("load-hvac", None, "1")], TS, "unparseable timestamp (missing)"),
        ([("load-hvac", "2025-06-31T10:00:00Z", "1")], TS, "unparseable timestamp '2025-06-31"),
        ([("load-hvac", quarter(0), "12,5")], TS, "non-numeric value '12,5'"),
        ([("load-hvac", quarter(0), "")], TS, "non-numeric value ''"),
        ([("load-hvac", quarter(0), "NaN")], TS, "non-numeric value 'NaN'"),
        ([("load-hvac", quarter(0), "inf")], TS, "non-numeric value 'inf'"),
        ([("load-hvac", quarter(0), "-3")], TS, "negative energy -3.0 Wh"),
        (
            [("s", "small", quarter(0), "300")],
            ("site_id", "meter_id", "ts_utc", "energy_wh"),
            "exceeds meter capacity: 300.0 Wh in 900 s > 275.0 Wh (1000.0 W x 1.1)",
        ),
        (
            [("load-hvac", quarter(0), "1", "kW")],
            ("meter_id", "ts_utc", "value", "unit"),
            "unknown unit 'kW'",
        ),
        (
            [("load-hvac", quarter(0), "1", None)],
            ("meter_id", "ts_utc", "value", "unit"),
            "unknown unit (missing)",
        ),
        (
            [("load-hvac", quarter(0), "1", "daily")],
            ("meter_id", "ts_utc", "energy_wh", "register"),
            "unknown register type 'daily': interval or cumulative",
        ),
        (
            [("load-hvac", quarter(0), "-1", "cumulative")],
            ("meter_id", "ts_utc", "energy_wh", "register"),
            "negative register reading -1.0 Wh",
        ),
        (
            [("load-hvac", quarter(0), "1", "7")],
            ("meter_id", "ts_utc", "energy_wh", "interval_s"),
            "invalid interval_s '7': not a whole number of seconds that divides 3600",
        ),
        (
            [("small", quarter(0), "1")],
            TS,
            "ambiguous meter small: registered at sites s, t; add a site_id column",
        ),
        (
            [("s", "pv", quarter(0), "1")],
            ("site_id", "meter_id", "ts_utc", "energy_wh"),
            "unknown meter pv at site s",
        ),
        (
            [("load-hvac", "2025-03-30 02:30", "1")],
            ("meter_id", "ts_local", "energy_wh"),
            "nonexistent local time '2025-03-30 02:30' in Europe/Berlin",
        ),
    ],
)
def test_a_bad_row_is_quarantined_with_its_reason(data, columns, reason):
    batch = validate(rows(data, columns))
    assert batch.accepted.height == 0 and batch.duplicates_ignored == 0
    assert batch.quarantined.height == len(data)
    assert all(r.startswith(reason) for r in batch.quarantined["reason"])
    assert batch.quarantined["ingested_at_utc"].to_list() == [NOW]


def test_the_first_failing_rule_gives_the_reason():
    # unknown meter and bad value: the meter rule comes first
    batch = validate(rows([("ghost", quarter(0), "abc"), ("load-hvac", "late", "-1")]))
    assert batch.quarantined["reason"].to_list() == [
        "unknown meter ghost",
        "unparseable timestamp 'late'",
    ]


# ---------------------------------------------------------------- parsing what is accepted


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-06-02T10:00:00Z", utc(2025, 6, 2, 10)),
        ("2025-06-02T12:00:00+02:00", utc(2025, 6, 2, 10)),
        ("2025-06-02 10:00:00+00:00", utc(2025, 6, 2, 10)),
        ("2025-06-02T05:00:00-0500", utc(2025, 6, 2, 10)),
        (" 2025-06-02T10:00:00Z ", utc(2025, 6, 2, 10)),
        ("2025-06-02T10:00:00.000Z", utc(2025, 6, 2, 10)),
        ("2025-06-02T10:00Z", utc(2025, 6, 2, 10)),
        ("2025-06-02T10:00:00", utc(2025, 6, 2, 10)),  # naive in ts_utc: UTC by the name
    ],
)
def test_ts_utc_formats(text, expected):
    # a first row in the common shape makes the others go through the fallback formats
    batch = validate(rows([("load-hvac", "2025-06-01T00:00:00Z", "1"), ("load-hvac", text, "1")]))
    assert batch.accepted["ts_utc"].to_list()[-1] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-06-02 12:00", utc(2025, 6, 2, 10)),
        ("2025-06-02 12:00:00", utc(2025, 6, 2, 10)),
        ("2025-06-02T12:00:00", utc(2025, 6, 2, 10)),
        ("02.06.2025 12:00", utc(2025, 6, 2, 10)),
        ("02.01.2025 12:00", utc(2025, 1, 2, 11)),  # winter: UTC+1
    ],
)
def test_ts_local_formats(text, expected):
    batch = validate(rows([("load-hvac", text, "1")], ("meter_id", "ts_local", "energy_wh")))
    assert batch.accepted["ts_utc"].to_list() == [expected]


@pytest.mark.parametrize(
    ("value", "unit", "wh"),
    [
        ("1", "Wh", 1.0),
        ("1.5", "kWh", 1500.0),
        ("0.002", "MWh", 2000.0),
        ("2", " kwh ", 2000.0),
        ("1e3", "WH", 1000.0),
        (" 7 ", "Wh", 7.0),
        ("0", "Wh", 0.0),
    ],
)
def test_values_with_units_are_converted_to_wh(value, unit, wh):
    batch = validate(
        rows([("load-hvac", quarter(0), value, unit)], ("meter_id", "ts_utc", "value", "unit"))
    )
    assert batch.accepted["energy_wh"].to_list() == [pytest.approx(wh)]
    assert batch.stats["unit_converted"] == (0 if unit.strip().lower() == "wh" else 1)


@pytest.mark.parametrize(
    ("text", "interval"),
    [("900", 900), ("", 900), (None, 900), ("3600", 3600), ("300.0", 300), (" 60 ", 60)],
)
def test_valid_interval_lengths(text, interval):
    data = rows(
        [("load-hvac", quarter(0), "1", text)], ("meter_id", "ts_utc", "energy_wh", "interval_s")
    )
    assert validate(data).accepted["interval_s"].to_list() == [interval]


@pytest.mark.parametrize("text", ["abc", "0", "-900", "7200", "900.5", "7"])
def test_invalid_interval_lengths(text):
    data = rows(
        [("load-hvac", quarter(0), "1", text)], ("meter_id", "ts_utc", "energy_wh", "interval_s")
    )
    assert validate(data).quarantined["reason"][0].startswith(f"invalid interval_s '{text}'")


def test_capacity_allows_the_ten_percent_margin_and_no_more():
    # 1 kW meter at site s: 250 Wh per quarter hour, 275 Wh with the margin
    data = rows(
        [("s", "small", quarter(0), "275"), ("s", "small", quarter(1), "275.01")],
        ("site_id", "meter_id", "ts_utc", "energy_wh"),
    )
    batch = validate(data)
    assert batch.accepted["energy_wh"].to_list() == [275.0]
    assert batch.quarantined["row_number"].to_list() == [2]
    assert batch.quarantined["reason"][0].startswith("exceeds meter capacity: 275.01 Wh")


def test_capacity_scales_with_the_interval():
    data = rows(
        [("s", "small", quarter(0), "1100", "3600")],
        ("site_id", "meter_id", "ts_utc", "energy_wh", "interval_s"),
    )
    assert validate(data).accepted["energy_wh"].to_list() == [1100.0]


def test_site_id_column_picks_the_meter_of_that_site():
    data = rows(
        [("t", "small", quarter(0), "500"), ("s", "small", quarter(0), "200")],
        ("site_id", "meter_id", "ts_utc", "energy_wh"),
    )
    acc = validate(data).accepted
    assert acc.select("site_id", "meter_id", "energy_wh").rows() == [
        ("s", "small", 200.0),
        ("t", "small", 500.0),
    ]


def test_blanks_around_meter_ids_are_ignored():
    acc = validate(
        rows([(" load-hvac ", quarter(0), "1"), ("load-hvac", quarter(1), "2")])
    ).accepted
    # written as registered, and one meter: the two rows are consecutive, no gap
    assert acc["meter_id"].to_list() == ["load-hvac", "load-hvac"]
    assert acc["ts_utc"].to_list() == [utc(2025, 6, 2, 10), utc(2025, 6, 2, 10, 15)]


# ---------------------------------------------------------------- order, duplicates, gaps


def test_exact_duplicates_are_ignored_and_out_of_order_rows_sorted():
    batch = validate(
        rows(
            [
                ("load-hvac", quarter(2), "3"),
                ("load-hvac", quarter(0), "1"),
                ("load-hvac", quarter(1), "2"),
                ("load-hvac", quarter(1), "2.0"),  # same number, other text
                ("load-lighting", quarter(0), "5"),
            ]
        )
    )
    assert batch.duplicates_ignored == 1
    assert batch.accepted.select("meter_id", "energy_wh").rows() == [
        ("load-hvac", 1.0),
        ("load-hvac", 2.0),
        ("load-hvac", 3.0),
        ("load-lighting", 5.0),
    ]
    assert batch.stats["out_of_order"] == 3  # quarter 0, 1 and 1 again came after quarter 2
    assert batch.quarantined.height == 0


def test_meters_interleaved_by_time_are_not_out_of_order():
    data = [(m, quarter(q), "1") for q in range(3) for m in ("load-lighting", "load-hvac")]
    batch = validate(rows(data))
    assert batch.stats["out_of_order"] == 0
    assert batch.accepted["meter_id"].to_list() == ["load-hvac"] * 3 + ["load-lighting"] * 3


def test_conflicting_duplicates_quarantine_every_copy():
    batch = validate(
        rows(
            [
                ("load-hvac", quarter(0), "5"),
                ("load-hvac", quarter(1), "7"),
                ("load-hvac", quarter(0), "6"),
                ("load-hvac", quarter(0), "5"),
            ]
        )
    )
    assert batch.accepted["energy_wh"].to_list() == [7.0]
    assert batch.quarantined.select("row_number", "reason").rows() == [
        (1, "conflicting duplicate"),
        (3, "conflicting duplicate"),
        (4, "conflicting duplicate"),
    ]
    assert batch.duplicates_ignored == 0
    assert batch.stats["conflicting_duplicates"] == 3


def test_gaps_are_counted_never_filled():
    batch = validate(
        rows(
            [
                ("load-hvac", quarter(0), "1"),
                ("load-hvac", quarter(4), "1"),  # 3 missing quarters
                ("load-hvac", quarter(5), "1"),
                ("load-lighting", quarter(9), "1"),  # another meter: no gap across meters
                ("load-lighting", quarter(11), "1"),  # 1 missing
            ]
        )
    )
    assert batch.accepted.height == 5
    assert batch.stats["gaps"] == 4


def test_gaps_with_mixed_interval_lengths():
    data = rows(
        [
            ("load-hvac", quarter(0), "1", "900"),
            ("load-hvac", quarter(1), "4", "3600"),  # one hour: 10:15 to 11:15
            ("load-hvac", quarter(7), "1", "900"),  # 11:45: 2 quarters missing
        ],
        ("meter_id", "ts_utc", "energy_wh", "interval_s"),
    )
    assert validate(data).stats["gaps"] == 2


# ---------------------------------------------------------------- fixture files


def test_kwh_export_is_converted_to_wh():
    batch = validate(read_meter_export(DATA / "kwh_export.csv"))
    assert batch.accepted["energy_wh"].to_list() == pytest.approx([1250.5, 1300.0, 1100.0])
    assert batch.accepted["ts_utc"].to_list() == [
        utc(2025, 6, 2, 10, 0),
        utc(2025, 6, 2, 10, 15),
        utc(2025, 6, 2, 10, 30),  # 12:30+02:00
    ]
    assert batch.stats["unit_converted"] == 3
    assert batch.accepted.schema == pl.Schema(SCHEMAS["meter_readings"])


def test_fall_back_hour_resolves_by_order_of_appearance():
    batch = validate(read_meter_export(DATA / "local_fall_back.csv"))
    assert batch.quarantined.height == 0 and batch.duplicates_ignored == 0
    acc = batch.accepted
    start = utc(2025, 10, 25, 23)  # 01:00 CEST
    assert acc["ts_utc"].to_list() == [start + timedelta(minutes=15 * i) for i in range(16)]
    # the first 02:xx block is summer time (00:xx UTC), the second winter time (01:xx UTC)
    assert acc["energy_wh"].to_list() == [150.0] * 4 + [250.0] * 4 + [300.0] * 4 + [350.0] * 4
    assert batch.stats["dst_ambiguous_resolved"] == 8
    assert batch.stats["gaps"] == 0


def test_fall_back_order_is_per_meter_when_meters_interleave():
    data = [("s", "load-lighting", "2025-10-26 02:00", "9")]  # a meter seen only once
    for value in ("1", "2"):
        data += [
            ("s", "load-hvac", "2025-10-26 02:00", value),
            ("t", "pv", "2025-10-26 02:00", value),
        ]
    acc = validate(rows(data, ("site_id", "meter_id", "ts_local", "energy_wh"))).accepted
    got = {(r["meter_id"], r["ts_utc"]): r["energy_wh"] for r in acc.iter_rows(named=True)}
    assert got == {
        ("load-hvac", utc(2025, 10, 26, 0)): 1.0,
        ("load-hvac", utc(2025, 10, 26, 1)): 2.0,
        ("load-lighting", utc(2025, 10, 26, 0)): 9.0,  # first appearance: summer time
        ("pv", utc(2025, 10, 26, 0)): 1.0,
        ("pv", utc(2025, 10, 26, 1)): 2.0,
    }


def test_spring_forward_nonexistent_local_times_are_quarantined():
    batch = validate(read_meter_export(DATA / "local_spring_forward.csv"))
    q = batch.quarantined
    assert q["row_number"].to_list() == [10, 11, 12, 13]  # lines of 02:00 .. 02:45
    assert q["reason"].to_list() == [
        f"nonexistent local time '2025-03-30 02:{m}' in Europe/Berlin"
        for m in ("00", "15", "30", "45")
    ]
    acc = batch.accepted
    assert acc.height == 12
    # 01:45 CET = 00:45 UTC is followed directly by 03:00 CEST = 01:00 UTC: no gap
    assert acc["ts_utc"].to_list()[7:9] == [utc(2025, 3, 30, 0, 45), utc(2025, 3, 30, 1)]
    assert batch.stats["gaps"] == 0 and batch.stats["nonexistent_local_times"] == 4


def test_same_local_export_in_another_zone():
    batch = validate(read_meter_export(DATA / "local_spring_forward.csv"), tz="America/New_York")
    assert batch.quarantined.height == 0  # New York changed clocks on 2025-03-09
    assert batch.accepted["ts_utc"][0] == utc(2025, 3, 30, 4)


def test_cumulative_register_rollover_reset_gap_and_baseline():
    batch = validate(read_meter_export(DATA / "cumulative_rollover_reset.csv"))
    acc = batch.accepted
    # each reading closes the interval that began at the reading before it
    assert acc["ts_utc"].to_list() == [
        utc(2025, 6, 2, 10) + timedelta(minutes=15 * i) for i in range(9)
    ]
    assert acc["energy_wh"].to_list() == [500.0] * 7 + [150.0, 500.0]
    assert acc["quality"].to_list() == (
        ["measured"] * 3  # 998,800 -> 999,300 -> 999,800 -> (rollover at 1e6) 300
        + ["measured"]  # 300 -> 800
        + ["estimated_spread"] * 2  # 800 -> 1,800 over 30 minutes
        + ["measured", "register_reset", "measured"]  # 2,300 -> 150: reset, energy = 150
    )
    assert acc["interval_s"].unique().to_list() == [900]
    assert batch.quarantined.select("row_number", "reason").rows() == [(2, BASELINE_REASON)]
    assert json.loads(batch.quarantined["raw_row"][0])["energy_wh"] == "998800"
    stats = batch.stats
    assert (stats["register_rollovers"], stats["register_resets"]) == (1, 1)
    assert (stats["register_baselines"], stats["estimated_spread"]) == (1, 1)
    assert stats["spread_intervals_added"] == 1 and stats["gaps"] == 0
    assert batch.rows_in == 9 and batch.rows_accepted == 8 and acc.height == 9


@pytest.mark.parametrize(
    ("readings", "energy", "quality"),
    [
        # the register has shown 999,900: it is six digits wide, so 900 -> 120 is a reset
        (["999000", "999900", "400", "900", "120"], [900.0, 500.0, 500.0, 120.0], "register_reset"),
        # a two-digit register rolls over at 100
        (["80", "95", "5"], [15.0, 10.0], "measured"),
        # 850 -> 20 on a three-digit register is below 90 % of 1,000: a reset
        (["800", "850", "20"], [50.0, 20.0], "register_reset"),
        # exactly a power of ten shown: 1,000 means a register of at least 10,000
        (["999", "1000", "5"], [1.0, 5.0], "register_reset"),
    ],
)
def test_rollover_or_reset(readings, energy, quality):
    data = rows(
        [("load-hvac", quarter(i), v, "cumulative") for i, v in enumerate(readings)],
        ("meter_id", "ts_utc", "energy_wh", "register"),
    )
    acc = validate(data).accepted
    assert acc["energy_wh"].to_list() == energy
    assert acc["quality"][-1] == quality


def test_cumulative_reading_at_irregular_spacing_is_quarantined():
    data = rows(
        [
            ("load-hvac", quarter(0), "100", "cumulative"),
            ("load-hvac", "2025-06-02T10:20:00Z", "200", "cumulative"),
            ("load-hvac", "2025-06-02T10:35:00Z", "300", "cumulative"),
        ],
        ("meter_id", "ts_utc", "energy_wh", "register"),
    )
    batch = validate(data)
    assert batch.quarantined["reason"].to_list() == [
        BASELINE_REASON,
        "irregular cumulative reading: 1200 s after the previous reading, "
        "not a whole number of 900-s intervals",
    ]
    acc = batch.accepted  # 10:20 -> 10:35 is one whole interval
    assert acc.select("ts_utc", "energy_wh").rows() == [(utc(2025, 6, 2, 10, 20), 100.0)]


def test_a_register_clock_reset_to_1970_is_not_spread_over_55_years():
    data = rows(
        [
            ("load-hvac", "1970-01-01T00:00:00Z", "50", "cumulative"),  # clock lost
            ("load-hvac", quarter(0), "100", "cumulative"),
            ("load-hvac", quarter(1), "160", "cumulative"),
            ("load-hvac", quarter(2), "230", "cumulative"),
        ],
        ("meter_id", "ts_utc", "energy_wh", "register"),
    )
    batch = validate(data)
    reasons = batch.quarantined["reason"].to_list()
    assert reasons[0] == BASELINE_REASON
    assert reasons[1].startswith("cumulative reading 20241.4 days after the previous one")
    assert "not spread" in reasons[1]
    # the reading after the gap is the baseline of the next one: nothing else is lost
    assert batch.accepted.select("ts_utc", "energy_wh", "quality").rows() == [
        (utc(2025, 6, 2, 10), 60.0, "measured"),
        (utc(2025, 6, 2, 10, 15), 70.0, "measured"),
    ]
    assert batch.rows_in == 4 == batch.rows_accepted + batch.quarantined.height


def test_a_monthly_manual_reading_is_still_spread_over_the_month():
    data = rows(
        [
            ("load-hvac", "2025-05-01T00:00:00Z", "1000", "cumulative"),
            ("load-hvac", "2025-06-01T00:00:00Z", "3976", "cumulative"),  # 31 days later
        ],
        ("meter_id", "ts_utc", "energy_wh", "register"),
    )
    acc = validate(data).accepted
    assert acc.height == 31 * 96
    assert acc["energy_wh"].sum() == pytest.approx(2976.0)
    assert set(acc["quality"]) == {"estimated_spread"}


def test_meter_with_both_register_types_is_quarantined():
    data = rows(
        [
            ("load-hvac", quarter(0), "100", "cumulative"),
            ("load-hvac", quarter(1), "5", "interval"),
            ("load-lighting", quarter(0), "7", ""),
        ],
        ("meter_id", "ts_utc", "energy_wh", "register"),
    )
    batch = validate(data)
    assert batch.accepted["meter_id"].to_list() == ["load-lighting"]
    assert (
        batch.quarantined["reason"].to_list()
        == ["mixed register types (interval and cumulative) for meter load-hvac"] * 2
    )


def test_quarantine_keeps_the_row_as_delivered():
    path = DATA / "kwh_export.csv"
    frame = read_meter_export(path).with_columns(
        pl.when(pl.col("row_number") == 3)
        .then(pl.lit("1,3"))
        .otherwise("energy_kwh")
        .alias("energy_kwh")
    )
    q = validate(frame).quarantined
    assert q.columns == list(SCHEMAS["meter_quarantine"])
    assert q.row(0, named=True) == {
        "source": "kwh_export.csv",
        "row_number": 3,
        "raw_row": '{"meter_id":"load-hvac","ts_utc":"2025-06-02T10:15:00+00:00","energy_kwh":"1,3"}',
        "reason": "non-numeric value '1,3'",
        "ingested_at_utc": NOW,
    }


def test_typed_parquet_passes_through():
    batch = validate(read_meter_export(DATA / "typed.parquet"))
    assert batch.accepted.height == 50 and batch.quarantined.height == 0
    assert batch.accepted["site_id"].unique().to_list() == ["s"]
    assert batch.accepted.schema == pl.Schema(SCHEMAS["meter_readings"])


def test_typed_rows_are_quarantined_with_their_values_as_text():
    frame = pl.DataFrame(
        {
            "meter_id": ["load-hvac", "load-hvac"],
            "ts_utc": [utc(2025, 6, 2, 10), utc(2025, 6, 2, 10, 15)],
            "energy_wh": [1.0, -2.5],
        }
    )
    q = validate(frame).quarantined  # no row_number or source: positions and "frame"
    assert q.select("source", "row_number", "reason").rows() == [
        ("frame", 2, "negative energy -2.5 Wh")
    ]
    assert json.loads(q["raw_row"][0])["energy_wh"] == "-2.5"


def test_empty_export_gives_empty_frames_with_the_contract_schemas():
    batch = validate(rows([]))
    assert batch.accepted.schema == pl.Schema(SCHEMAS["meter_readings"])
    assert batch.quarantined.schema == pl.Schema(SCHEMAS["meter_quarantine"])
    assert (batch.rows_in, batch.duplicates_ignored) == (0, 0)
    assert set(batch.stats) == set(STAT_KEYS)


def test_missing_columns_and_naive_ingest_time_are_errors():
    with pytest.raises(ValueError, match="ts_utc or ts_local"):
        validate(pl.DataFrame({"meter_id": ["a"], "energy_wh": ["1"]}))
    with pytest.raises(ValueError, match="timezone-aware"):
        validate_meter_rows(rows([]), REGISTRY, ingested_at_utc=datetime(2026, 1, 5))


def test_batch_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        validate(rows([])).rows_in = 3  # type: ignore[misc]


# ---------------------------------------------------------------- merge and rollup


def readings(data: list[tuple], quality: str = "measured") -> pl.DataFrame:
    """meter_readings rows from (meter_id, quarter, energy_wh)."""
    return pl.DataFrame(
        {
            "site_id": ["s"] * len(data),
            "meter_id": [m for m, _, _ in data],
            "ts_utc": [utc(2025, 6, 2, 10) + timedelta(minutes=15 * q) for _, q, _ in data],
            "interval_s": [900] * len(data),
            "energy_wh": [float(e) for _, _, e in data],
            "quality": [quality] * len(data),
        },
        schema=SCHEMAS["meter_readings"],
    )


def test_merge_ignores_identical_rows_and_returns_conflicts():
    stored = readings([("load-hvac", 0, 1), ("load-hvac", 1, 2)])
    incoming = readings(
        [("load-hvac", 1, 2), ("load-hvac", 0, 9), ("load-hvac", 2, 3), ("a", 5, 1)]
    )
    result = merge_readings(stored, incoming)
    assert result.duplicates_ignored == 1
    assert result.conflicts.select("ts_utc", "energy_wh").rows() == [(utc(2025, 6, 2, 10), 9.0)]
    assert result.merged.select("meter_id", "energy_wh").rows() == [
        ("a", 1.0),
        ("load-hvac", 1.0),  # the stored value stays
        ("load-hvac", 2.0),
        ("load-hvac", 3.0),
    ]


def test_merge_treats_another_quality_as_a_conflict():
    stored = readings([("load-hvac", 0, 1)], quality="estimated_spread")
    result = merge_readings(stored, readings([("load-hvac", 0, 1)]))
    assert (result.duplicates_ignored, result.conflicts.height) == (0, 1)


def test_merge_output_is_sorted_and_stable():
    stored = readings([("b", 1, 1), ("a", 0, 1)])
    merged = merge_readings(stored, readings([("a", 3, 1)])).merged
    assert merged.select("meter_id", "ts_utc").rows() == sorted(
        merged.select("meter_id", "ts_utc").rows()
    )
    again = merge_readings(merged, readings([("a", 3, 1)]))
    assert_frame_equal(again.merged, merged)
    assert again.duplicates_ignored == 1
    assert_frame_equal(merge_readings(stored.head(0), stored).merged, stored.sort("meter_id"))


def test_hourly_energy_sums_each_hour_of_each_meter():
    acc = readings(
        [("load-hvac", q, q) for q in range(6)] + [("load-lighting", q, 10) for q in (1, 2)]
    )
    hourly = hourly_energy(acc).collect()
    assert hourly.rows() == [
        ("s", "load-hvac", utc(2025, 6, 2, 10), 6.0, 4),
        ("s", "load-hvac", utc(2025, 6, 2, 11), 9.0, 2),
        ("s", "load-lighting", utc(2025, 6, 2, 10), 20.0, 2),
    ]
    assert hourly.schema["n_intervals"] == pl.UInt32


def test_hourly_energy_keeps_a_meter_id_of_two_sites_apart():
    data = rows(
        [("s", "small", quarter(q), "10") for q in range(4)]
        + [("t", "small", quarter(q), "20") for q in range(4)],
        ("site_id", "meter_id", "ts_utc", "energy_wh"),
    )
    hourly = hourly_energy(validate(data).accepted).collect()
    assert hourly.select("site_id", "meter_id", "energy_wh", "n_intervals").rows() == [
        ("s", "small", 40.0, 4),
        ("t", "small", 80.0, 4),
    ]


def test_hourly_energy_of_unsorted_or_lazy_input_is_the_same():
    acc = readings([(m, q, q + len(m)) for m in ("b", "a") for q in range(9)])
    expected = hourly_energy(acc.sort("meter_id", "ts_utc")).collect()
    assert_frame_equal(hourly_energy(acc).collect(), expected)  # b before a: not sorted
    assert_frame_equal(hourly_energy(acc.lazy()).collect(), expected)
    split = pl.concat(
        [
            acc.filter(pl.col("ts_utc").dt.minute() < 30),
            acc.filter(pl.col("ts_utc").dt.minute() >= 30),
        ]
    )
    assert_frame_equal(hourly_energy(split).collect(), expected)  # a meter in two runs


# ---------------------------------------------------------------- properties

METERS = ["load-hvac", "small", "ghost", " pv"]
VALUES = st.one_of(
    st.integers(-5, 400).map(str),
    st.sampled_from(["", "abc", "1e3", "NaN", " 7 ", "0.25", "999999"]),
)
UTC_TIMES = st.one_of(st.integers(0, 11).map(quarter), st.sampled_from(["not-a-time", ""]))
LOCAL_TIMES = st.builds(
    lambda day, minute: f"{day} {minute // 60:02d}:{minute % 60:02d}",
    st.sampled_from(["2025-10-26", "2025-03-30"]),
    st.integers(0, 15).map(lambda q: 60 + 15 * q),
)


@st.composite
def exports(draw) -> pl.DataFrame:
    local = draw(st.booleans())
    columns = ["meter_id", "ts_local" if local else "ts_utc", "energy_wh", "register", "site_id"]
    row = st.tuples(
        st.sampled_from(METERS),
        LOCAL_TIMES if local else UTC_TIMES,
        VALUES,
        st.sampled_from(["", "interval", "cumulative", "Cumulative", "weekly"]),
        st.sampled_from([None, "", "s", "t"]),
    )
    return rows(draw(st.lists(row, max_size=40)), tuple(columns))


@settings(max_examples=200, deadline=None)
@given(exports())
def test_every_row_is_accounted_for(frame):
    batch = validate(frame)
    assert batch.rows_in == frame.height
    assert batch.rows_accepted + batch.quarantined.height + batch.duplicates_ignored == frame.height
    acc = batch.accepted
    assert acc.select("site_id", "meter_id", "ts_utc").is_duplicated().sum() == 0
    assert acc.select("site_id", "meter_id", "ts_utc").rows() == sorted(
        acc.select("site_id", "meter_id", "ts_utc").rows()
    )
    assert (acc["energy_wh"] >= 0).all()
    assert batch.quarantined["row_number"].is_unique().all()
    assert set(batch.stats) == set(STAT_KEYS)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(METERS), UTC_TIMES, VALUES), max_size=30), st.randoms())
def test_row_order_does_not_change_the_outcome(data, random):
    frame = (
        rows(data)
        .with_row_index("row_number", offset=1)
        .with_columns(pl.col("row_number").cast(pl.Int64))
    )
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=random.randint(0, 2**32 - 1))
    a, b = validate(frame), validate(shuffled)
    assert_frame_equal(a.accepted, b.accepted)
    assert a.duplicates_ignored == b.duplicates_ignored
    # which copy of an exact duplicate is kept depends on the order; the reasons do not
    assert sorted(a.quarantined["reason"]) == sorted(b.quarantined["reason"])


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 20), st.integers(0, 99)),
        max_size=30,
    ),
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 20), st.integers(0, 99)),
        max_size=30,
    ),
)
def test_merge_properties(stored_rows, incoming_rows):
    def unique(data):
        return list({(m, q): (m, q, e) for m, q, e in data}.values())

    stored, incoming = readings(unique(stored_rows)), readings(unique(incoming_rows))
    result = merge_readings(stored, incoming)
    assert (
        result.duplicates_ignored + result.conflicts.height + (result.merged.height - stored.height)
        == incoming.height
    )
    assert not result.merged.select("site_id", "meter_id", "ts_utc").is_duplicated().any()
    assert_frame_equal(result.merged, result.merged.sort("site_id", "meter_id", "ts_utc"))
    again = merge_readings(result.merged, incoming)  # idempotent
    assert_frame_equal(again.merged, result.merged)
    hourly = hourly_energy(result.merged).collect()
    assert hourly["energy_wh"].sum() == pytest.approx(result.merged["energy_wh"].sum())
    assert hourly["n_intervals"].sum() == result.merged.height


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 500), st.booleans()), min_size=2, max_size=24),
    st.integers(0, 10**6),
)
def test_cumulative_energy_is_conserved_over_gaps(steps, base):
    """The accepted energy of a rising register is last minus first reading, in one
    reading per interval from the first reading's time, whatever readings are missing."""
    total, readings = base, [(0, base)]
    for q, (increase, exported) in enumerate(steps, start=1):
        total += increase  # the register keeps counting whether or not a reading is sent
        if exported:
            readings.append((q, total))
    data = [("load-hvac", quarter(q), str(v), "cumulative") for q, v in readings]
    batch = validate(rows(data, ("meter_id", "ts_utc", "energy_wh", "register")))
    acc = batch.accepted
    assert acc["energy_wh"].sum() == pytest.approx(readings[-1][1] - base)
    assert acc["ts_utc"].to_list() == [
        utc(2025, 6, 2, 10) + timedelta(minutes=15 * q) for q in range(readings[-1][0])
    ]
    assert batch.rows_accepted == len(data) - 1 and batch.stats["gaps"] == 0
