"""Vampire-load events: sustained off-hours consumption above a meter's learned baseline.

The *excess* of an off-hours quarter hour is its power minus the expected power
(:mod:`pipelines.vampire.baseline`). Each meter has a threshold per off-hours regime
(night, Saturday daytime, Sunday/holiday daytime)::

    threshold = max(k_sigma · σ, min_fraction · S, min_excess_w)

with σ the robust spread (1.4826 × median absolute deviation) of the meter's residuals
in that regime and S the meter's scale (typical working-hours power above off-hours).

An *event* is a run of off-hours quarter hours of one meter whose excess exceeds
``run_fraction`` of the threshold, bridging gaps of up to ``max_gap_intervals``, that

1. lasts at least ``min_duration`` (so a compressor cycling for 30–45 minutes never
   fires),
2. exceeds the threshold on average over its whole duration, and
3. starts or ends with a step: where a boundary lies inside off-hours, the readings just
   outside it are back at the normal level (a machine switched on or off, not weather
   swelling and fading; see :func:`has_step_boundary`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl

from pipelines.schemas import conform, empty_frame
from pipelines.vampire.baseline import N_REGIMES, Baseline, fit_baseline, group_median
from pipelines.vampire.grid import HOURS_PER_INTERVAL, MeterGrid, meter_chunks, to_grid
from pipelines.vampire.offhours import (
    DEFAULT_COUNTRY,
    DEFAULT_SUBDIVISION,
    DEFAULT_TIMEZONE,
    INTERVAL,
    NIGHT_END_H,
    NIGHT_START_H,
)
from pipelines.vampire.pricing import event_cost_and_co2

DEFAULT_SITE_ID = "unknown"
MAD_TO_SIGMA = 1.4826
MIN_REGIME_READINGS = 96  # a day's worth of quarter hours


@dataclass(frozen=True)
class DetectionParams:
    """Thresholds of the event rule.

    Attributes
    ----------
    k_sigma : float
        Threshold in robust standard deviations of the meter's off-hours residual.
    min_fraction : float
        Threshold as a fraction of the meter's scale (working-hours power above
        off-hours); the smallest excess worth an alert on that machine.
    min_excess_w : float
        Absolute threshold floor [W].
    min_duration : timedelta
        Shortest event, from its first to the end of its last excess quarter hour.
    run_fraction : float
        A quarter hour joins an event when its excess exceeds this fraction of the
        threshold (hysteresis: the event as a whole must exceed the threshold on
        average, so a steady excess near the threshold is not cut into pieces).
    max_gap_intervals : int
        Quarter hours below ``run_fraction`` of the threshold that may interrupt an event.
    boundary_fraction : float
        A machine left on starts and stops with a step; weather or a slowly drifting
        process swells and fades. Where an event's start or end lies inside off-hours,
        the two quarter hours outside it must be back at the normal level: their mean
        excess at most this fraction of the threshold, at one boundary at least.
        Events bounded on both sides by working hours or missing data are kept. 1 turns
        the rule off.
    step_fraction : float
        At that boundary the excess must also step by at least this fraction of the
        event's mean excess (two quarter hours inside against two outside), so an
        excess that climbs for hours after the boundary does not count as a step.
    """

    k_sigma: float = 4.0
    min_fraction: float = 0.1
    min_excess_w: float = 20.0
    min_duration: timedelta = timedelta(hours=2)
    run_fraction: float = 0.6
    max_gap_intervals: int = 1
    boundary_fraction: float = 0.4
    step_fraction: float = 0.5


def residual_spread(keys: np.ndarray, residual: np.ndarray, size: int) -> np.ndarray:
    """Robust standard deviation of the residuals per integer key [W] (MAD × 1.4826).

    Returns
    -------
    numpy.ndarray
        (size,); NaN for keys without residuals.
    """
    centre, _ = group_median(keys, residual, size)
    mad, _ = group_median(keys, np.abs(residual - centre[keys]), size)
    return mad * MAD_TO_SIGMA


def meter_thresholds_w(
    residual: np.ndarray, regime: np.ndarray, scale: np.ndarray, params: DetectionParams
) -> np.ndarray:
    """Excess thresholds of a range of meters [W].

    Parameters
    ----------
    residual : numpy.ndarray
        Off-hours residuals of the meters [W].
    regime : numpy.ndarray
        Their regime keys ``(code − m0) * 3 + regime`` (:class:`OffHoursRows`).
    scale : numpy.ndarray
        (n,) the meters' scale [W].
    params : DetectionParams

    Returns
    -------
    numpy.ndarray
        (n, 3) threshold per off-hours regime (0 night, 1 Saturday daytime, 2 Sunday or
        holiday daytime). The spread is taken per regime, since weather moves a machine
        more by day than at night; a regime with less than a day of readings uses the
        largest spread of the meter's other regimes.
    """
    n = len(scale)
    sigma = residual_spread(regime, residual, n * N_REGIMES)
    counts = np.bincount(regime, minlength=n * N_REGIMES)
    sigma = np.where(counts >= MIN_REGIME_READINGS, sigma, np.nan).reshape(n, N_REGIMES)
    known = np.where(np.isnan(sigma), -np.inf, sigma).max(axis=1)
    sigma = np.where(np.isnan(sigma), np.maximum(known, 0)[:, None], sigma)
    return np.maximum.reduce(
        [
            params.k_sigma * sigma,
            params.min_fraction * scale[:, None] + np.zeros((n, N_REGIMES)),
            np.full((n, N_REGIMES), params.min_excess_w),
        ]
    )


def excess_readings(
    grid: MeterGrid, baseline: Baseline, params: DetectionParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Off-hours readings above ``run_fraction`` of their meter's threshold.

    Returns
    -------
    rows : numpy.ndarray
        Indices of the readings in the grid, ascending.
    threshold_w : numpy.ndarray
        The (full) threshold of each of them [W].
    thresholds_w : numpy.ndarray
        (n_meters, 3) every meter's threshold per regime [W].
    """
    rows, row_threshold = [], []
    thresholds = np.empty((grid.n_meters, N_REGIMES))
    for m0, m1 in meter_chunks(grid):
        off, residual = baseline.off_hours_residual_w(grid, m0, m1)
        thresholds[m0:m1] = meter_thresholds_w(
            residual, off.regime, baseline.scale_w[m0:m1], params
        )
        limit = thresholds[m0:m1].reshape(-1)[off.regime]
        hot = residual > params.run_fraction * limit
        rows.append(off.rows[hot])
        row_threshold.append(limit[hot])
    return np.concatenate(rows), np.concatenate(row_threshold), thresholds


