from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from pipelines.ci_forecast import TARGET, backtest, features, forecast_day


@pytest.fixture(scope="module")
def hourly():
    # 60 days of a daily cycle plus noise: enough history for the weekly lag
    start = datetime(2025, 3, 1, tzinfo=UTC)
    hours = [start + timedelta(hours=i) for i in range(60 * 24)]
    rng = np.random.default_rng(1)
    values = [400 + 120 * np.sin(2 * np.pi * (h.hour - 6) / 24) + rng.normal(0, 15) for h in hours]
    return pl.DataFrame({"hour_utc": hours, TARGET: values}).with_columns(
        pl.col("hour_utc").dt.cast_time_unit("us")
    )


def test_lags_never_jump_over_a_missing_hour(hourly):
    gappy = hourly.filter(pl.col("hour_utc") != datetime(2025, 3, 10, 5, tzinfo=UTC))
    f = features(gappy)
    row = f.filter(pl.col("hour_utc") == datetime(2025, 3, 11, 5, tzinfo=UTC)).row(0, named=True)
    assert row["lag_24"] is None  # the hour a day earlier is missing: no guessed lag


def test_forecast_covers_the_day_and_is_issued_the_day_before_at_11_local(hourly):
    out = forecast_day(hourly, date(2025, 4, 20))
    assert out.height == 24
    assert out["hour_utc"][0] == datetime(2025, 4, 20, tzinfo=UTC)
    assert out["issued_at_utc"].unique().to_list() == [
        datetime(2025, 4, 19, 9, tzinfo=UTC)
    ]  # 11:00 CEST
    assert out[TARGET].is_between(200, 600).all()


def test_backtest_learns_a_daily_cycle_better_than_a_constant(hourly):
    result = backtest(hourly, [date(2025, 4, 15) + timedelta(days=i) for i in range(5)])
    assert result.days == 5
    spread = float(hourly[TARGET].std())
    assert result.mae_model < 0.5 * spread and result.mae_persistence < spread
    assert np.isfinite(result.skill)
