"""Series of any resolution on plan slots, with the declared seasonal-naive fallback."""

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from pipelines.planning.slot_series import latest_issue, on_slots, slot_starts

T0 = datetime(2026, 11, 24, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)


def hourly(start: datetime, values: list[float]) -> pl.DataFrame:
    return pl.DataFrame(
        {"hour_utc": [start + i * HOUR for i in range(len(values))], "v": values}
    ).with_columns(pl.col("hour_utc").cast(pl.Datetime("us", "UTC")))


def test_slot_takes_the_value_of_the_interval_containing_its_start():
    s = on_slots(slot_starts(T0, 8, 15), hourly(T0, [1.0, 2.0]), "hour_utc", "v", HOUR)
    np.testing.assert_array_equal(s.values, [1, 1, 1, 1, 2, 2, 2, 2])
    assert (s.from_fallback, s.missing) == (0, 0)


def test_gap_is_filled_from_a_week_before_and_counted():
    primary = hourly(T0, [5.0])  # only the first hour is known
    history = hourly(T0 - timedelta(days=7), [7.0, 8.0])
    s = on_slots(slot_starts(T0, 12, 15), primary, "hour_utc", "v", HOUR, history)
    np.testing.assert_array_equal(s.values[:8], [5, 5, 5, 5, 8, 8, 8, 8])
    assert s.from_fallback == 4
    assert s.missing == 4 and np.isnan(s.values[8:]).all()


def test_fallback_prefers_the_week_then_the_day_before():
    week = hourly(T0 - timedelta(days=7), [7.0])
    day = hourly(T0 - timedelta(days=1), [1.0, 1.5])
    s = on_slots(
        slot_starts(T0, 8, 15), hourly(T0, []), "hour_utc", "v", HOUR, pl.concat([week, day])
    )
    np.testing.assert_array_equal(s.values, [7, 7, 7, 7, 1.5, 1.5, 1.5, 1.5])
    assert s.from_fallback == 8


def test_forecasts_issued_after_as_of_are_invisible():
    f = pl.DataFrame(
        {
            "ts_utc": [T0, T0, T0],
            "issued_at_utc": [T0 - 3 * HOUR, T0 - HOUR, T0 + HOUR],
            "power_w": [1.0, 2.0, 3.0],
        }
    )
    assert latest_issue(f, "ts_utc", T0)["power_w"].to_list() == [2.0]
    assert latest_issue(f, "ts_utc", T0 - 2 * HOUR)["power_w"].to_list() == [1.0]


@pytest.mark.parametrize("minutes", [15, 60])
def test_slot_starts(minutes):
    s = slot_starts(T0, 3, minutes)
    assert s.to_list() == [T0 + i * timedelta(minutes=minutes) for i in range(3)]
