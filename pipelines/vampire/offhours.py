"""Off-hours calendar: nights, weekends and public holidays in the site's local time.

A quarter hour is *off-hours* when its local start time falls at night (from
``night_start_h`` to ``night_end_h``), on a Saturday or Sunday, or on a public holiday
of the site's country and subdivision. Everything is evaluated on local wall-clock
time, so the 23- and 25-hour days of the daylight-saving changes are handled by the
time-zone database and not by arithmetic on UTC.

The calendar also groups off-hours into the units the baseline learns on:

- an *operating day* runs from ``night_end_h`` local on one date to ``night_end_h`` on
  the next, so a night belongs to the working day before it;
- a *block* is the off-hours part of one operating day (a weekday night, or a whole
  weekend or holiday day); it is always one contiguous stretch;
- a *period* is one uninterrupted stretch of off-hours between two working days (a
  weekday night, or Friday night to Monday morning).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import holidays
import numpy as np
import polars as pl

DEFAULT_TIMEZONE = "Europe/Berlin"
DEFAULT_COUNTRY = "DE"
DEFAULT_SUBDIVISION = "BB"
NIGHT_START_H = 22.0
NIGHT_END_H = 6.0
INTERVAL = timedelta(minutes=15)
INTERVAL_US = 900_000_000
SLOTS_PER_DAY = 96

# day types of a local date
WORKDAY, SATURDAY, SUNDAY_OR_HOLIDAY = 0, 1, 2
N_DAY_TYPES = 3

UTC_TS = pl.Datetime("us", "UTC")


def holiday_dates(
    years: range, country: str = DEFAULT_COUNTRY, subdivision: str | None = DEFAULT_SUBDIVISION
) -> list[date]:
    """Public holidays of ``country`` (ISO 3166-1 alpha-2) and ``subdivision`` in ``years``.

    Parameters
    ----------
    years : range
        Calendar years, e.g. ``range(2024, 2026)``.
    country : str, default "DE"
        Country code understood by the ``holidays`` package.
    subdivision : str or None, default "BB"
        State or region code (``"BB"`` = Brandenburg); None for national holidays only.

    Returns
    -------
    list of datetime.date
        Sorted holiday dates.
    """
    return sorted(holidays.country_holidays(country, subdiv=subdivision, years=years))


def quarter_hour_grid(start_utc: datetime, end_utc: datetime) -> pl.Series:
    """The 15-minute UTC instants ``start_utc <= ts <= end_utc`` (both on the grid)."""
    return pl.datetime_range(
        start_utc, end_utc, "15m", eager=True, time_zone="UTC", time_unit="us"
    ).alias("ts_utc")


def off_hours_calendar(
    ts_utc: pl.Series,
    timezone: str = DEFAULT_TIMEZONE,
    country: str = DEFAULT_COUNTRY,
    subdivision: str | None = DEFAULT_SUBDIVISION,
    night_start_h: float = NIGHT_START_H,
    night_end_h: float = NIGHT_END_H,
) -> pl.DataFrame:
    """Local-time calendar features of UTC quarter hours.

    Parameters
    ----------
    ts_utc : pl.Series
        Interval starts, Datetime with time zone UTC.
    timezone : str, default "Europe/Berlin"
        IANA time zone of the site.
    country, subdivision : str
        Public-holiday calendar (see :func:`holiday_dates`).
    night_start_h, night_end_h : float, default 22 and 6
        Local hours [h] between which a working day's night is off-hours.

    Returns
    -------
    pl.DataFrame
        One row per input instant, in input order:

        - ``ts_utc``; ``ts_local`` (Datetime in ``timezone``);
        - ``hour_local`` (Float64): local time of day [h], e.g. 22.25;
        - ``slot`` (UInt8): local quarter hour of the day, 0–95 (the repeated hour of
          the autumn change repeats its slots; the skipped spring hour has none);
        - ``day_type`` (UInt8): 0 workday, 1 Saturday, 2 Sunday or public holiday,
          of the local date;
        - ``is_workday``: Monday–Friday and not a public holiday;
        - ``is_night``: local time before ``night_end_h`` or from ``night_start_h`` on;
        - ``off_hours``: not a workday, or at night;
        - ``op_day`` (Date): operating day, the local date of ``local time −
          night_end_h``;
        - ``op_day_type`` (UInt8): day type of the operating day's date;
          ``op_is_workday``: whether it is a workday (then the operating day has working
          hours, and its block is the night after them).
    """
    if ts_utc.is_empty():
        years = range(2000, 2001)
    else:
        years = range(ts_utc.min().year - 1, ts_utc.max().year + 2)
    days = holiday_dates(years, country, subdivision)
    night_end = timedelta(hours=night_end_h)
    frame = pl.DataFrame({"ts_utc": ts_utc.cast(UTC_TS)}).with_columns(
        pl.col("ts_utc").dt.convert_time_zone(timezone).alias("ts_local")
    )
    wall = pl.col("ts_local").dt.replace_time_zone(None)
    hour = pl.col("ts_local").dt.hour() + pl.col("ts_local").dt.minute() / 60
    local_date = pl.col("ts_local").dt.date()
    op_day = (wall - night_end).dt.date()

    def day_type(d: pl.Expr) -> pl.Expr:
        return (
            pl.when(d.is_in(days) | (d.dt.weekday() == 7))
            .then(SUNDAY_OR_HOLIDAY)
            .when(d.dt.weekday() == 6)
            .then(SATURDAY)
            .otherwise(WORKDAY)
            .cast(pl.UInt8)
        )

    return (
        frame.with_columns(
            (pl.col("ts_local").dt.hour() * 4 + pl.col("ts_local").dt.minute() // 15)
            .cast(pl.UInt8)
            .alias("slot"),
            day_type(local_date).alias("day_type"),
            op_day.alias("op_day"),
            day_type(op_day).alias("op_day_type"),
            hour.alias("hour_local"),
        )
        .with_columns(
            (pl.col("day_type") == WORKDAY).alias("is_workday"),
            (pl.col("op_day_type") == WORKDAY).alias("op_is_workday"),
            ((pl.col("hour_local") < night_end_h) | (pl.col("hour_local") >= night_start_h)).alias(
                "is_night"
            ),
        )
        .with_columns((~pl.col("is_workday") | pl.col("is_night")).alias("off_hours"))
        .select(
            "ts_utc",
            "ts_local",
            "hour_local",
            "slot",
            "day_type",
            "is_workday",
            "is_night",
            "off_hours",
            "op_day",
            "op_day_type",
            "op_is_workday",
        )
    )


def is_off_hours(
    ts_utc: pl.Series,
    timezone: str = DEFAULT_TIMEZONE,
    country: str = DEFAULT_COUNTRY,
    subdivision: str | None = DEFAULT_SUBDIVISION,
    night_start_h: float = NIGHT_START_H,
    night_end_h: float = NIGHT_END_H,
) -> pl.Series:
    """Whether each UTC quarter hour is off-hours at the site (see :func:`off_hours_calendar`)."""
    cal = off_hours_calendar(ts_utc, timezone, country, subdivision, night_start_h, night_end_h)
    return cal["off_hours"]


def period_ids(op_is_workday: np.ndarray) -> np.ndarray:
    """Off-hours period of each consecutive operating day.

    A workday starts a new period (its night); the weekend and holiday days after it
    belong to the same period, since no working hours separate them.

    Parameters
    ----------
    op_is_workday : numpy.ndarray of bool
        One flag per consecutive operating day.

    Returns
    -------
    numpy.ndarray of int64
        Period number per operating day, 0-based and non-decreasing.
    """
    ids = np.cumsum(op_is_workday.astype(np.int64))
    return ids - ids[0] if len(ids) else ids