def _residual(grid: MeterGrid, baseline: Baseline, rows: np.ndarray) -> np.ndarray:
    return grid.power_w[rows] - baseline.expected_w(grid, rows)


def _outside_mean(
    grid: MeterGrid, baseline: Baseline, edge: np.ndarray, direction: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean residual of up to two off-hours readings next to ``edge`` rows [W].

    ``direction`` −1 looks before the rows, +1 after. Only readings of the same meter at
    the adjacent quarter hours count. Returns (mean, observed); ``observed`` is False
    where no such reading exists.
    """
    n = len(grid.code)
    total = np.zeros(len(edge))
    count = np.zeros(len(edge))
    ok = np.ones(len(edge), dtype=bool)
    for step in (1, 2):
        target = edge + direction * step
        rows = np.clip(target, 0, n - 1)
        ok = (
            ok
            & (target >= 0)
            & (target < n)
            & (grid.code[rows] == grid.code[edge])
            & (grid.k[rows].astype(np.int64) == grid.k[edge].astype(np.int64) + direction * step)
            & grid.off[grid.k[rows]]
        )
        total += np.where(ok, _residual(grid, baseline, rows), 0.0)
        count += ok
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count, count > 0


def has_step_boundary(
    grid: MeterGrid,
    baseline: Baseline,
    first_row: np.ndarray,
    last_row: np.ndarray,
    thresholds_w: np.ndarray,
    mean_excess_w: np.ndarray,
    fraction: float,
    step_fraction: float,
) -> np.ndarray:
    """Whether each event rises from, or falls back to, the normal level at a boundary.

    Parameters
    ----------
    grid : MeterGrid
    baseline : Baseline
    first_row, last_row : numpy.ndarray
        First and last reading of each event (indices into the grid's readings).
    thresholds_w : numpy.ndarray
        (n_meters, 3) thresholds per meter and regime [W].
    mean_excess_w : numpy.ndarray
        Mean excess of each event [W].
    fraction : float
        The readings outside a boundary are at the normal level when their mean excess
        is at most this fraction of the threshold at the reading next to the boundary.
    step_fraction : float
        The step across a boundary (mean excess of the two readings inside minus the two
        outside) must be at least this fraction of the event's mean excess.

    Returns
    -------
    numpy.ndarray of bool
        True when, at the start or at the end (within off-hours), the excess steps
        between the normal level and most of the event's level, or when neither
        boundary can be observed because the event fills its off-hours between working
        hours or gaps. False for an excess that swells and fades gradually (weather, a
        drifting process): around it the excess is still close to the threshold, or
        it climbs well after the boundary.
    """
    n = len(grid.code)
    verdict = np.zeros(len(first_row), dtype=bool)
    observed = np.zeros(len(first_row), dtype=bool)
    for edge, direction in ((first_row, -1), (last_row, +1)):
        outside, seen = _outside_mean(grid, baseline, edge, direction)
        second = np.clip(edge - direction, np.minimum(first_row, last_row), last_row)
        inside = (_residual(grid, baseline, edge) + _residual(grid, baseline, second)) / 2
        next_row = np.clip(edge + direction, 0, n - 1)
        limit = fraction * thresholds_w[grid.code[next_row], grid.regime[grid.k[next_row]]]
        step = inside - outside >= step_fraction * mean_excess_w
        verdict |= seen & (outside <= limit) & step
        observed |= seen
    return verdict | ~observed


def _expand(first_row: np.ndarray, last_row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(run number, row) of every row in the inclusive ranges ``first_row..last_row``."""
    lengths = last_row - first_row + 1
    run = np.repeat(np.arange(len(first_row)), lengths)
    rows = (
        first_row[run]
        + np.arange(int(lengths.sum()))
        - np.repeat(np.r_[0, np.cumsum(lengths)[:-1]], lengths)
    )
    return run, rows


def _no_events() -> tuple[pl.DataFrame, pl.DataFrame]:
    events = pl.DataFrame(
        schema={
            "event": pl.Int64,
            "code": pl.UInt32,
            "first_row": pl.Int64,
            "last_row": pl.Int64,
            "start_k": pl.Int64,
            "end_k": pl.Int64,
            "threshold_w": pl.Float64,
        }
    )
    intervals = pl.DataFrame(
        schema={"event": pl.Int64, "ts_utc": pl.Datetime("us", "UTC"), "excess_wh": pl.Float64}
    )
    return events, intervals


def find_events(grid: MeterGrid, baseline: Baseline, params: DetectionParams) -> tuple:
    """Events of every meter, as row ranges of ``grid``.

    Returns
    -------
    events : pl.DataFrame
        event (0..n−1), code, first_row, last_row (inclusive, indices into the grid's
        readings), start_k, end_k (grid index of the first interval and one past the
        last), threshold_w [W] (mean over the event).
    intervals : pl.DataFrame
        event, ts_utc, excess_wh [Wh] for every reading inside an event (negative
        residuals inside an event count as zero).
    """
    hot, hot_threshold, thresholds = excess_readings(grid, baseline, params)
    if len(hot) == 0:
        return _no_events()
    code, k = grid.code[hot], grid.k[hot].astype(np.int64)
    new = np.ones(len(hot), dtype=bool)
    new[1:] = (code[1:] != code[:-1]) | (k[1:] - k[:-1] > params.max_gap_intervals + 1)
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], len(hot))[: len(starts)] - 1
    long_enough = (k[ends] - k[starts] + 1) >= params.min_duration / INTERVAL
    starts, ends = starts[long_enough], ends[long_enough]
    if len(starts) == 0:
        return _no_events()
    first_row, last_row = hot[starts], hot[ends]
    total = np.r_[0.0, np.cumsum(hot_threshold)]
    threshold = (total[ends + 1] - total[starts]) / (ends - starts + 1)

    run, rows = _expand(first_row, last_row)
    excess_w = np.clip(_residual(grid, baseline, rows), 0, None)
    mean_excess = np.bincount(run, excess_w, len(starts)) / (last_row - first_row + 1)
    keep = mean_excess >= threshold
    if params.boundary_fraction < 1:
        keep &= has_step_boundary(
            grid,
            baseline,
            first_row,
            last_row,
            thresholds,
            mean_excess,
            params.boundary_fraction,
            params.step_fraction,
        )
    index = np.cumsum(keep) - 1  # new event number of each kept run
    in_kept = keep[run]
    events = pl.DataFrame(
        {
            "event": np.arange(int(keep.sum()), dtype=np.int64),
            "code": code[starts][keep],
            "first_row": first_row[keep],
            "last_row": last_row[keep],
            "start_k": k[starts][keep],
            "end_k": k[ends][keep] + 1,
            "threshold_w": threshold[keep],
        }
    )
    intervals = pl.DataFrame(
        {
            "event": index[run[in_kept]].astype(np.int64),
            "ts_utc": grid.ts_utc.gather(grid.k[rows[in_kept]]),
            "excess_wh": excess_w[in_kept] * HOURS_PER_INTERVAL,
        }
    )
    return events, intervals


