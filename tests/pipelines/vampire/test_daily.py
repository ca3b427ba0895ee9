from datetime import date, timedelta

import polars as pl
import pytest

from pipelines.vampire import detect_by_day
from pipelines.vampire.daily import LOOKAHEAD_DAYS

from .conftest import TZ, Site, local

FIRST = date(2025, 1, 6)


def days(first: date, n: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(n)]


def by_day(site: Site, wanted: list[date]):
    return detect_by_day(site.readings(), wanted, site_id="test-site", timezone=TZ)


@pytest.fixture(scope="module")
def weekend_left_on() -> Site:
    """Twelve weeks; the press left on from Friday 31 Jan 20:00 to Monday 3 Feb 05:00 local
    (the event starts on one UTC day and ends three days later), the saw one night."""
    site = Site(FIRST, 84)
    site.add("press-1", local(2025, 1, 31, 20), local(2025, 2, 3, 5), 8_000.0)
    site.add("saw-2", local(2025, 2, 5, 23), local(2025, 2, 6, 4), 3_000.0)
    return site


def test_a_weekend_event_is_found_whole_on_the_day_it_starts(weekend_left_on):
    detected = by_day(weekend_left_on, [date(2025, 1, 31), date(2025, 2, 1), date(2025, 2, 2)])
    events = detected.events
    assert events["meter_id"].to_list() == ["press-1"]
    event = events.row(0, named=True)
    assert event["start_utc"].date() == date(2025, 1, 31)
    # Friday 22:00 (end of the working day) to Monday 05:00 local: 55 h at 8 kW, not cut at
    # the end of the day it starts
    assert event["start_utc"] == local(2025, 1, 31, 22)
    assert event["end_utc"] == local(2025, 2, 3, 5)
    assert event["excess_kwh"] == pytest.approx(8 * 55, rel=0.10)
    assert detected.skipped == {}


def test_events_do_not_depend_on_how_days_are_batched(weekend_left_on):
    month = days(date(2025, 1, 27), 14)
    whole = by_day(weekend_left_on, month).events
    one_by_one = pl.concat(by_day(weekend_left_on, [d]).events for d in month)
    in_weeks = pl.concat(
        [by_day(weekend_left_on, month[:7]).events, by_day(weekend_left_on, month[7:]).events]
    )
    assert whole.height == 2
    assert whole.equals(one_by_one.sort("meter_id", "start_utc"))
    assert whole.equals(in_weeks.sort("meter_id", "start_utc"))


def test_a_day_is_fitted_on_its_own_window_only(weekend_left_on):
    """Readings outside a day's window (here: a machine left on every night of a later
    week) change nothing in that day's events."""
    day = date(2025, 1, 31)
    later = day + timedelta(days=LOOKAHEAD_DAYS + 14)
    noisy = Site(FIRST, 84)
    noisy.power = dict(weekend_left_on.power)
    for night in days(later, 7):
        noisy.add(
            "press-1",
            local(*night.timetuple()[:3], 23),
            local(*night.timetuple()[:3], 23) + timedelta(hours=5),
            9_000.0,
        )
    assert by_day(noisy, days(later, 7)).events.height == 7
    assert by_day(noisy, [day]).events.equals(by_day(weekend_left_on, [day]).events)


def test_a_site_metered_for_less_than_two_weeks_has_its_days_skipped_with_the_reason():
    short = Site(FIRST, 12)
    detected = by_day(short, days(FIRST, 12))
    assert sorted(detected.skipped) == days(FIRST, 12)
    assert all("less than 14 days of readings" in r for r in detected.skipped.values())
    assert detected.events.is_empty()
    assert detected.events.columns == by_day(short, []).events.columns
