"""Day-ahead PV forecast: the project's PV chain fed by a weather forecast.

The forecast issued at ``issue_time`` covers the next local day, per quarter-hour. It
runs :func:`pipelines.pv_model.model_chain` on the weather forecast's rows from the
issue time to the end of that day and holds each weather interval's mean AC power over
the quarter-hours inside it (an hourly forecast gives four equal quarter-hours, as
hourly-integrated PV meters do).

``power_w`` is the AC production [W], ≥ 0, counted the way the site's PV meter counts
it. (In telemetry the same power carries the data contract's bus sign, negative.)

For the sample site the weather forecast is a stand-in: its observed weather with the
seeded error of :func:`pipelines.forecasting.noisy_weather_forecast`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl

from pipelines.forecasting import (
    UTC_TS,
    Backtest,
    issue_time_for,
    local_day_bounds,
    metered_power_w,
    quarter_hours,
    score_day,
    score_folds,
    step_hold,
    target_day,
)
from pipelines.pv_model import PVSystem, ac_power_w
from pipelines.schemas import conform


def site_pv_w(readings: pl.DataFrame, registry: pl.DataFrame) -> pl.DataFrame:
    """The site's metered PV production: its ``pv`` meters summed per interval.

    Takes ``meter_readings`` and ``meter_registry`` rows; returns site_id, ts_utc and
    power_w [W] ≥ 0 (see :func:`pipelines.forecasting.metered_power_w`).
    """
    return metered_power_w(readings, registry, "pv")


def forecast_pv(
    weather_forecast: pl.DataFrame,
    system: PVSystem,
    issue_time: datetime,
    *,
    site_id: str,
    timezone: str = "Europe/Berlin",
    interval: timedelta = timedelta(hours=1),
    model_name: str | None = None,
) -> pl.DataFrame:
    """Forecast a system's AC production for the local day after ``issue_time``.

    Parameters
    ----------
    weather_forecast : pl.DataFrame
        The weather forecast issued at ``issue_time``: ts_utc (interval start), temp_air
        [°C], dhi [W/m²], dni or direct_horizontal [W/m²], optional ghi [W/m²] and
        wind_speed [m/s]; interval means. Rows must cover the target day.
    system : PVSystem
        The site's PV system (:class:`pipelines.pv_model.PVSystem`).
    issue_time : datetime
        When the forecast is issued (timezone-aware); by convention 12:00 local on the
        day before (:func:`pipelines.forecasting.issue_time_for`).
    site_id : str
    timezone : str
        The site's time zone, which defines the target day.
    interval : timedelta
        Length of a weather-forecast interval (1 h for hourly forecasts).
    model_name : str, optional
        Written to the ``model`` column; by default ``pvlib-<route>-chain-v1``.

    Returns
    -------
    pl.DataFrame
        ``pv_forecast`` schema: site_id, ts_utc, issued_at_utc, power_w [W] ≥ 0 (AC
        production), model; one row per quarter-hour of the target local day (96; 92 or
        100 on clock changes), zero at night.
    """
    day = target_day(issue_time, timezone)
    start, end = local_day_bounds(day, timezone)
    ahead = weather_forecast.with_columns(pl.col("ts_utc").cast(UTC_TS)).filter(
        (pl.col("ts_utc") > issue_time - interval) & (pl.col("ts_utc") < end)
    )
    grid = step_hold(
        quarter_hours(start, end), ac_power_w(ahead, system, interval), ["ac_power_w"], interval
    )
    if grid["ac_power_w"].null_count():
        raise ValueError(f"PV forecast: the weather forecast does not cover {day}")
    return conform(
        grid.with_columns(
            pl.lit(site_id).alias("site_id"),
            pl.lit(issue_time).cast(UTC_TS).alias("issued_at_utc"),
            pl.col("ac_power_w").alias("power_w"),
            pl.lit(model_name or f"pvlib-{system.route}-chain-v1").alias("model"),
        ),
        "pv_forecast",
    )


def backtest_pv(
    actual: pl.DataFrame,
    weather_forecast: pl.DataFrame,
    system: PVSystem,
    days: list[date],
    *,
    timezone: str = "Europe/Berlin",
    interval: timedelta = timedelta(hours=1),
) -> Backtest:
    """Backtest :func:`forecast_pv` against metered PV, one fold per local day.

    Parameters
    ----------
    actual : pl.DataFrame
        Metered PV: ts_utc and power_w [W], 15-minute (e.g. :func:`site_pv_w`).
    weather_forecast, system, timezone, interval
        As for :func:`forecast_pv`.
    days : list of date
        The local days to forecast.

    Returns
    -------
    Backtest
        MAE [W] and bias [W] (forecast − metered, mean over all quarter-hours, nights
        included), the MAE of persistence (the same time the day before) for scale,
        and per-fold scores in ``folds``.
    """
    actual = actual.select(pl.col("ts_utc").cast(UTC_TS), "power_w")
    folds = [
        score_day(
            forecast_pv(
                weather_forecast,
                system,
                issue_time_for(day, timezone),
                site_id="backtest",
                timezone=timezone,
                interval=interval,
            ),
            actual,
            day,
            timezone,
        )
        for day in days
    ]
    return score_folds(folds)
