"""Day-ahead forecast of hourly grid carbon intensity, and its rolling-origin backtest.

A gradient-boosting model (scikit-learn) on calendar features, lagged intensity (the
same hour one, two and seven days before the target hour, and the mean of the last
day) and, when given, the day-ahead wind and solar forecast for the target hour (ENTSO-E
A69): renewables push fossil plants out of the merit order. The baseline is persistence: yesterday's same hour. Both use the previous day's
actuals as complete at issue time; a forecast for day D is issued on D-1 at 11:00 local.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from pipelines.forecasting import Backtest, issue_time_for

if TYPE_CHECKING:  # scikit-learn is imported where a model is fitted: it is slow to import
    from sklearn.ensemble import HistGradientBoostingRegressor

TARGET = "ci_lifecycle_g_per_kwh"
LAGS_H = (24, 48, 168)
BASE_FEATURES = ["hour", "weekday", "month", *(f"lag_{h}" for h in LAGS_H), "mean_prev_24"]
DRIVER = "wind_solar_forecast_mw"
ISSUE_HOUR = 11  # local, on the day before the forecast day


def wind_solar_driver(forecast: pl.DataFrame) -> pl.DataFrame:
    """Hourly total of a wind and solar forecast: hour_utc, wind_solar_forecast_mw [MW]."""
    return (
        forecast.group_by(pl.col("ts_utc").dt.truncate("1h").alias("hour_utc"), "production_type")
        .agg(pl.col("power_mw").mean())
        .group_by("hour_utc")
        .agg(pl.col("power_mw").sum().alias(DRIVER))
        .sort("hour_utc")
    )


def features(
    hourly: pl.DataFrame, timezone: str = "Europe/Berlin", drivers: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Features for every hour of a contiguous hourly series (hour_utc, TARGET).

    Gaps are made explicit first, so a lag never jumps over a missing hour. ``drivers``
    (hour_utc, wind_solar_forecast_mw) is joined when given.
    """
    full = (
        pl.DataFrame(
            {
                "hour_utc": pl.datetime_range(
                    hourly["hour_utc"].min(), hourly["hour_utc"].max(), "1h", eager=True
                )
            }
        )
        .with_columns(pl.col("hour_utc").dt.cast_time_unit("us"))
        .join(hourly.select("hour_utc", TARGET), on="hour_utc", how="left")
        .sort("hour_utc")
    )
    if drivers is not None:
        full = full.join(drivers.select("hour_utc", DRIVER), on="hour_utc", how="left")
    local = pl.col("hour_utc").dt.convert_time_zone(timezone)
    return full.with_columns(
        local.dt.hour().alias("hour"),
        local.dt.weekday().alias("weekday"),
        local.dt.month().alias("month"),
        *(pl.col(TARGET).shift(h).alias(f"lag_{h}") for h in LAGS_H),
        pl.col(TARGET).shift(24).rolling_mean(24).alias("mean_prev_24"),
    )


def _columns(feats: pl.DataFrame) -> list[str]:
    return BASE_FEATURES + ([DRIVER] if DRIVER in feats.columns else [])


def _fit(train: pl.DataFrame) -> HistGradientBoostingRegressor:
    cols = _columns(train)
    rows = train.drop_nulls([TARGET, *cols])
    from sklearn.ensemble import HistGradientBoostingRegressor  # slow to import: here, not above

    model = HistGradientBoostingRegressor(max_iter=150, learning_rate=0.08, random_state=0)
    return model.fit(rows.select(cols).to_numpy(), rows[TARGET].to_numpy())


