"""Expected off-hours power of each meter, learned from the readings themselves.

The model splits each meter's off-hours power into a shape and a level::

    p(t) = P[m, day_type(t), slot(t)] + L[m, b(t)] + e(t)

- ``P`` is the meter's *profile*: the median power [W] at each local quarter-hour slot,
  separately for workday nights, Saturdays and Sundays/holidays, over all off-hours
  of the file.
- ``L`` is the *level* of an off-hours block ``b``: the block's median of ``p − P``
  [W]. It moves with season, weather and production. A block is the night of an
  operating day (see :mod:`pipelines.vampire.offhours`), or the daytime of a weekend or
  holiday; nights and daytimes get levels of their own, because a season shifts them
  differently (heating at night in winter, cooling by day in summer).

The expected level of a block is predicted *without looking at the block itself*, so a
machine left running all night cannot hide in its own baseline:

``L̂ = L_local + S · f(x)``

- ``L_local`` is the median level of the blocks of the same kind (night or daytime)
  over ± ``window_days`` operating days (twice that for the sparser daytimes), which a
  single event hardly moves;
- ``f`` is one scikit-learn quantile (median) gradient-boosting model for all meters,
  trained on meter-normalised block features: the night levels of the previous and the
  next off-hours period, the meter's working-hours level on the working days just
  before and after the block (over the whole day, and over the two hours next to the
  off-hours: a proxy for weather and production that off-hours events never touch),
  the day type, night or daytime, the position in the period, the meter's off- to
  working-hours ratio and, when given, the outdoor temperature. Targets and features
  are divided by the meter's scale ``S`` (typical working-hours power above the
  off-hours level), so meters of any size share the model, and the median loss ignores
  the rare blocks that hold an event.

Everything per reading is a vectorised Polars group-by or a NumPy gather over
compact integer keys, chunk by chunk of meters; the model sees one row per meter and
block (about 470 000 rows for 1 000 meter-years).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from pipelines.vampire.grid import MeterGrid, meter_chunks
from pipelines.vampire.offhours import N_DAY_TYPES, SLOTS_PER_DAY, UTC_TS

if TYPE_CHECKING:  # scikit-learn is imported where a model is fitted: it is slow to import
    from sklearn.ensemble import HistGradientBoostingRegressor

WINDOW_DAYS = 7
MAX_TRAINING_BLOCKS = 60_000
MIN_TRAINING_BLOCKS = 60
# OpenMP threads of the model. The model is small (≤ 60 000 training rows); on a shared
# machine, spinning OpenMP threads that wait for a busy core cost ten times more than
# they save, so one thread is both faster there and deterministic everywhere.
MODEL_THREADS = 1
EDGE_INTERVALS = 8  # the last/first two hours of working time around an off-hours period
N_REGIMES = 3  # off-hours regimes: 0 night, 1 Saturday daytime, 2 Sunday/holiday daytime
N_PARTS = 2  # block parts: 0 night, 1 daytime (weekends and holidays only)
FEATURES = (
    "day_type",
    "part",
    "days_into_period",
    "block_hours",
    "prev_period_level",
    "next_period_level",
    "prev_working_level",
    "next_working_level",
    "prev_evening_level",
    "next_morning_level",
    "off_to_working_ratio",
)
TEMPERATURE_FEATURES = ("temp_air_c", "temp_anomaly_c")


@dataclass(frozen=True)
class OffHoursRows:
    """The off-hours readings of a range of meters, with the keys detection needs.

    Attributes
    ----------
    rows : numpy.ndarray
        Indices of the off-hours readings in the grid (int64).
    block : numpy.ndarray
        Block key ``(code * n_days + day) * 2 + part`` of each (uint32; part 0 night,
        1 daytime).
    regime : numpy.ndarray
        Regime key ``(code − m0) * 3 + regime``, relative to the range's first meter
        ``m0`` (uint32).
    power_w : numpy.ndarray
        Mean power of each reading [W].
    profile_w : numpy.ndarray
        The meter's profile at each reading [W].
    """

    rows: np.ndarray
    block: np.ndarray
    regime: np.ndarray
    power_w: np.ndarray
    profile_w: np.ndarray


@dataclass(frozen=True)
class Baseline:
    """Expected off-hours power of every meter.

    Attributes
    ----------
    profile_w : numpy.ndarray
        (n_meters, 3, 96) median off-hours power by day type and local slot [W].
    level_w : numpy.ndarray
        (n_meters, n_days, 2) expected level of each off-hours block [W] (night, then
        weekend or holiday daytime, of each operating day).
    observed_level_w : numpy.ndarray
        (n_meters, n_days, 2) observed block level [W] (NaN where no readings).
    scale_w : numpy.ndarray
        (n_meters,) typical working-hours power above the off-hours level [W].
    model : HistGradientBoostingRegressor or None
        The level model; None when it was not used or there were too few blocks.
    """

    profile_w: np.ndarray
    level_w: np.ndarray
    observed_level_w: np.ndarray
    scale_w: np.ndarray
    model: HistGradientBoostingRegressor | None

    def expected_w(self, grid: MeterGrid, rows: np.ndarray) -> np.ndarray:
        """Expected power [W] of readings ``rows`` of ``grid`` (meaningful in off-hours)."""
        code = grid.code[rows]
        k = grid.k[rows]
        expected = (
            self.profile_w[code, grid.day_type[k], grid.slot[k]]
            + self.level_w[code, grid.day[k], (grid.regime[k] > 0).astype(np.intp)]
        )
        return np.maximum(expected, 0.0)

    def off_hours_residual_w(self, grid: MeterGrid, m0: int, m1: int) -> tuple:
        """Power minus expected power of the off-hours readings of meters ``m0..m1-1``.

        Returns
        -------
        off : OffHoursRows
        residual_w : numpy.ndarray
            Residual of each reading in ``off.rows`` [W].
        """
        off, _ = off_hours_rows(grid, m0, m1, self.profile_w)
        expected = off.profile_w + self.level_w.reshape(-1)[off.block]
        return off, off.power_w - np.maximum(expected, 0.0)


def group_median(keys: np.ndarray, values: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Median and count of ``values`` per integer key in ``0..size-1``.

    Returns
    -------
    median, count : numpy.ndarray
        (size,) each; NaN and 0 for keys without values.
    """
    agg = (
        pl.DataFrame({"key": keys, "v": values})
        .group_by("key")
        .agg(pl.col("v").median().alias("median"), pl.len().alias("n"))
    )
    median = np.full(size, np.nan)
    count = np.zeros(size, dtype=np.int64)
    idx = agg["key"].to_numpy()
    median[idx] = agg["median"].to_numpy()
    count[idx] = agg["n"].to_numpy()
    return median, count


