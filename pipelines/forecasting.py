"""What the day-ahead forecasts share: issue times, local days, backtest summaries.

A day-ahead forecast for local day D is issued on D-1 at a fixed local hour; nothing
measured after the issue time may reach it. The forecasts of carbon intensity
(:mod:`pipelines.ci_forecast`), site load (:mod:`pipelines.load_forecast`) and PV
(:mod:`pipelines.pv_forecast`) use these helpers for that convention and for scoring
their rolling-origin backtests against persistence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

UTC_TS = pl.Datetime("us", "UTC")
ISSUE_HOUR = 12  # local hour, on the day before, that site forecasts are issued


def issue_time_for(day: date, timezone: str = "Europe/Berlin", hour: int = ISSUE_HOUR) -> datetime:
    """Issue time [UTC] of the day-ahead forecast for ``day``: ``hour``:00 local the day before."""
    local = datetime.combine(day - timedelta(days=1), time(hour), ZoneInfo(timezone))
    return local.astimezone(UTC)


def target_day(issue_time: datetime, timezone: str) -> date:
    """The local day a day-ahead forecast issued at ``issue_time`` covers: the next local day."""
    return issue_time.astimezone(ZoneInfo(timezone)).date() + timedelta(days=1)


def local_day_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    """Start and end [UTC] of the local day ``day`` (23, 24 or 25 hours long)."""
    tz = ZoneInfo(timezone)
    start = datetime.combine(day, time(0), tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(UTC)
    return start, end


def quarter_hours(start: datetime, end: datetime) -> pl.DataFrame:
    """One row per 15-minute interval ``start <= ts_utc < end``: column ts_utc."""
    ts = pl.datetime_range(start, end - timedelta(minutes=15), "15m", eager=True, time_zone="UTC")
    return pl.DataFrame({"ts_utc": ts.dt.cast_time_unit("us")})


def step_hold(
    grid: pl.DataFrame, values: pl.DataFrame, columns: list[str], interval: timedelta
) -> pl.DataFrame:
    """Give every row of ``grid`` the ``values`` row whose interval contains its ts_utc.

    ``values`` rows are interval means labelled by the interval start (e.g. hourly weather);
    a grid row with no such row within ``interval`` gets nulls.
    """
    right = values.select(pl.col("ts_utc").dt.cast_time_unit("us"), *columns).sort("ts_utc")
    return grid.sort("ts_utc").join_asof(
        right, on="ts_utc", strategy="backward", tolerance=interval - timedelta(microseconds=1)
    )


def metered_power_w(readings: pl.DataFrame, registry: pl.DataFrame, kind: str) -> pl.DataFrame:
    """Sum of a site's meters of one kind per interval, as mean power.

    Parameters
    ----------
    readings : pl.DataFrame
        ``meter_readings``: site_id, meter_id, ts_utc, interval_s [s], energy_wh [Wh].
    registry : pl.DataFrame
        ``meter_registry``: site_id, meter_id, kind.
    kind : str
        Meter kind to sum, e.g. ``"load"`` or ``"pv"``.

    Returns
    -------
    pl.DataFrame
        site_id, ts_utc and power_w [W] = Σ energy_wh × 3600 / interval_s, only for
        intervals where every meter of that kind at the site reported (no partial sums).
    """
    meters = registry.filter(pl.col("kind") == kind).select("site_id", "meter_id")
    n_meters = meters.group_by("site_id").agg(pl.len().alias("n_meters"))
    return (
        readings.join(meters, on=["site_id", "meter_id"], how="inner")
        .group_by("site_id", "ts_utc")
        .agg(
            (pl.col("energy_wh") * 3600 / pl.col("interval_s")).sum().alias("power_w"),
            pl.col("meter_id").n_unique().alias("n"),
        )
        .join(n_meters, on="site_id")
        .filter(pl.col("n") == pl.col("n_meters"))
        .select("site_id", pl.col("ts_utc").cast(UTC_TS), "power_w")
        .sort("site_id", "ts_utc")
    )


def persistence_w(history: pl.DataFrame, day: date, timezone: str) -> pl.DataFrame:
    """Naive persistence for local ``day``: the value at the same local time the day before.

    ``history`` has ts_utc and power_w [W] at 15-minute resolution. Returns ts_utc and
    power_w [W] for the quarter-hours of ``day`` that have one (the hour the clocks skip
    has none; the hour they repeat takes the mean of both).
    """
    local = pl.col("ts_utc").dt.convert_time_zone(timezone)
    q = (local.dt.hour() * 4 + local.dt.minute() // 15).alias("q")
    start, end = local_day_bounds(day - timedelta(days=1), timezone)
    before = (
        history.filter(pl.col("ts_utc").is_between(start, end, closed="left"))
        .group_by(q)
        .agg(pl.col("power_w").mean())
    )
    target = quarter_hours(*local_day_bounds(day, timezone)).with_columns(q)
    return target.join(before, on="q", how="inner").select("ts_utc", "power_w").sort("ts_utc")


def score_day(
    forecast: pl.DataFrame, history: pl.DataFrame, day: date, timezone: str
) -> pl.DataFrame:
    """One backtest fold: forecast, actual and persistence per interval of local ``day``.

    ``forecast`` and ``history`` have ts_utc and power_w [W]. Returns ts_utc, forecast,
    actual, persistence (null where unknown) and fold_day, as :func:`score_folds` takes.
    """
    actual = history.select("ts_utc", pl.col("power_w").alias("actual"))
    baseline = persistence_w(history, day, timezone).rename({"power_w": "persistence"})
    return (
        forecast.select("ts_utc", pl.col("power_w").alias("forecast"))
        .join(actual, on="ts_utc", how="left")
        .join(baseline, on="ts_utc", how="left")
        .with_columns(pl.lit(day).alias("fold_day"))
    )


@dataclass(frozen=True)
class Backtest:
    """Rolling-origin backtest scores, in the unit of the forecast target.

    ``mae_model`` and ``mae_persistence`` are mean absolute errors over all scored points
    of the ``days`` folds; ``bias_model`` is the mean of forecast − actual (NaN when not
    computed); ``folds`` holds one row per fold when the backtest reports them.
    """

    days: int
    mae_model: float
    mae_persistence: float
    bias_model: float = float("nan")
    folds: pl.DataFrame | None = field(default=None, compare=False, repr=False)

    @property
    def skill(self) -> float:
        """1 − MAE_model / MAE_persistence: the share of the baseline's error removed."""
        return 1 - self.mae_model / self.mae_persistence