def forecast_day(
    hourly: pl.DataFrame,
    day: date,
    timezone: str = "Europe/Berlin",
    drivers: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Forecast the 24 UTC hours of ``day`` from the history before it.

    Returns zone-less rows: hour_utc, issued_at_utc (11:00 local the day before),
    TARGET [gCO2eq/kWh].
    """
    start = datetime.combine(day, time(0), ZoneInfo("UTC"))
    history = hourly.filter(pl.col("hour_utc") < start)
    target_hours = pl.DataFrame(
        {
            "hour_utc": pl.datetime_range(
                start, start + timedelta(hours=23), "1h", eager=True
            ).dt.cast_time_unit("us")
        }
    ).with_columns(pl.lit(None, dtype=pl.Float64).alias(TARGET))
    feats = features(
        pl.concat([history.select("hour_utc", TARGET), target_hours]), timezone, drivers
    )
    model = _fit(feats.filter(pl.col("hour_utc") < start))
    rows = feats.filter(pl.col("hour_utc") >= start)
    issued = issue_time_for(day, timezone, ISSUE_HOUR)
    return rows.select(
        "hour_utc",
        pl.lit(issued).cast(pl.Datetime("us", "UTC")).alias("issued_at_utc"),
        pl.Series(TARGET, model.predict(rows.select(_columns(rows)).to_numpy())),
    )


def backtest(
    hourly: pl.DataFrame,
    days: list[date],
    timezone: str = "Europe/Berlin",
    drivers: pl.DataFrame | None = None,
) -> Backtest:
    """Rolling origin: for each day, fit on everything before it and forecast it.

    Returns a :class:`pipelines.forecasting.Backtest` in gCO2eq/kWh.
    """
    model_errors, baseline_errors = [], []
    feats = features(hourly, timezone, drivers)
    for day in days:
        start = datetime.combine(day, time(0), ZoneInfo("UTC"))
        actual = feats.filter(
            (pl.col("hour_utc") >= start) & (pl.col("hour_utc") < start + timedelta(days=1))
        )
        actual = actual.drop_nulls([TARGET, *_columns(actual)])
        if actual.is_empty():
            continue
        model = _fit(feats.filter(pl.col("hour_utc") < start))
        predicted = model.predict(actual.select(_columns(actual)).to_numpy())
        model_errors.append(np.abs(predicted - actual[TARGET].to_numpy()))
        baseline_errors.append(np.abs(actual["lag_24"].to_numpy() - actual[TARGET].to_numpy()))
    return Backtest(
        days=len(model_errors),
        mae_model=float(np.concatenate(model_errors).mean()),
        mae_persistence=float(np.concatenate(baseline_errors).mean()),
    )


MIN_HISTORY_DAYS = 14


def forecast_days(
    hourly: pl.DataFrame,
    days: list[date],
    timezone: str = "Europe/Berlin",
    drivers: pl.DataFrame | None = None,
    refit_every_days: int = 7,
) -> pl.DataFrame:
    """Day-ahead forecasts for many days, refitting the model every ``refit_every_days``.

    Each model sees only the history before the first day it forecasts; a day with
    fewer than :data:`MIN_HISTORY_DAYS` days of history before it is skipped (it has no
    row in the output). Lag features of a day use the actuals up to the day before.
    Returns hour_utc, issued_at_utc and TARGET.
    """
    feats = features(hourly, timezone, drivers)
    first = hourly["hour_utc"].min()
    out, model, fitted_for = [], None, None
    for day in sorted(days):
        start = datetime.combine(day, time(0), ZoneInfo("UTC"))
        if first is None or start - first < timedelta(days=MIN_HISTORY_DAYS):
            continue
        if model is None or (day - fitted_for).days >= refit_every_days:
            model, fitted_for = _fit(feats.filter(pl.col("hour_utc") < start)), day
        rows = feats.filter(
            (pl.col("hour_utc") >= start) & (pl.col("hour_utc") < start + timedelta(days=1))
        )
        rows = rows.drop_nulls(_columns(rows))
        if rows.is_empty():
            continue
        issued = issue_time_for(day, timezone, ISSUE_HOUR)
        out.append(
            rows.select(
                "hour_utc",
                pl.lit(issued).cast(pl.Datetime("us", "UTC")).alias("issued_at_utc"),
                pl.Series(TARGET, model.predict(rows.select(_columns(rows)).to_numpy())),
            )
        )
    if not out:
        return pl.DataFrame(
            schema={
                "hour_utc": pl.Datetime("us", "UTC"),
                "issued_at_utc": pl.Datetime("us", "UTC"),
                TARGET: pl.Float64,
            }
        )
    return pl.concat(out)
