"""The 15-minute UTC time grid of a period, with the local-time features loads follow."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import holidays
import polars as pl


def quarter_hours(start: date, end: date, timezone: str, subdivision: str = "BB") -> pl.DataFrame:
    """One row per 15-minute interval in UTC days ``start <= day < end``.

    Columns: ts_utc, ts_local, hour_local (fractional hour, e.g. 6.25), weekday
    (1 = Monday), is_holiday (German public holiday in ``subdivision``),
    is_workday (Mon–Fri and not a holiday), off_hours (22:00–06:00 local, weekends
    and holidays).
    """
    first = datetime(start.year, start.month, start.day, tzinfo=UTC)
    last = datetime(end.year, end.month, end.day, tzinfo=UTC) - timedelta(minutes=15)
    ts = pl.datetime_range(first, last, "15m", eager=True, time_zone="UTC").dt.cast_time_unit("us")
    years = range(start.year - 1, end.year + 1)
    holiday_days = sorted(holidays.Germany(years=years, subdiv=subdivision))
    frame = pl.DataFrame({"ts_utc": ts}).with_columns(
        pl.col("ts_utc").dt.convert_time_zone(timezone).alias("ts_local")
    )
    return (
        frame.with_columns(
            (pl.col("ts_local").dt.hour() + pl.col("ts_local").dt.minute() / 60).alias(
                "hour_local"
            ),
            pl.col("ts_local").dt.weekday().alias("weekday"),
            pl.col("ts_local").dt.date().is_in(holiday_days).alias("is_holiday"),
        )
        .with_columns(
            ((pl.col("weekday") <= 5) & ~pl.col("is_holiday")).alias("is_workday"),
        )
        .with_columns(
            (
                ~pl.col("is_workday") | (pl.col("hour_local") >= 22) | (pl.col("hour_local") < 6)
            ).alias("off_hours"),
        )
    )