def score_folds(folds: list[pl.DataFrame]) -> Backtest:
    """Pool scored folds into a :class:`Backtest`, with a per-fold summary.

    Each fold is a frame of scored points with columns ``fold_day`` (date), ``actual``,
    ``forecast`` and ``persistence``; a point counts only when all three are known.
    ``folds`` in the result has fold_day, points, mae, mae_persistence, bias and skill.
    """
    points = pl.concat(folds).drop_nulls(["actual", "forecast", "persistence"])
    err = pl.col("forecast") - pl.col("actual")
    per_fold = (
        points.group_by("fold_day", maintain_order=True)
        .agg(
            pl.len().alias("points"),
            err.abs().mean().alias("mae"),
            (pl.col("persistence") - pl.col("actual")).abs().mean().alias("mae_persistence"),
            err.mean().alias("bias"),
        )
        .with_columns((1 - pl.col("mae") / pl.col("mae_persistence")).alias("skill"))
    )
    residual = (points["forecast"] - points["actual"]).to_numpy()
    return Backtest(
        days=per_fold.height,
        mae_model=float(np.abs(residual).mean()),
        mae_persistence=float((points["persistence"] - points["actual"]).abs().mean()),
        bias_model=float(residual.mean()),
        folds=per_fold,
    )


def spread_days(first: date, last: date, n: int) -> list[date]:
    """``n`` fold days spread evenly over ``first..last`` (inclusive), all weekdays mixed."""
    span = (last - first).days
    return sorted({first + timedelta(days=round(i * span / (n - 1))) for i in range(n)})


def noisy_weather_forecast(
    weather: pl.DataFrame,
    seed: int,
    irradiance_sigma: float = 0.3,
    temp_sigma_c: float = 1.5,
    phi: float = 0.9,
) -> pl.DataFrame:
    """A stand-in weather forecast: the observed weather with a seeded forecast error.

    The noise model, per weather row in time order:

    - irradiance columns present (``direct_horizontal``, ``dni``, ``dhi``, ``ghi``) are
      multiplied by the same lognormal factor ``exp(e_t − σ²/2)``, so their mean is kept;
      ``e_t`` is an AR(1) process with lag-one correlation ``phi`` and stationary
      standard deviation ``σ = irradiance_sigma`` (clouds arriving early or late);
    - ``temp_air`` [°C] gets an additive AR(1) error, same ``phi``, standard deviation
      ``temp_sigma_c`` [K];
    - other columns (wind) are kept.

    The same ``weather`` and ``seed`` always give the same forecast.
    """
    rng = np.random.default_rng(seed)
    n = weather.height

    def ar1(sigma: float) -> np.ndarray:
        z = rng.normal(0.0, sigma * np.sqrt(1 - phi**2), n)
        e = np.empty(n)
        e[0] = rng.normal(0.0, sigma)
        for i in range(1, n):
            e[i] = phi * e[i - 1] + z[i]
        return e

    factor = np.exp(ar1(irradiance_sigma) - irradiance_sigma**2 / 2)
    temp_error = ar1(temp_sigma_c)
    irradiance = [c for c in ("direct_horizontal", "dni", "dhi", "ghi") if c in weather.columns]
    return weather.sort("ts_utc").with_columns(
        *(pl.col(c) * factor for c in irradiance),
        *([pl.col("temp_air") + temp_error] if "temp_air" in weather.columns else []),
    )
