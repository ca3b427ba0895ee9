"""Readings placed on a shared 15-minute grid, with integer meter codes and calendar arrays.

Detection over tens of millions of readings runs on flat NumPy/Polars columns: each
reading carries its meter code (0..n_meters−1, in meter_id order), its grid index
(quarter hours since the first reading of the file) and its mean power [W]. Calendar
features are computed once per grid instant and gathered by grid index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from pipelines.vampire.offhours import (
    DEFAULT_COUNTRY,
    DEFAULT_SUBDIVISION,
    DEFAULT_TIMEZONE,
    INTERVAL_US,
    NIGHT_END_H,
    NIGHT_START_H,
    off_hours_calendar,
    period_ids,
    quarter_hour_grid,
)
from pipelines.vampire.readings import VampireInputError, check_history, check_readings

HOURS_PER_INTERVAL = 0.25
CHUNK_ROWS = 2_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class MeterGrid:
    """Readings of many meters on one quarter-hour grid.

    Attributes
    ----------
    meter_ids : list of str
        Meter id of each code.
    calendar : pl.DataFrame
        :func:`~pipelines.vampire.offhours.off_hours_calendar` of every grid instant,
        plus ``day`` (Int32, operating-day index from 0).
    code, k, power_w : numpy.ndarray
        Per reading, sorted by (code, k): meter code (uint32), grid index (int32) and
        mean power over the interval [W] (float64).
    row_start : numpy.ndarray
        (n_meters + 1,) first reading of each meter, then the number of readings.
    off, day_type, slot, day, regime : numpy.ndarray
        Per grid instant: off-hours flag, day type (0 workday, 1 Saturday, 2 Sunday or
        holiday), local quarter-hour slot 0–95, operating-day index, and off-hours
        regime (0 night, 1 Saturday daytime, 2 Sunday or holiday daytime).
    day_is_workday, day_type_of_day, day_period : numpy.ndarray
        Per operating day: whether it has working hours, the day type of its date, and
        its off-hours period.
    """

    meter_ids: list[str]
    calendar: pl.DataFrame
    code: np.ndarray
    k: np.ndarray
    row_start: np.ndarray
    power_w: np.ndarray
    off: np.ndarray
    day_type: np.ndarray
    slot: np.ndarray
    day: np.ndarray
    regime: np.ndarray
    day_is_workday: np.ndarray
    day_type_of_day: np.ndarray
    day_period: np.ndarray

    @property
    def n_meters(self) -> int:
        return len(self.meter_ids)

    @property
    def n_days(self) -> int:
        return len(self.day_is_workday)

    @property
    def ts_utc(self) -> pl.Series:
        return self.calendar["ts_utc"]


def _codes_sorted(frame: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """The frame sorted by meter_id with an integer ``code`` column (cheap if already sorted)."""
    if not frame["meter_id"].is_sorted():
        frame = frame.sort("meter_id", "ts_utc")
    frame = frame.with_columns(pl.col("meter_id").rle_id().cast(pl.UInt32).alias("code"))
    code = frame["code"].to_numpy()
    starts = np.r_[0, np.flatnonzero(code[1:] != code[:-1]) + 1]
    meter_ids = frame["meter_id"].gather(starts).to_list()
    return frame, meter_ids


def to_grid(
    readings: pl.DataFrame,
    timezone: str = DEFAULT_TIMEZONE,
    country: str = DEFAULT_COUNTRY,
    subdivision: str | None = DEFAULT_SUBDIVISION,
    night_start_h: float = NIGHT_START_H,
    night_end_h: float = NIGHT_END_H,
    min_history_days: float = 14.0,
) -> MeterGrid:
    """Check readings and place them on the quarter-hour grid.

    Parameters
    ----------
    readings : pl.DataFrame
        meter_id, ts_utc, energy_wh [Wh] per 15-minute interval (see
        :func:`~pipelines.vampire.readings.check_readings`).
    timezone, country, subdivision, night_start_h, night_end_h
        Off-hours definition, see :func:`~pipelines.vampire.offhours.off_hours_calendar`.
    min_history_days : float, default 14
        Minimum span of each meter's readings [d].

    Returns
    -------
    MeterGrid

    Raises
    ------
    VampireInputError
        Bad readings (see :func:`~pipelines.vampire.readings.check_readings`).
    """
    frame = check_readings(readings)
    t0 = frame["ts_utc"].min()
    t1 = frame["ts_utc"].max()
    frame, meter_ids = _codes_sorted(frame)
    t0_us = (t0 - EPOCH) // timedelta(microseconds=1)
    frame = frame.select(
        "code",
        ((pl.col("ts_utc").dt.epoch("us") - t0_us) // INTERVAL_US).cast(pl.Int32).alias("k"),
        (pl.col("energy_wh") / HOURS_PER_INTERVAL).alias("power_w"),
    )
    backwards = (pl.col("k").diff() <= 0) & (pl.col("code").diff() == 0)
    if frame.select(backwards.fill_null(False).any()).item():
        frame = frame.sort("code", "k")
        repeated = frame.select(
            ((pl.col("code") == pl.col("code").shift(1)) & (pl.col("k") == pl.col("k").shift(1)))
            .fill_null(False)
            .any()
        ).item()
        if repeated:
            raise VampireInputError(
                "repeated (meter_id, ts_utc) in the readings; give one reading per meter "
                "and quarter hour"
            )
    code = frame["code"].to_numpy()
    k = frame["k"].to_numpy()
    row_start = np.r_[0, np.flatnonzero(code[1:] != code[:-1]) + 1, len(code)]
    check_history(meter_ids, k[row_start[:-1]], k[row_start[1:] - 1], min_history_days)
    calendar = off_hours_calendar(
        quarter_hour_grid(t0, t1), timezone, country, subdivision, night_start_h, night_end_h
    )
    first_day = calendar["op_day"][0]
    calendar = calendar.with_columns(
        (pl.col("op_day") - first_day).dt.total_days().cast(pl.Int32).alias("day")
    )
    days = calendar.group_by("day").agg(pl.col("op_day_type").first()).sort("day")
    day_type_of_day = np.zeros(int(days["day"].max()) + 1, dtype=np.uint8)
    day_type_of_day[days["day"].to_numpy()] = days["op_day_type"].to_numpy()
    day_is_workday = day_type_of_day == 0
    return MeterGrid(
        meter_ids=meter_ids,
        calendar=calendar,
        code=code,
        k=k,
        row_start=row_start,
        power_w=frame["power_w"].to_numpy(),
        off=calendar["off_hours"].to_numpy(),
        day_type=calendar["day_type"].to_numpy(),
        slot=calendar["slot"].to_numpy(),
        day=calendar["day"].to_numpy(),
        regime=np.where(calendar["is_night"].to_numpy(), 0, calendar["day_type"].to_numpy()).astype(
            np.uint8
        ),
        day_is_workday=day_is_workday,
        day_type_of_day=day_type_of_day,
        day_period=period_ids(day_is_workday),
    )


def meter_chunks(grid: MeterGrid, max_rows: int = CHUNK_ROWS) -> list[tuple[int, int]]:
    """Consecutive meter ranges ``[m0, m1)`` of at most ``max_rows`` readings each.

    A meter with more readings than ``max_rows`` gets a chunk of its own. Working
    chunk by chunk keeps every temporary array small, so memory is reused instead of
    being mapped afresh for each step (which costs more than the arithmetic itself).
    """
    chunks = []
    m0 = 0
    while m0 < grid.n_meters:
        limit = grid.row_start[m0] + max_rows
        m1 = int(np.searchsorted(grid.row_start, limit, side="right")) - 1
        m1 = min(max(m1, m0 + 1), grid.n_meters)
        chunks.append((m0, m1))
        m0 = m1
    return chunks
