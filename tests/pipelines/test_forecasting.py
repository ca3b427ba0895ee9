"""Shared forecast helpers: issue times, local days, scoring and the stand-in forecast."""

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from pipelines.forecasting import (
    issue_time_for,
    local_day_bounds,
    noisy_weather_forecast,
    persistence_w,
    score_folds,
    spread_days,
    step_hold,
    target_day,
)


@pytest.mark.parametrize(
    ("day", "issue_utc"),
    [
        (date(2025, 1, 15), datetime(2025, 1, 14, 11, tzinfo=UTC)),  # 12:00 CET
        (date(2025, 7, 15), datetime(2025, 7, 14, 10, tzinfo=UTC)),  # 12:00 CEST
    ],
)
def test_issue_time_is_noon_local_the_day_before(day, issue_utc):
    assert issue_time_for(day, "Europe/Berlin") == issue_utc
    assert target_day(issue_utc, "Europe/Berlin") == day


def test_local_days_are_23_24_or_25_hours():
    lengths = [
        (lambda b: b[1] - b[0])(local_day_bounds(d, "Europe/Berlin"))
        for d in (date(2025, 3, 30), date(2025, 6, 1), date(2025, 10, 26))
    ]
    assert lengths == [timedelta(hours=23), timedelta(hours=24), timedelta(hours=25)]


def test_step_hold_fills_the_quarter_hours_of_each_hour_and_leaves_gaps_null():
    start = datetime(2025, 1, 1, tzinfo=UTC)
    grid = pl.DataFrame(
        {"ts_utc": [start + timedelta(minutes=15 * i) for i in (0, 1, 2, 3, 8, 9, 10, 11)]}
    ).with_columns(pl.col("ts_utc").dt.cast_time_unit("us"))
    hourly = pl.DataFrame({"ts_utc": [start], "v": [5.0]})
    out = step_hold(grid, hourly, ["v"], timedelta(hours=1))
    assert out["v"].to_list() == [5.0] * 4 + [None] * 4


def test_persistence_is_the_same_local_time_the_day_before():
    ts = pl.datetime_range(
        datetime(2025, 3, 28, 23, tzinfo=UTC),
        datetime(2025, 3, 30, 21, 45, tzinfo=UTC),
        "15m",
        eager=True,
    )
    history = pl.DataFrame({"ts_utc": ts, "power_w": np.arange(len(ts), dtype=float)})
    out = persistence_w(history, date(2025, 3, 30), "Europe/Berlin")  # spring forward
    assert out.height == 92  # 02:00-03:00 does not exist on the 30th
    first = out.row(0, named=True)
    assert first["ts_utc"] == datetime(2025, 3, 29, 23, tzinfo=UTC)  # 00:00 CET on the 30th
    assert first["power_w"] == 0.0  # 00:00 CET on the 29th


def test_scores_pool_points_and_keep_per_fold_figures():
    fold = pl.DataFrame(
        {
            "fold_day": [date(2025, 1, 1)] * 2 + [date(2025, 1, 2)] * 2,
            "actual": [10.0, 10.0, 10.0, 10.0],
            "forecast": [12.0, 8.0, 13.0, 13.0],
            "persistence": [20.0, 0.0, 10.0, None],
        }
    )
    result = score_folds([fold])
    assert result.days == 2
    assert result.mae_model == pytest.approx(7 / 3)  # the point without persistence is left out
    assert result.mae_persistence == pytest.approx(20 / 3)
    assert result.bias_model == pytest.approx(1.0)
    assert result.skill == pytest.approx(1 - 7 / 20)
    assert result.folds["mae"].to_list() == [2.0, 3.0]


def test_spread_days_mix_weekdays():
    days = spread_days(date(2025, 2, 1), date(2025, 7, 31), 21)
    assert len(days) == 21 and days[0] == date(2025, 2, 1) and days[-1] == date(2025, 7, 31)
    assert len({d.weekday() for d in days}) == 7


def test_noisy_forecast_is_seeded_mean_preserving_and_keeps_night_dark():
    n = 24 * 365
    ts = pl.datetime_range(
        datetime(2025, 1, 1, tzinfo=UTC),
        datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=n - 1),
        "1h",
        eager=True,
    )
    sun = np.clip(np.sin(2 * np.pi * (np.arange(n) % 24 - 6) / 24), 0, None) * 500
    weather = pl.DataFrame({"ts_utc": ts, "dhi": sun, "temp_air": np.full(n, 10.0)})
    a = noisy_weather_forecast(weather, seed=1)
    assert a.equals(noisy_weather_forecast(weather, seed=1))
    assert not a.equals(noisy_weather_forecast(weather, seed=2))
    assert a["dhi"].sum() / weather["dhi"].sum() == pytest.approx(1, abs=0.05)
    assert (a.filter(weather["dhi"] == 0)["dhi"] == 0).all()
    assert a["temp_air"].std() == pytest.approx(1.5, rel=0.2)
