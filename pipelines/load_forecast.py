"""Day-ahead forecast of a site's 15-minute load, and its rolling-origin backtest.

**Load** here is the site's consumption: the sum of its load meters (``meter_registry``
kind ``load``) per 15-minute interval, as mean power ``power_w`` [W] = Σ energy_wh
[Wh] × 3600 / interval_s (× 4 for 15-minute readings). EV chargers and the battery are
flexible devices the planner schedules, so they are not part of it.

**Information cut-off.** A forecast is issued at ``issue_time`` (by convention 12:00
local on the day before) for the whole next local day, 96 quarter-hours (92 or 100 on
the days clocks change). It sees the load of the intervals that have ended by
``issue_time``, the weather before ``issue_time`` as observed and, for the target day,
the weather as forecast at ``issue_time``.

**Model.** scikit-learn's HistGradientBoostingRegressor on

- calendar features of the target interval in local time: time of day, day type
  (weekday, public holidays counted as Sundays), month, day of year, public holiday and
  working day (``holidays``, Germany, default subdivision BB);
- weather at the target interval: air temperature [°C] and global horizontal
  irradiance [W/m²];
- lags, all known at the issue time: from the day before, whether it was a working
  day, the load at the same time of day (only for times of day before the issue
  time's), the last quarter-hour before the issue time and the mean of that morning;
  from the two most recent *like days* (same class: working day, Saturday, or Sunday
  and holiday; 2 to 14 days back, so complete at the issue time), the load at the same
  time of day and the daily mean. Like days keep a Monday from being forecast from a
  Sunday, and the Friday after Good Friday from being forecast from the holiday.

Every training row is built with the same cut-off relative to its own day, so the
model learns exactly the situation it forecasts in. The baseline is naive persistence:
the load at the same local time the day before. Note that the baseline uses the day
before in full, including its afternoon after the issue time, which a real day-ahead
forecast cannot know; beating it is therefore the harder test.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

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
from pipelines.schemas import conform

MODEL_NAME = "hgbr-load-calendar-weather-lags-v1"
MIN_HISTORY_DAYS = 14
QUARTER = timedelta(minutes=15)
LIKE_DAY_SEARCH_DAYS = 14  # how far back to look for days of the same class
FEATURES = [
    "tod_h",
    "day_type",
    "month",
    "day_of_year",
    "is_holiday",
    "is_workday",
    "temp_air",
    "ghi",
    "workday_d1",
    "lag_d1",
    "last_before_issue",
    "mean_d1_before_issue",
    "lag_like",
    "mean_like",
    "lag_like2",
    "mean_like2",
]


def site_consumption_w(readings: pl.DataFrame, registry: pl.DataFrame) -> pl.DataFrame:
    """The site's load: its load meters summed per interval, as mean power.

    Takes ``meter_readings`` and ``meter_registry`` rows; returns site_id, ts_utc and
    power_w [W] = Σ energy_wh × 3600 / interval_s over the meters of kind ``load``, for
    intervals where all of them reported (see :func:`pipelines.forecasting.metered_power_w`).
    """
    return metered_power_w(readings, registry, "load")


def _ghi(weather: pl.DataFrame) -> pl.Expr:
    if "ghi" in weather.columns:
        return pl.col("ghi")
    if {"direct_horizontal", "dhi"} <= set(weather.columns):
        return pl.col("direct_horizontal") + pl.col("dhi")
    raise ValueError(f"weather needs ghi or direct_horizontal and dhi; have {weather.columns}")


def _weather_columns(weather: pl.DataFrame) -> pl.DataFrame:
    return weather.select(
        pl.col("ts_utc").cast(UTC_TS),
        pl.col("temp_air").cast(pl.Float64),
        _ghi(weather).cast(pl.Float64).alias("ghi"),
    )


def day_calendar(first: date, last: date, subdivision: str = "BB") -> pl.DataFrame:
    """Local days ``first..last`` with their type, for the load's weekly rhythm.

    Returns day, is_holiday (German public holiday in ``subdivision``), is_workday
    (Monday to Friday and not a holiday), day_type (ISO weekday, 1 = Monday, with public
    holidays counted as Sundays, 7, as BDEW load profiles count them) and day_class
    (5 working day, 6 Saturday, 7 Sunday or holiday).
    """
    hol = holidays.Germany(years=range(first.year, last.year + 1), subdiv=subdivision)
    weekday = pl.col("day").dt.weekday()
    return (
        pl.DataFrame({"day": pl.date_range(first, last, "1d", eager=True)})
        .with_columns(pl.col("day").is_in(sorted(hol)).alias("is_holiday"))
        .with_columns(
            ((weekday <= 5) & ~pl.col("is_holiday")).alias("is_workday"),
            pl.when(pl.col("is_holiday"))
            .then(7)
            .otherwise(weekday)
            .cast(pl.Int32)
            .alias("day_type"),
        )
        .with_columns(pl.col("day_type").clip(5, 7).alias("day_class"))
    )


def like_days(calendar: pl.DataFrame) -> pl.DataFrame:
    """For each day, the two most recent days of the same class 2 to 14 days before it.

    Such days are complete at the issue time on the day before. ``calendar`` is
    :func:`day_calendar`'s frame. Returns day, like_1 and like_2 (null when none).
    """
    cls = dict(zip(calendar["day"], calendar["day_class"], strict=True))
    rows = []
    for d, c in cls.items():
        back = (d - timedelta(days=k) for k in range(2, LIKE_DAY_SEARCH_DAYS + 1))
        found = [b for b in back if cls.get(b) == c][:2]
        rows.append((d, *(found + [None, None])[:2]))
    return pl.DataFrame(
        rows, schema={"day": pl.Date, "like_1": pl.Date, "like_2": pl.Date}, orient="row"
    )


def features(
    history: pl.DataFrame,
    weather: pl.DataFrame,
    issue_time: datetime,
    timezone: str = "Europe/Berlin",
    weather_forecast: pl.DataFrame | None = None,
    subdivision: str = "BB",
) -> pl.DataFrame:
    """Feature rows for every quarter-hour from the first history day to the target day.

    Parameters
    ----------
    history : pl.DataFrame
        ts_utc (interval start) and power_w [W], 15-minute; intervals that end after
        ``issue_time`` are ignored.
    weather : pl.DataFrame
        ts_utc (interval start), temp_air [°C], and ghi or direct_horizontal + dhi
        [W/m²], hourly or finer. Rows before ``issue_time`` are observations.
    issue_time : datetime
        Time the forecast is issued (timezone-aware).
    timezone : str
        The site's time zone: local days, times of day and holidays.
    weather_forecast : pl.DataFrame, optional
        The weather forecast available at ``issue_time``, same columns; used for rows at
        or after ``issue_time``. Without it, ``weather`` stands in for the forecast there.
    subdivision : str
        Subdivision of German public holidays (``holidays``), e.g. ``"BB"``.

    Returns
    -------
    pl.DataFrame
        ts_utc, day (local date), power_w (null unless known at ``issue_time``) and
        :data:`FEATURES`.
    """
    # only intervals that have ended by the issue time are known then
    known = history.filter(pl.col("ts_utc") + QUARTER <= issue_time).select(
        pl.col("ts_utc").cast(UTC_TS), pl.col("power_w").cast(pl.Float64)
    )
    if known.is_empty():
        raise ValueError("load forecast: no load history before the issue time")
    tz = ZoneInfo(timezone)
    day = target_day(issue_time, timezone)
    first_day = known["ts_utc"].min().astimezone(tz).date()
    start, _ = local_day_bounds(first_day, timezone)
    _, end = local_day_bounds(day, timezone)
    issue_local = issue_time.astimezone(tz)
    issue_q = (issue_local.hour * 60 + issue_local.minute) // 15

    observed = _weather_columns(weather).filter(pl.col("ts_utc") < issue_time)
    ahead = _weather_columns(weather if weather_forecast is None else weather_forecast).filter(
        pl.col("ts_utc") >= issue_time
    )
    wx = pl.concat([observed, ahead]).unique("ts_utc", keep="first").sort("ts_utc")
    step = _resolution(wx)

    local = pl.col("ts_utc").dt.convert_time_zone(timezone)
    grid = (
        step_hold(quarter_hours(start, end), wx, ["temp_air", "ghi"], step)
        .join(known, on="ts_utc", how="left")
        .with_columns(
            local.dt.date().alias("day"),
            (local.dt.hour() * 4 + local.dt.minute() // 15).cast(pl.Int32).alias("q"),
            local.dt.month().cast(pl.Int32).alias("month"),
            local.dt.ordinal_day().cast(pl.Int32).alias("day_of_year"),
        )
    )
    calendar = day_calendar(first_day - timedelta(days=LIKE_DAY_SEARCH_DAYS), day, subdivision)

    # the load by local day and quarter-hour of the day (the repeated hour of the autumn
    # clock change is averaged), and what of each day is known by its issue-time cut-off
    by_q = grid.group_by("day", "q").agg(pl.col("power_w").mean()).drop_nulls("power_w")
    daily = by_q.group_by("day").agg(
        pl.col("power_w").mean().alias("mean"),
        pl.col("power_w").filter(pl.col("q") < issue_q).mean().alias("mean_d1_before_issue"),
        pl.col("power_w").filter(pl.col("q") == issue_q - 1).first().alias("last_before_issue"),
    )
    day_before = pl.col("day") + timedelta(days=1)  # re-key a day's values to the day after

    out = (
        grid.join(calendar.drop("day_class"), on="day", how="left")
        .join(
            calendar.select(day_before, pl.col("is_workday").alias("workday_d1")),
            on="day",
            how="left",
        )
        # yesterday: the same time of day only if it lies before the issue time's
        .join(
            by_q.select(day_before, "q", pl.col("power_w").alias("lag_d1")),
            on=["day", "q"],
            how="left",
        )
        .with_columns(pl.when(pl.col("q") < issue_q).then(pl.col("lag_d1")).alias("lag_d1"))
        .join(
            daily.select(day_before, "last_before_issue", "mean_d1_before_issue"),
            on="day",
            how="left",
        )
        .join(like_days(calendar), on="day", how="left")
    )
    for like, sfx in (("like_1", ""), ("like_2", "2")):
        out = out.join(
            by_q.select(pl.col("day").alias(like), "q", pl.col("power_w").alias(f"lag_like{sfx}")),
            on=[like, "q"],
            how="left",
        ).join(
            daily.select(pl.col("day").alias(like), pl.col("mean").alias(f"mean_like{sfx}")),
            on=like,
            how="left",
        )
    return (
        out.with_columns((pl.col("q") / 4).alias("tod_h"))
        .with_columns(pl.col(c).cast(pl.Float64) for c in FEATURES)
        .select("ts_utc", "day", "power_w", *FEATURES)
        .sort("ts_utc")
    )


def _resolution(weather: pl.DataFrame) -> timedelta:
    steps = weather["ts_utc"].diff().drop_nulls()
    return steps.min() if steps.len() else timedelta(hours=1)


def _fit_predict(train: pl.DataFrame, rows: pl.DataFrame) -> np.ndarray:
    """Fit on ``train`` (rows with a known load) and predict ``rows``.

    One OpenMP thread: a few ten thousand rows gain little from more, the result does
    not depend on the machine, and a busy machine does not stall the thread team.
    """
    from sklearn.ensemble import HistGradientBoostingRegressor  # slow to import: here, not above

    train = train.drop_nulls("power_w")
    model = HistGradientBoostingRegressor(
        max_iter=150, learning_rate=0.1, early_stopping=False, random_state=0
    )
    with threadpool_limits(limits=1, user_api="openmp"):
        model.fit(train.select(FEATURES).to_numpy(), train["power_w"].to_numpy())
        return model.predict(rows.select(FEATURES).to_numpy())


def forecast_load(
    history: pl.DataFrame,
    weather: pl.DataFrame,
    issue_time: datetime,
    *,
    site_id: str,
    timezone: str = "Europe/Berlin",
    weather_forecast: pl.DataFrame | None = None,
    subdivision: str = "BB",
    model_name: str = MODEL_NAME,
) -> pl.DataFrame:
    """Forecast the site's load for the local day after ``issue_time``, per quarter-hour.

    Parameters
    ----------
    history : pl.DataFrame
        The site's load: ts_utc (interval start) and power_w [W], 15-minute, e.g. from
        :func:`site_consumption_w`. Only intervals that end by ``issue_time`` are read.
    weather : pl.DataFrame
        Observed weather: ts_utc (interval start), temp_air [°C], and ghi or
        direct_horizontal + dhi [W/m²]; hourly or finer, interval means.
    issue_time : datetime
        When the forecast is issued (timezone-aware); by convention 12:00 local on the
        day before the target day (:func:`pipelines.forecasting.issue_time_for`).
    site_id : str
    timezone : str
        The site's time zone.
    weather_forecast : pl.DataFrame, optional
        The weather forecast known at ``issue_time`` for the target day (same columns as
        ``weather``). Without it, ``weather``'s rows for the target day are used.
    subdivision : str
        German public-holiday subdivision.
    model_name : str
        Written to the ``model`` column.

    Returns
    -------
    pl.DataFrame
        ``load_forecast`` schema: site_id, ts_utc, issued_at_utc, power_w [W] ≥ 0, model;
        one row per quarter-hour of the target local day (96; 92 or 100 on clock changes).
    """
    feats = features(history, weather, issue_time, timezone, weather_forecast, subdivision)
    day = target_day(issue_time, timezone)
    train = feats.filter(pl.col("ts_utc") < issue_time)
    if train["day"].n_unique() < MIN_HISTORY_DAYS:
        raise ValueError(f"load forecast: fewer than {MIN_HISTORY_DAYS} days of history")
    rows = feats.filter(pl.col("day") == day)
    if rows.select(pl.col("temp_air", "ghi").is_null().any()).row(0) != (False, False):
        raise ValueError(f"load forecast: weather does not cover {day}")
    predicted = _fit_predict(train, rows)
    return conform(
        rows.select("ts_utc").with_columns(
            pl.lit(site_id).alias("site_id"),
            pl.lit(issue_time).cast(UTC_TS).alias("issued_at_utc"),
            pl.Series("power_w", np.clip(predicted, 0, None)),
            pl.lit(model_name).alias("model"),
        ),
        "load_forecast",
    )


def backtest_load(
    history: pl.DataFrame,
    weather: pl.DataFrame,
    days: list[date],
    *,
    timezone: str = "Europe/Berlin",
    weather_forecast: pl.DataFrame | None = None,
    subdivision: str = "BB",
) -> Backtest:
    """Rolling-origin backtest: one fold per day, each forecast by :func:`forecast_load`.

    Each fold is issued at :func:`pipelines.forecasting.issue_time_for` of its day, fits
    on everything known then and forecasts the day; it is scored against the actual load
    and against :func:`pipelines.forecasting.persistence_w`, on the quarter-hours where
    both exist.

    Parameters
    ----------
    history, weather, weather_forecast, timezone, subdivision
        As for :func:`forecast_load`; ``history`` covers the fold days too (the actuals).
    days : list of date
        The local days to forecast, one fold each.

    Returns
    -------
    Backtest
        Pooled MAE of the model and of persistence [W], bias [W], ``skill`` (the
        improvement over persistence, 1 − MAE/MAE_persistence) and ``folds``: fold_day,
        points, mae, mae_persistence, bias [W] and skill per fold.
    """
    history = history.select(pl.col("ts_utc").cast(UTC_TS), "power_w")
    folds = []
    for day in days:
        fc = forecast_load(
            history,
            weather,
            issue_time_for(day, timezone),
            site_id="backtest",
            timezone=timezone,
            weather_forecast=weather_forecast,
            subdivision=subdivision,
        )
        folds.append(score_day(fc, history, day, timezone))
    return score_folds(folds)
