"""Day-ahead PV forecast from a weather forecast, against the sample site's PV meter."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from ingest.sample_site import SiteConfig, generate_site
from ingest.sample_site.pv import pv_system
from ingest.sample_site.weather import weather_for_period
from pipelines.forecasting import issue_time_for, noisy_weather_forecast
from pipelines.pv_forecast import backtest_pv, forecast_pv, site_pv_w
from pipelines.schemas import SCHEMAS

CFG = replace(SiteConfig(), start=date(2025, 6, 1), end=date(2025, 6, 22))


@pytest.fixture(scope="module")
def site():
    return generate_site(CFG)


@pytest.fixture(scope="module")
def weather():
    return weather_for_period(CFG.start, CFG.end, CFG.try_region)


@pytest.fixture(scope="module")
def weather_forecast(weather):
    return noisy_weather_forecast(weather, seed=11)


def test_forecast_is_96_quarter_hours_of_non_negative_watts_zero_at_night(weather_forecast):
    issue = issue_time_for(date(2025, 6, 10))
    out = forecast_pv(weather_forecast, pv_system(CFG), issue, site_id=CFG.site_id)
    assert dict(out.schema) == SCHEMAS["pv_forecast"]
    assert out.height == 96
    assert out["ts_utc"][0] == datetime(2025, 6, 9, 22, tzinfo=UTC)  # 00:00 CEST
    assert out["issued_at_utc"].unique().to_list() == [issue]
    assert out["power_w"].min() >= 0
    # watts, not kW: a June day peaks at tens of kW on this ~297 kWp roof, below 5 × 50 kW AC
    assert 20_000 < out["power_w"].max() <= 250_000
    local_hour = out["ts_utc"].dt.convert_time_zone("Europe/Berlin").dt.hour()
    night = out.filter((local_hour < 4) | (local_hour >= 22))
    assert night.height == 24 and (night["power_w"] == 0).all()
    # an hourly weather forecast gives four equal quarter-hours, as the hourly meter does
    assert out["power_w"].reshape((24, 4)).to_numpy().std(axis=1).max() == 0


def test_only_the_forecast_from_the_issue_time_to_the_target_day_end_is_used(weather_forecast):
    issue = issue_time_for(date(2025, 6, 10))
    base = forecast_pv(weather_forecast, pv_system(CFG), issue, site_id="s")
    end = datetime(2025, 6, 10, 22, tzinfo=UTC)
    outside = (pl.col("ts_utc") < issue - timedelta(hours=1)) | (pl.col("ts_utc") >= end)
    scrambled = weather_forecast.with_columns(
        pl.when(outside).then(pl.col(c) * 3).otherwise(pl.col(c))
        for c in ("direct_horizontal", "dhi", "temp_air")
    )
    assert forecast_pv(scrambled, pv_system(CFG), issue, site_id="s").equals(base)


def test_forecast_without_weather_for_the_day_is_an_error(weather_forecast):
    issue = issue_time_for(date(2025, 6, 22))  # weather ends on 21 June UTC
    with pytest.raises(ValueError, match="does not cover"):
        forecast_pv(weather_forecast, pv_system(CFG), issue, site_id="s")


def test_with_the_observed_weather_the_forecast_is_the_meter(site, weather):
    metered = site_pv_w(site.meter_readings, site.meters)
    days = [date(2025, 6, 3) + timedelta(days=i) for i in range(5)]
    result = backtest_pv(metered, weather, pv_system(CFG), days)
    assert result.days == 5
    assert result.mae_model < 0.1  # W: the meter's 0.1 Wh rounding only


def test_backtest_on_noisy_weather_reports_mae_and_bias_in_watts(site, weather_forecast):
    metered = site_pv_w(site.meter_readings, site.meters)
    days = [date(2025, 6, 3) + timedelta(days=i) for i in range(14)]
    result = backtest_pv(metered, weather_forecast, pv_system(CFG), days)
    assert result.days == 14
    assert set(result.folds.columns) >= {"fold_day", "mae", "bias", "mae_persistence"}
    mean_w = metered["power_w"].mean()
    assert 0.02 * mean_w < result.mae_model < mean_w
    assert abs(result.bias_model) < 0.5 * mean_w