def nanmedian(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """Median along ``axis`` ignoring NaN; NaN where a slice is all NaN.

    A sort-based version of ``numpy.nanmedian``, many times faster on many short slices.
    """
    a = np.moveaxis(np.asarray(a, dtype=float), axis, -1)
    ordered = np.sort(a, axis=-1)  # NaN sort last
    n = np.sum(~np.isnan(a), axis=-1)
    lo = np.take_along_axis(ordered, np.maximum((n - 1) // 2, 0)[..., None], axis=-1)[..., 0]
    hi = np.take_along_axis(ordered, np.minimum(n // 2, a.shape[-1] - 1)[..., None], axis=-1)
    return np.where(n > 0, (lo + hi[..., 0]) / 2, np.nan)


def rolling_nanmedian(a: np.ndarray, half_window: int) -> np.ndarray:
    """Centred rolling median along the last axis, ignoring NaN.

    Parameters
    ----------
    a : numpy.ndarray
        (n, m) values.
    half_window : int
        The window is ``2 * half_window + 1`` columns, truncated at the edges.

    Returns
    -------
    numpy.ndarray
        (n, m) medians; NaN where the whole window is NaN.
    """
    padded = np.pad(a, ((0, 0), (half_window, half_window)), constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half_window + 1, axis=1)
    return nanmedian(windows, axis=-1)


def _fill_profile(profile: np.ndarray) -> np.ndarray:
    """Fill slots never seen for a day type: the slot's median over the other day types,
    else the meter's median off-hours power, else 0."""
    n_m = profile.shape[0]
    by_slot = nanmedian(profile, axis=1)  # (n_meters, 96)
    overall = nanmedian(profile.reshape(n_m, -1), axis=1)
    profile = np.where(np.isnan(profile), by_slot[:, None, :], profile)
    profile = np.where(np.isnan(profile), overall[:, None, None], profile)
    return np.nan_to_num(profile)


def _period_levels(level: np.ndarray, day_period: np.ndarray) -> np.ndarray:
    """(n_meters, n_periods) median of the block levels of each off-hours period."""
    n_m, n_d = level.shape
    n_periods = int(day_period.max()) + 1
    starts = np.searchsorted(day_period, np.arange(n_periods))
    lengths = np.diff(np.r_[starts, n_d])
    offsets = np.arange(lengths.max())
    days = starts[:, None] + offsets[None, :]
    days = np.where(offsets[None, :] < lengths[:, None], days, n_d)  # n_d → a NaN column
    padded = np.hstack([level, np.full((n_m, 1), np.nan)])
    return nanmedian(padded[:, days], axis=-1)


def _edge_type(off: np.ndarray) -> np.ndarray:
    """Per grid instant: 1 in the last, 2 in the first ``EDGE_INTERVALS`` working quarter
    hours around off-hours, else 0."""
    n = len(off)
    idx = np.arange(n)
    next_off = np.minimum.accumulate(np.where(off, idx, n + EDGE_INTERVALS + 1)[::-1])[::-1]
    prev_off = np.maximum.accumulate(np.where(off, idx, -EDGE_INTERVALS - 1))
    edge = np.zeros(n, dtype=np.uint8)
    edge[~off & (idx - prev_off <= EDGE_INTERVALS)] = 2
    edge[~off & (next_off - idx <= EDGE_INTERVALS)] = 1
    return edge


def working_levels(grid: MeterGrid, m0: int, m1: int) -> tuple[np.ndarray, ...]:
    """Median working-hours power per meter and operating day [W], meters ``m0..m1-1``.

    Returns
    -------
    day, evening, morning : numpy.ndarray
        (m1 − m0, n_days) medians over the whole working day, its last two hours and
        its first two hours; NaN where the day has no working readings.
    """
    n_m, n_d = m1 - m0, grid.n_days
    r0, r1 = int(grid.row_start[m0]), int(grid.row_start[m1])
    k_all = grid.k[r0:r1]
    rows = pl.Series(~grid.off[k_all]).arg_true().to_numpy()
    k = k_all[rows]
    frame = pl.DataFrame(
        {
            "key": (grid.code[r0:r1][rows] - np.uint32(m0)) * np.uint32(n_d)
            + grid.day[k].astype(np.uint32),
            "p": grid.power_w[r0:r1][rows],
            "edge": _edge_type(grid.off)[k],
        }
    )
    agg = frame.group_by("key").agg(
        pl.col("p").median().alias("day"),
        pl.col("p").filter(pl.col("edge") == 1).median().alias("evening"),
        pl.col("p").filter(pl.col("edge") == 2).median().alias("morning"),
    )
    idx = agg["key"].to_numpy()
    out = []
    for name in ("day", "evening", "morning"):
        a = np.full(n_m * n_d, np.nan)
        a[idx] = agg[name].to_numpy()
        out.append(a.reshape(n_m, n_d))
    return tuple(out)


def off_hours_rows(
    grid: MeterGrid, m0: int, m1: int, profile: np.ndarray | None = None
) -> tuple[OffHoursRows, np.ndarray]:
    """The off-hours readings of meters ``m0 <= code < m1`` with their keys.

    Parameters
    ----------
    grid : MeterGrid
    m0, m1 : int
        Meter range.
    profile : numpy.ndarray, optional
        (n_meters, 3, 96) profile to subtract [W]; by default it is fitted here.

    Returns
    -------
    off : OffHoursRows
    profile_w : numpy.ndarray
        (m1 − m0, 3, 96) median off-hours power per meter, day type and local
        quarter-hour slot [W], gaps filled (see :func:`_fill_profile`).
    """
    r0, r1 = int(grid.row_start[m0]), int(grid.row_start[m1])
    k_all = grid.k[r0:r1]
    local_rows = pl.Series(grid.off[k_all]).arg_true().to_numpy()
    k = k_all[local_rows]
    code = grid.code[r0:r1][local_rows] - np.uint32(m0)
    per_meter = N_DAY_TYPES * SLOTS_PER_DAY
    day_slot = grid.day_type.astype(np.uint32) * SLOTS_PER_DAY + grid.slot
    profile_key = code * np.uint32(per_meter) + day_slot[k]
    power = grid.power_w[r0:r1][local_rows]
    if profile is None:
        median, _ = group_median(profile_key, power, (m1 - m0) * per_meter)
        chunk_profile = _fill_profile(median.reshape(m1 - m0, N_DAY_TYPES, SLOTS_PER_DAY))
    else:
        chunk_profile = profile[m0:m1]
    off = OffHoursRows(
        rows=local_rows.astype(np.int64) + r0,
        block=((code + np.uint32(m0)) * np.uint32(grid.n_days) + grid.day[k].astype(np.uint32))
        * np.uint32(N_PARTS)
        + (grid.regime[k] > 0),
        regime=code * np.uint32(N_REGIMES) + grid.regime[k],
        power_w=power,
        profile_w=chunk_profile.reshape(-1)[profile_key],
    )
    return off, chunk_profile


def _temperature_by_block(grid: MeterGrid, temperature: pl.DataFrame) -> np.ndarray:
    """(n_days, 2) mean outdoor temperature [°C] of each operating day's night and daytime
    off-hours (NaN where unknown)."""
    ts = "hour_utc" if "hour_utc" in temperature.columns else "ts_utc"
    hourly = (
        temperature.select(
            pl.col(ts).dt.convert_time_zone("UTC").cast(UTC_TS).dt.truncate("1h").alias("hour_utc"),
            pl.col("temp_air_c").cast(pl.Float64),
        )
        .group_by("hour_utc")
        .agg(pl.col("temp_air_c").mean())
    )
    instants = pl.DataFrame({"hour_utc": grid.ts_utc.dt.truncate("1h")})
    temp = instants.join(hourly, on="hour_utc", how="left", maintain_order="left")
    temp = temp["temp_air_c"].fill_null(np.nan).to_numpy()
    key = grid.day.astype(np.int64) * N_PARTS + (grid.regime > 0)
    frame = pl.DataFrame({"key": key[grid.off], "t": temp[grid.off]})
    mean = frame.group_by("key").agg(pl.col("t").fill_nan(None).mean())
    out = np.full(grid.n_days * N_PARTS, np.nan)
    out[mean["key"].to_numpy()] = mean["t"].fill_null(np.nan).to_numpy()
    return out.reshape(grid.n_days, N_PARTS)


def local_levels(level: np.ndarray, window_days: int = WINDOW_DAYS) -> np.ndarray:
    """(n_meters, n_days, 2) rolling median block level of each part [W].

    Nights over ± ``window_days``, daytimes (weekends and holidays only) over twice
    that; where a window holds no block, the meter's median level of that part, else of
    its nights.
    """
    local = np.stack(
        [
            rolling_nanmedian(level[..., 0], window_days),
            rolling_nanmedian(level[..., 1], 2 * window_days),
        ],
        axis=-1,
    )
    meter = nanmedian(level, axis=1)  # (n_meters, 2)
    meter[:, 1] = np.where(np.isnan(meter[:, 1]), meter[:, 0], meter[:, 1])
    return np.where(np.isnan(local), meter[:, None, :], local)


def block_features(
    grid: MeterGrid,
    level: np.ndarray,
    block_rows: np.ndarray,
    working: tuple[np.ndarray, np.ndarray, np.ndarray],
    local_level: np.ndarray,
    scale: np.ndarray,
    ratio: np.ndarray,
    block_temperature: np.ndarray | None = None,
    window_days: int = WINDOW_DAYS,
) -> np.ndarray:
    """Model features of every (meter, operating day, part) block, meter-normalised.

    Parameters
    ----------
    grid : MeterGrid
    level, local_level : numpy.ndarray
        (n_meters, n_days, 2) observed and local (:func:`local_levels`) block level [W].
    block_rows : numpy.ndarray
        (n_meters, n_days, 2) number of off-hours readings in each block.
    working : tuple of numpy.ndarray
        (n_meters, n_days) median power of each working day, of its last two and of
        its first two working hours [W] (:func:`working_levels`).
    scale, ratio : numpy.ndarray
        (n_meters,) meter scale [W] and off- to working-hours ratio [-]
        (:func:`meter_scale`).
    block_temperature : numpy.ndarray, optional
        (n_days, 2) mean outdoor temperature of each block [°C].
    window_days : int
        Half-window of the local levels [d].

    Returns
    -------
    numpy.ndarray
        (n_meters * n_days * 2, n_features), rows in (meter, day, part) order, columns
        in the order of ``FEATURES`` (then ``TEMPERATURE_FEATURES`` when a temperature
        is given); NaN where unknown. Levels are deviations from their local median,
        divided by the meter's scale: the neighbouring periods' night levels against the
        local night level, the neighbouring working days' levels against their own
        local median over ± ``window_days``.
    """
    n_m, n_d, _ = level.shape
    period = grid.day_period
    n_periods = int(period.max()) + 1
    period_start = np.searchsorted(period, np.arange(n_periods + 1))  # first day of each
    pad = np.full((n_m, 1), np.nan)
    night = level[..., 0]
    period_level = np.hstack([pad, _period_levels(night, period), pad])  # period p at p + 1

    def deviation(a: np.ndarray) -> np.ndarray:
        """Deviation from the local median, with a NaN column n_d for 'no such day'."""
        return np.hstack([a - rolling_nanmedian(a, window_days), pad])

    day_dev, evening_dev, morning_dev = (deviation(a) for a in working)
    s = scale[:, None]
    before = period_start[period]  # the working day that opens the block's period
    after = np.minimum(period_start[period + 1], n_d)  # the one that closes it
    local_night = local_level[..., 0]
    shared = [  # (n_m, n_d): the same for both parts of a day
        np.broadcast_to((np.arange(n_d) - before)[None, :].astype(float), (n_m, n_d)),
        (period_level[:, period] - local_night) / s,
        (period_level[:, period + 2] - local_night) / s,
        day_dev[:, before] / s,
        day_dev[:, after] / s,
        evening_dev[:, before] / s,
        morning_dev[:, after] / s,
        np.broadcast_to(ratio[:, None], (n_m, n_d)),
    ]
    shape = (n_m, n_d, N_PARTS)

    def per_block(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=float)
        return np.broadcast_to(a[..., None] if a.ndim == 2 else a, shape).reshape(-1)

    columns = [
        per_block(np.broadcast_to(grid.day_type_of_day[None, :], (n_m, n_d))),
        per_block(np.broadcast_to(np.arange(N_PARTS, dtype=float), shape)),
        per_block(shared[0]),
        per_block(block_rows / 4.0),
        *(per_block(c) for c in shared[1:]),
    ]
    if block_temperature is not None:
        local_temp = np.stack(
            [
                rolling_nanmedian(block_temperature[None, :, 0], window_days)[0],
                rolling_nanmedian(block_temperature[None, :, 1], 2 * window_days)[0],
            ],
            axis=-1,
        )
        columns += [
            per_block(np.broadcast_to(block_temperature[None], shape)),
            per_block(np.broadcast_to((block_temperature - local_temp)[None], shape)),
        ]
    return np.stack(columns, axis=1)


def fit_level_model(
    features: np.ndarray, target: np.ndarray, seed: int = 0
) -> HistGradientBoostingRegressor | None:
    """Fit the median block-level model on the blocks with a known target.

    Parameters
    ----------
    features : numpy.ndarray
        (n_blocks, n_features) from :func:`block_features`.
    target : numpy.ndarray
        (n_blocks,) ``(L − L_local) / S``; NaN rows are skipped.
    seed : int
        Seed of the subsample and of the model.

    Returns
    -------
    HistGradientBoostingRegressor or None
        None when fewer than ``MIN_TRAINING_BLOCKS`` blocks are usable.
    """
    usable = np.flatnonzero(np.isfinite(target))
    if len(usable) < MIN_TRAINING_BLOCKS:
        return None
    rng = np.random.default_rng(seed)
    if len(usable) > MAX_TRAINING_BLOCKS:
        usable = np.sort(rng.choice(usable, MAX_TRAINING_BLOCKS, replace=False))
    from sklearn.ensemble import HistGradientBoostingRegressor  # slow to import: here, not above

    model = HistGradientBoostingRegressor(
        loss="quantile",
        quantile=0.5,
        max_iter=60,
        learning_rate=0.1,
        max_leaf_nodes=15,
        min_samples_leaf=max(20, len(usable) // 500),
        l2_regularization=1.0,
        categorical_features=[0],
        early_stopping=False,
        random_state=seed,
    )
    with threadpool_limits(limits=MODEL_THREADS, user_api="openmp"):
        model.fit(features[usable], target[usable])
    return model


def meter_scale(
    profile: np.ndarray, level: np.ndarray, working_day: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Typical working-hours power above the off-hours level of each meter [W].

    Returns
    -------
    scale : numpy.ndarray
        ``max(working − off, 5 % of the larger of the two, 1 W)`` from the medians over
        the file, so a meter that never switches off still gets a positive scale [W].
    ratio : numpy.ndarray
        Typical off-hours over typical working-hours power, clipped to 0–5 [-].
    """
    meter_level = nanmedian(level.reshape(level.shape[0], -1), axis=1)
    off_typical = nanmedian(profile.reshape(profile.shape[0], -1), axis=1)
    off_typical = off_typical + np.nan_to_num(meter_level)
    working_typical = nanmedian(working_day, axis=1)
    working_typical = np.where(np.isnan(working_typical), off_typical, working_typical)
    scale = np.maximum.reduce(
        [
            working_typical - off_typical,
            0.05 * np.maximum(np.abs(working_typical), np.abs(off_typical)),
            np.ones_like(off_typical),
        ]
    )
    ratio = np.clip(off_typical / np.maximum(working_typical, 1e-9), 0, 5)
    return scale, ratio


def fit_baseline(
    grid: MeterGrid,
    temperature: pl.DataFrame | None = None,
    use_model: bool = True,
    window_days: int = WINDOW_DAYS,
    seed: int = 0,
) -> Baseline:
    """Learn every meter's expected off-hours power from its own readings.

    Parameters
    ----------
    grid : MeterGrid
        Readings on the quarter-hour grid (:func:`~pipelines.vampire.grid.to_grid`).
    temperature : pl.DataFrame, optional
        Site outdoor temperature: ``hour_utc`` (or ``ts_utc``) and ``temp_air_c`` [°C].
        Adds two model features; without it the model relies on the meters' own
        working-hours levels.
    use_model : bool, default True
        False: the expected level is the local median level alone (no scikit-learn model).
    window_days : int, default 7
        Half-window of the local level [d].
    seed : int, default 0
        Seed of the model's training subsample.

    Returns
    -------
    Baseline
    """
    n_m, n_d = grid.n_meters, grid.n_days
    profile = np.empty((n_m, N_DAY_TYPES, SLOTS_PER_DAY))
    level = np.empty((n_m, n_d, N_PARTS))
    block_rows = np.empty((n_m, n_d, N_PARTS), dtype=np.int64)
    working = tuple(np.empty((n_m, n_d)) for _ in range(3))
    per_meter = n_d * N_PARTS
    for m0, m1 in meter_chunks(grid):
        off, profile[m0:m1] = off_hours_rows(grid, m0, m1)
        median, count = group_median(
            off.block - np.uint32(m0 * per_meter),
            off.power_w - off.profile_w,
            (m1 - m0) * per_meter,
        )
        level[m0:m1] = median.reshape(-1, n_d, N_PARTS)
        block_rows[m0:m1] = count.reshape(-1, n_d, N_PARTS)
        for whole, part in zip(working, working_levels(grid, m0, m1), strict=True):
            whole[m0:m1] = part
        del off

    local = local_levels(level, window_days)
    scale, ratio = meter_scale(profile, level, working[0])

    expected_level = local
    model = None
    if use_model:
        block_temperature = (
            _temperature_by_block(grid, temperature) if temperature is not None else None
        )
        features = block_features(
            grid, level, block_rows, working, local, scale, ratio, block_temperature, window_days
        )
        target = ((level - local) / scale[:, None, None]).reshape(-1)
        model = fit_level_model(features, target, seed)
        if model is not None:
            present = np.flatnonzero(block_rows.reshape(-1) > 0)
            correction = np.zeros(level.size)
            with threadpool_limits(limits=MODEL_THREADS, user_api="openmp"):
                correction[present] = model.predict(features[present])
            expected_level = local + correction.reshape(level.shape) * scale[:, None, None]
    return Baseline(
        profile_w=profile,
        level_w=expected_level,
        observed_level_w=level,
        scale_w=scale,
        model=model,
    )
