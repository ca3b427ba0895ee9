from datetime import UTC, datetime

import polars as pl

from ingest.meter_landing import land_meter_rows
from pipelines import lake

REGISTRY = pl.DataFrame(
    {
        "site_id": ["s"],
        "meter_id": ["m1"],
        "kind": ["load"],
        "description": [""],
        "max_power_w": [1e5],
    }
)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_cumulative_difference_over_a_gap_lands_spread_and_the_counts_add_up(tmp_path):
    raw = pl.DataFrame(
        {
            "meter_id": ["m1"] * 3,
            "ts_utc": ["2025-06-02T10:00:00Z", "2025-06-02T10:15:00Z", "2025-06-02T11:00:00Z"],
            "energy_wh": ["100", "200", "500"],
            "register": ["cumulative"] * 3,
        }
    )
    report = land_meter_rows(raw, "x.csv#abc", tmp_path, REGISTRY, "Europe/Berlin", NOW)
    # 3 rows in + 2 spread intervals = 4 readings accepted + 1 quarantined
    assert (report.rows_in, report.accepted, report.quarantined, report.duplicates_ignored) == (
        3,
        4,
        1,
        0,
    )
    assert report.spread_intervals_added == 2
    assert report.reasons == {"cumulative baseline": 1}
    stored = lake.scan(tmp_path, "meter_readings").collect().sort("ts_utc")
    # 10:00 -> 10:15 measured 100 Wh; 10:15 -> 11:00 is 300 Wh over three intervals
    assert stored["energy_wh"].to_list() == [100.0, 100.0, 100.0, 100.0]
    assert stored["quality"].to_list() == ["measured"] + ["estimated_spread"] * 3
    again = land_meter_rows(raw, "x.csv#abc", tmp_path, REGISTRY, "Europe/Berlin", NOW)
    assert (again.accepted, again.quarantined, again.duplicates_ignored) == (
        0,
        1,
        4,
    )  # all stored already
