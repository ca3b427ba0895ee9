"""Put time series of any resolution onto a plan's slots, with a declared fallback.

Every per-slot input of a site plan (load and PV forecasts, day-ahead prices, carbon
intensity) goes through :func:`on_slots`: the value of a slot is the value of the
interval that contains the slot's start. Where the primary series has no value, the
same slot a week earlier in the history series fills in (seasonal naive; then a day, then
two days earlier, for short histories), and the number of slots filled that way is
reported, never hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from pipelines.forecasting import step_hold

UTC_TS = pl.Datetime("us", "UTC")
WEEK_FIRST = (timedelta(days=7), timedelta(days=1), timedelta(days=2))
DAY_FIRST = (timedelta(days=1), timedelta(days=2), timedelta(days=7))


@dataclass(frozen=True)
class SlotSeries:
    """Values on slots and where they came from.

    Attributes
    ----------
    values : numpy.ndarray
        One value per slot, in the unit of the source column; NaN where nothing is known.
    from_fallback : int
        Slots filled from the history [-].
    missing : int
        Slots with no value at all [-].
    """

    values: np.ndarray
    from_fallback: int
    missing: int


def slot_starts(start_utc: datetime, slots: int, slot_minutes: int) -> pl.Series:
    """Start of every slot [UTC]."""
    step = timedelta(minutes=slot_minutes)
    return pl.Series("slot_start_utc", [start_utc + i * step for i in range(slots)], UTC_TS)


def latest_issue(forecast: pl.DataFrame, ts_col: str, as_of: datetime) -> pl.DataFrame:
    """Per timestamp, the newest forecast issued no later than ``as_of``.

    ``forecast`` has ``issued_at_utc``; runs issued after ``as_of`` are invisible, so a
    replayed plan sees only what was known when it was made.
    """
    return (
        forecast.filter(pl.col("issued_at_utc") <= as_of)
        .sort("issued_at_utc")
        .unique(ts_col, keep="last", maintain_order=True)
        .sort(ts_col)
    )


def _lookup(
    starts: pl.Series, frame: pl.DataFrame, ts_col: str, value_col: str, interval: timedelta
) -> np.ndarray:
    values = frame.select(
        pl.col(ts_col).cast(UTC_TS).alias("ts_utc"), pl.col(value_col).cast(pl.Float64)
    ).drop_nulls()
    grid = pl.DataFrame({"ts_utc": starts.cast(UTC_TS)}).with_row_index("__i")
    held = step_hold(grid, values, [value_col], interval).sort("__i")
    return held[value_col].fill_null(np.nan).to_numpy().astype(float)


def on_slots(
    starts: pl.Series,
    primary: pl.DataFrame,
    ts_col: str,
    value_col: str,
    interval: timedelta,
    history: pl.DataFrame | None = None,
    lags: tuple[timedelta, ...] = WEEK_FIRST,
) -> SlotSeries:
    """Values of a series on the given slot starts, with a seasonal-naive fallback.

    Parameters
    ----------
    starts : polars.Series
        Slot starts [UTC].
    primary : polars.DataFrame
        The series to use, with ``ts_col`` (interval start [UTC]) and ``value_col``.
    ts_col, value_col : str
        Column names, in ``primary`` and ``history`` alike.
    interval : timedelta
        Length of one interval of the series; a slot takes the value of the interval
        containing its start.
    history : polars.DataFrame, optional
        Observed values of the same quantity for the fallback.
    lags : tuple of timedelta
        How far back the fallback looks, in order of preference (7 days keeps the weekday).

    Returns
    -------
    SlotSeries
    """
    values = _lookup(starts, primary, ts_col, value_col, interval)
    gap = np.isnan(values)
    filled = 0
    for lag in lags if history is not None else ():
        if not gap.any():
            break
        back = _lookup(starts - lag, history, ts_col, value_col, interval)
        use = gap & ~np.isnan(back)
        values[use] = back[use]
        filled += int(use.sum())
        gap &= ~use
    return SlotSeries(values, filled, int(np.isnan(values).sum()))
