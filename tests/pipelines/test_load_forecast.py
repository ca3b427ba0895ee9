"""Day-ahead load forecast on the sample site's metered year."""

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from ingest.sample_site import SiteConfig, generate_site
from ingest.sample_site.weather import weather_for_period
from pipelines.forecasting import issue_time_for, noisy_weather_forecast, spread_days
from pipelines.load_forecast import backtest_load, forecast_load, site_consumption_w
from pipelines.schemas import SCHEMAS

CFG = SiteConfig()


@pytest.fixture(scope="module")
def site():
    return generate_site(CFG)


@pytest.fixture(scope="module")
def load(site):
    return site_consumption_w(site.meter_readings, site.meters)


@pytest.fixture(scope="module")
def weather():
    return weather_for_period(CFG.start, CFG.end, CFG.try_region)


def test_consumption_is_the_sum_of_load_meters_in_watts(site, load):
    readings = site.meter_readings
    ts = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)
    at = readings.filter(pl.col("ts_utc") == ts)
    load_meters = site.meters.filter(pl.col("kind") == "load")["meter_id"]
    expected_w = at.filter(pl.col("meter_id").is_in(load_meters))["energy_wh"].sum() * 4
    assert load.filter(pl.col("ts_utc") == ts)["power_w"].item() == pytest.approx(expected_w)
    assert load.height == readings["ts_utc"].n_unique()
    # an interval a load meter did not report is left out, not summed partially
    gappy = readings.filter(~((pl.col("meter_id") == "load-hvac") & (pl.col("ts_utc") == ts)))
    assert ts not in site_consumption_w(gappy, site.meters)["ts_utc"].to_list()


def test_forecast_covers_the_next_local_day_issued_at_noon_the_day_before(load, weather):
    issue = issue_time_for(date(2025, 6, 11))
    assert issue == datetime(2025, 6, 10, 10, tzinfo=UTC)  # 12:00 CEST
    out = forecast_load(load, weather, issue, site_id=CFG.site_id)
    assert dict(out.schema) == SCHEMAS["load_forecast"]
    assert out.height == 96
    assert out["ts_utc"][0] == datetime(2025, 6, 10, 22, tzinfo=UTC)  # 00:00 CEST
    assert out["ts_utc"].diff().drop_nulls().unique().to_list() == [timedelta(minutes=15)]
    assert out["issued_at_utc"].unique().to_list() == [issue]
    assert out["site_id"].unique().to_list() == [CFG.site_id]
    actual = load.filter(pl.col("ts_utc").is_in(out["ts_utc"].implode()))["power_w"]
    assert out["power_w"].min() >= 0
    assert 0.8 < out["power_w"].mean() / actual.mean() < 1.2  # watts, on the right scale


@pytest.mark.parametrize(("day", "rows"), [(date(2025, 3, 30), 92), (date(2025, 10, 26), 100)])
def test_clock_change_days_have_92_or_100_quarter_hours(load, weather, day, rows):
    out = forecast_load(load, weather, issue_time_for(day), site_id=CFG.site_id)
    assert out.height == rows


def test_no_data_after_the_issue_time_reaches_the_forecast(load, weather):
    day = date(2025, 9, 17)
    issue = issue_time_for(day)
    forecast_wx = noisy_weather_forecast(weather, seed=3)
    base = forecast_load(load, weather, issue, site_id="s", weather_forecast=forecast_wx)

    rng = np.random.default_rng(0)
    after = pl.col("ts_utc") >= issue
    scrambled_load = load.with_columns(
        pl.when(after)
        .then(pl.col("power_w") * rng.uniform(0, 3, load.height))
        .otherwise(pl.col("power_w"))
    )
    # observed weather after the issue time is not known then either
    scrambled_wx = weather.with_columns(
        pl.when(after).then(pl.col(c) + 40.0).otherwise(pl.col(c)) for c in ("temp_air", "dhi")
    )
    # and the forecast's rows outside the target day (00:00-24:00 CEST) are not used
    start, end = datetime(2025, 9, 16, 22, tzinfo=UTC), datetime(2025, 9, 17, 22, tzinfo=UTC)
    outside = (pl.col("ts_utc") < start) | (pl.col("ts_utc") >= end)
    scrambled_fc = forecast_wx.with_columns(
        pl.when(outside).then(pl.col("temp_air") - 30.0).otherwise("temp_air")
    )
    again = forecast_load(
        scrambled_load, scrambled_wx, issue, site_id="s", weather_forecast=scrambled_fc
    )
    assert again.equals(base)
    # while the load before the issue time does matter
    earlier = load.with_columns(
        pl.when(pl.col("ts_utc") >= issue - timedelta(days=3))
        .then(pl.col("power_w") * 2)
        .otherwise(pl.col("power_w"))
    )
    changed = forecast_load(earlier, weather, issue, site_id="s", weather_forecast=forecast_wx)
    assert not changed.equals(base)


def test_weather_that_does_not_cover_the_day_is_an_error(load, weather):
    issue = issue_time_for(date(2025, 6, 11))
    short = weather.filter(pl.col("ts_utc") < datetime(2025, 6, 11, 6, tzinfo=UTC))
    with pytest.raises(ValueError, match="weather does not cover"):
        forecast_load(load, short, issue, site_id="s")


@pytest.mark.slow
def test_backtest_beats_persistence_by_10_percent_over_20_folds(load, weather):
    days = spread_days(date(2025, 2, 1), date(2025, 12, 31), 21)
    result = backtest_load(
        load, weather, days, weather_forecast=noisy_weather_forecast(weather, seed=7)
    )
    assert result.days == len(days) >= 20
    assert result.folds["points"].min() >= 92
    assert result.skill >= 0.10, result
    assert result.mae_model < result.mae_persistence