def detect_vampire_loads(
    readings: pl.DataFrame,
    site_id: str | None = None,
    timezone: str = DEFAULT_TIMEZONE,
    country: str = DEFAULT_COUNTRY,
    subdivision: str | None = DEFAULT_SUBDIVISION,
    prices: pl.DataFrame | None = None,
    intensity: pl.DataFrame | None = None,
    temperature: pl.DataFrame | None = None,
    zone: str | None = None,
    params: DetectionParams = DetectionParams(),  # noqa: B008 (frozen dataclass)
    night_start_h: float = NIGHT_START_H,
    night_end_h: float = NIGHT_END_H,
    min_history_days: float = 14.0,
    use_model: bool = True,
) -> pl.DataFrame:
    """Detect vampire loads: machinery left running at night, weekends or holidays.

    Each meter's expected off-hours power is learned from the readings themselves
    (:func:`~pipelines.vampire.baseline.fit_baseline`); an event is sustained excess
    over it (:class:`DetectionParams`).

    Parameters
    ----------
    readings : pl.DataFrame
        ``meter_id``, ``ts_utc`` (interval start, UTC) and ``energy_wh`` [Wh] per
        15-minute interval, a few weeks (at least ``min_history_days``) per meter.
    site_id : str, optional
        Written to every event; "unknown" when not given.
    timezone : str, default "Europe/Berlin"
        The site's IANA time zone; off-hours are local.
    country, subdivision : str, default "DE", "BB"
        Public-holiday calendar of the site.
    prices : pl.DataFrame, optional
        Day-ahead prices: ``ts_utc``, ``interval_s``, ``price_eur_per_mwh`` (and
        ``zone``). Without it ``excess_cost_eur`` is null.
    intensity : pl.DataFrame, optional
        Hourly grid carbon intensity: ``hour_utc`` and ``ci_lifecycle_g_per_kwh`` (and
        ``zone``, ``basis``). Without it ``excess_co2_kg`` is null.
    temperature : pl.DataFrame, optional
        Outdoor temperature ``hour_utc``, ``temp_air_c`` [°C]: an extra model feature.
    zone : str, optional
        Bidding zone to pick from ``prices``/``intensity`` when they hold several.
    params : DetectionParams
        Thresholds of the event rule.
    night_start_h, night_end_h : float, default 22 and 6
        Local hours [h] of a working day's night.
    min_history_days : float, default 14
        Shortest history per meter [d].
    use_model : bool, default True
        Use the scikit-learn level model (False: local median level only).

    Returns
    -------
    pl.DataFrame
        The ``vampire_load_events`` schema, one row per event, sorted by meter and
        start: site_id, meter_id, start_utc, end_utc (exclusive), excess_kwh [kWh]
        above the expected power, excess_cost_eur [EUR] at each interval's day-ahead
        price, excess_co2_kg [kg] at each hour's lifecycle intensity,
        mean_excess_power_w [W] and score (mean excess over the meter's threshold,
        ≥ 1 for a clear event).

    Raises
    ------
    pipelines.vampire.readings.VampireInputError
        Unusable readings (missing columns, off-grid or repeated timestamps, short
        history, ...).
    """
    grid = to_grid(
        readings, timezone, country, subdivision, night_start_h, night_end_h, min_history_days
    )
    baseline = fit_baseline(grid, temperature=temperature, use_model=use_model)
    return events_frame(grid, baseline, params, site_id, prices, intensity, zone)


