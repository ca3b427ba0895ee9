from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from pipelines.vampire.offhours import (
    SATURDAY,
    SUNDAY_OR_HOLIDAY,
    WORKDAY,
    holiday_dates,
    is_off_hours,
    off_hours_calendar,
    period_ids,
    quarter_hour_grid,
)

from .conftest import local


def days(start: date, n: int) -> pl.Series:
    first = datetime(start.year, start.month, start.day, tzinfo=UTC)
    return quarter_hour_grid(first, first + timedelta(days=n) - timedelta(minutes=15))


@pytest.mark.parametrize(
    ("instant", "off"),
    [
        (local(2025, 1, 15, 21, 45), False),  # Wednesday evening shift
        (local(2025, 1, 15, 22, 0), True),  # night starts at 22:00 local
        (local(2025, 1, 16, 5, 45), True),
        (local(2025, 1, 16, 6, 0), False),
        (local(2025, 1, 18, 12, 0), True),  # Saturday
        (local(2025, 5, 29, 12, 0), True),  # Ascension Day, a Thursday
        (local(2025, 10, 31, 12, 0), True),  # Reformation Day in Brandenburg
        (local(2025, 7, 1, 21, 30), False),  # summer time: 19:30 UTC is still working
        (local(2025, 7, 1, 22, 0), True),
    ],
)
def test_off_hours_are_local_nights_weekends_and_holidays(instant, off):
    assert is_off_hours(pl.Series([instant])).to_list() == [off]


def test_holidays_follow_the_subdivision():
    bb = set(holiday_dates(range(2025, 2026), "DE", "BB"))
    by = set(holiday_dates(range(2025, 2026), "DE", "BY"))
    assert date(2025, 10, 31) in bb - by  # Reformation Day
    assert date(2025, 1, 6) in by - bb  # Epiphany
    assert is_off_hours(pl.Series([local(2025, 10, 31, 12)]), subdivision="BY").to_list() == [False]


def test_daylight_saving_days_have_23_and_25_hours_of_slots():
    for start, op_day, hours in [
        (date(2025, 3, 28), date(2025, 3, 29), 23),  # Sat 06:00 → Sun 06:00 holds 02:00→03:00
        (date(2025, 10, 24), date(2025, 10, 25), 25),
    ]:
        cal = off_hours_calendar(days(start, 4))
        block = cal.filter(pl.col("op_day") == op_day)
        assert block.height == hours * 4
        assert block["off_hours"].all()  # a weekend day: all off
        slots = block["slot"].to_list()
        if hours == 23:
            assert not set(range(8, 12)) & set(slots)  # 02:00–02:45 never happens
        else:
            assert sorted(s for s in slots if 8 <= s < 12) == [8, 8, 9, 9, 10, 10, 11, 11]


def test_calendar_columns():
    cal = off_hours_calendar(days(date(2025, 5, 26), 7))  # Mon 26 May – Sun 1 Jun
    by_date = cal.group_by(pl.col("ts_local").dt.date().alias("d")).agg(pl.col("day_type").first())
    types = dict(by_date.iter_rows())
    assert types[date(2025, 5, 28)] == WORKDAY
    assert types[date(2025, 5, 29)] == SUNDAY_OR_HOLIDAY  # Ascension Day
    assert types[date(2025, 5, 31)] == SATURDAY
    first = cal.row(0, named=True)  # 00:00 UTC = 02:00 CEST on Monday
    assert first["slot"] == 8 and first["hour_local"] == 2.0
    assert first["op_day"] == date(2025, 5, 25)  # the night belongs to Sunday's operating day
    assert first["off_hours"] and first["is_night"]


def test_periods_join_weekends_and_holidays_to_the_night_before():
    # Mon..Sun with a holiday on Thursday
    workday = np.array([True, True, True, False, True, False, False])
    assert period_ids(workday).tolist() == [0, 1, 2, 2, 3, 3, 3]
