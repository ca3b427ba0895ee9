"""Check a frame of 15-minute meter readings before vampire-load detection."""

from __future__ import annotations

import numpy as np
import polars as pl

from pipelines.vampire.offhours import INTERVAL_US, UTC_TS

REQUIRED_COLUMNS = ("meter_id", "ts_utc", "energy_wh")
MIN_HISTORY_DAYS = 14.0


class VampireInputError(ValueError):
    """Readings the detector cannot use; the message says what is wrong and what to do."""


def _examples(values: list, limit: int = 3) -> str:
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (f" (and {len(values) - limit} more)" if len(values) > limit else "")


def check_readings(readings: pl.DataFrame) -> pl.DataFrame:
    """Validate readings and return them typed: meter_id, ts_utc, energy_wh.

    Parameters
    ----------
    readings : pl.DataFrame
        At least ``meter_id``, ``ts_utc`` (interval start; Datetime, a naive one is taken
        as UTC) and ``energy_wh`` [Wh] per 15-minute interval. Other columns are ignored.
        Rows with a null ``energy_wh`` count as missing intervals.

    Returns
    -------
    pl.DataFrame
        ``meter_id`` (String), ``ts_utc`` (Datetime us UTC), ``energy_wh`` (Float64),
        without null energies.

    Raises
    ------
    VampireInputError
        Missing columns, wrong types, null meter ids or timestamps, timestamps off the
        15-minute grid or negative energy. Repeated readings and short histories are
        checked by :func:`check_history` once the readings are sorted.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in readings.columns]
    if missing:
        raise VampireInputError(
            f"readings lack the column(s) {missing}; need meter_id, ts_utc (UTC interval "
            f"start) and energy_wh per 15-minute interval (have {readings.columns})"
        )
    ts = readings["ts_utc"]
    if not isinstance(ts.dtype, pl.Datetime):
        raise VampireInputError(f"ts_utc must be a Datetime column, not {ts.dtype}")
    if not readings["energy_wh"].dtype.is_numeric():
        raise VampireInputError(f"energy_wh must be numeric, not {readings['energy_wh'].dtype}")
    ts_expr = pl.col("ts_utc")
    ts_expr = (
        ts_expr.dt.replace_time_zone("UTC")
        if ts.dtype.time_zone is None
        else ts_expr.dt.convert_time_zone("UTC")
    )
    frame = readings.select(
        pl.col("meter_id").cast(pl.String),
        ts_expr.cast(UTC_TS),
        pl.col("energy_wh").cast(pl.Float64),
    )
    problems = frame.select(
        pl.col("meter_id").null_count().alias("no_meter"),
        pl.col("ts_utc").null_count().alias("no_ts"),
        pl.col("energy_wh").null_count().alias("no_energy"),
        (ts_expr_us() % INTERVAL_US != 0).sum().alias("off_grid"),
        (pl.col("energy_wh") < 0).sum().alias("negative"),
    ).row(0, named=True)
    if problems["no_meter"] or problems["no_ts"]:
        raise VampireInputError(
            f"{problems['no_meter']} rows without meter_id and {problems['no_ts']} without "
            "ts_utc; every reading needs both"
        )
    if problems["off_grid"]:
        first = frame.filter(ts_expr_us() % INTERVAL_US != 0)["ts_utc"][0]
        raise VampireInputError(
            f"{problems['off_grid']} timestamps are not 15-minute interval starts "
            f"(e.g. {first}); give readings per quarter hour (:00, :15, :30, :45)"
        )
    if problems["negative"]:
        first = frame.filter(pl.col("energy_wh") < 0).row(0, named=True)
        raise VampireInputError(
            f"{problems['negative']} readings have negative energy_wh (e.g. meter "
            f"{first['meter_id']} at {first['ts_utc']}); give consumed energy ≥ 0"
        )
    if problems["no_energy"]:
        frame = frame.filter(pl.col("energy_wh").is_not_null())
    if frame.is_empty():
        raise VampireInputError("no readings with an energy_wh value")
    return frame


def ts_expr_us() -> pl.Expr:
    """``ts_utc`` as integer microseconds since the epoch."""
    return pl.col("ts_utc").dt.epoch("us")


def check_history(
    meter_ids: list[str], first: np.ndarray, last: np.ndarray, min_history_days: float
) -> None:
    """Raise if a meter spans less than ``min_history_days``.

    Parameters
    ----------
    meter_ids : list of str
        Meter ids.
    first, last : numpy.ndarray
        First and last reading of each meter, as quarter-hour indices.
    min_history_days : float
        Each meter must span at least this many days [d] from its first to its last
        reading, so that its normal off-hours behaviour can be learned.

    Raises
    ------
    VampireInputError
        Naming the meters that fall short.
    """
    days = (np.asarray(last) - np.asarray(first) + 1) / 96
    short = np.flatnonzero(days < min_history_days)
    if len(short):
        listed = [f"{meter_ids[i]} ({days[i]:.1f} d)" for i in short]
        raise VampireInputError(
            f"meter(s) {_examples(listed)} have less than {min_history_days:g} days of readings; "
            "the detector learns each meter's normal off-hours use from the file, so give at "
            "least two weeks (better four or more)"
        )