def events_frame(
    grid: MeterGrid,
    baseline: Baseline,
    params: DetectionParams,
    site_id: str | None = None,
    prices: pl.DataFrame | None = None,
    intensity: pl.DataFrame | None = None,
    zone: str | None = None,
) -> pl.DataFrame:
    """The ``vampire_load_events`` rows of ``grid`` given its ``baseline``."""
    events, intervals = find_events(grid, baseline, params)
    if events.is_empty():
        return empty_frame("vampire_load_events")
    priced = event_cost_and_co2(intervals, prices, intensity, zone)
    meter_ids = pl.Series("meter_id", grid.meter_ids, dtype=pl.String)
    out = events.join(priced, on="event", how="left").sort("event")
    duration_h = (out["end_k"] - out["start_k"]).cast(pl.Float64) * HOURS_PER_INTERVAL
    out = out.with_columns(
        pl.lit(site_id or DEFAULT_SITE_ID).alias("site_id"),
        meter_ids.gather(out["code"]).alias("meter_id"),
        grid.ts_utc.gather(out["start_k"].to_numpy()).alias("start_utc"),
        (grid.ts_utc.gather(out["end_k"].to_numpy() - 1) + INTERVAL).alias("end_utc"),
        (pl.col("excess_wh") / 1000).alias("excess_kwh"),
        (pl.col("excess_wh") / duration_h).alias("mean_excess_power_w"),
        (pl.col("excess_wh") / duration_h / pl.col("threshold_w")).alias("score"),
    )
    return conform(out, "vampire_load_events").sort("meter_id", "start_utc")
