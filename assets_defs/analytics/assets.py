"""Analytics assets: vampire-load events and alerts, day-ahead load and PV forecasts."""

from datetime import timedelta

import dagster as dg
import polars as pl

from assets_defs.grid.assets import day_ahead_prices, grid_carbon_intensity_hourly
from assets_defs.metadata import frame_metadata
from assets_defs.partitions import daily_partitions, single_run, window_of
from assets_defs.resources import LakeResource, SiteResource
from assets_defs.site.assets import meter_readings, meter_registry
from ingest.sample_site.pv import pv_system
from ingest.sample_site.weather import weather_for_period
from pipelines import lake
from pipelines.forecasting import issue_time_for, noisy_weather_forecast
from pipelines.load_forecast import MIN_HISTORY_DAYS, forecast_load, site_consumption_w
from pipelines.schemas import empty_frame
from pipelines.vampire import VampireInputError, detect_vampire_loads, vampire_alerts

GROUP = "analytics"
# a detector learns each meter's normal nights from this much history before the window
VAMPIRE_HISTORY_DAYS = 28
FORECAST_HISTORY_DAYS = 70
FORECAST_SEED = 7  # seed of the sample site's stand-in weather-forecast error


def _load_meters(lake_root: str, site_id: str) -> pl.DataFrame:
    registry = lake.read_partition(lake_root, "meter_registry", site_id)
    return registry.filter(pl.col("kind") == "load")


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    deps=[meter_readings, meter_registry, day_ahead_prices, grid_carbon_intensity_hourly],
    group_name=GROUP,
    kinds={"parquet", "scikitlearn"},
    description="Machinery left running at night, over weekends or holidays: sustained "
    "excess over each load meter's learned off-hours baseline, priced in EUR and kg CO2.",
)
def vampire_load_events(
    context: dg.AssetExecutionContext, lake_store: LakeResource, site: SiteResource
) -> dg.MaterializeResult:
    window = window_of(context)
    start = window.start - timedelta(days=VAMPIRE_HISTORY_DAYS)
    meters = _load_meters(lake_store.root, site.site_id)
    readings = lake.read_window(
        lake_store.root, "meter_readings", start, window.end, [site.site_id]
    ).filter(pl.col("meter_id").is_in(meters["meter_id"].implode()))
    zone = [site.zone]
    try:
        events = detect_vampire_loads(
            readings,
            site_id=site.site_id,
            timezone=site.timezone,
            prices=lake.read_window(lake_store.root, "day_ahead_prices", start, window.end, zone),
            intensity=lake.read_window(
                lake_store.root, "grid_carbon_intensity_hourly", start, window.end, zone
            ).filter(pl.col("zone") == site.zone),
            zone=site.zone,
        )
    except VampireInputError as exc:
        # too little history (e.g. the first days of a site): say so, write nothing
        return dg.MaterializeResult(
            metadata=frame_metadata(empty_frame("vampire_load_events"), skipped=str(exc))
        )
    events = events.filter(
        pl.col("start_utc").dt.date().is_between(window.start, window.end, "left")
    )
    lake.write_days(lake_store.root, "vampire_load_events", events, [site.site_id], window.days)
    return dg.MaterializeResult(
        metadata=frame_metadata(
            events,
            excess_kwh=float(events["excess_kwh"].sum()),
            excess_cost_eur=float(events["excess_cost_eur"].sum()),
            excess_co2_kg=float(events["excess_co2_kg"].sum()),
        )
    )


@dg.asset(
    name="vampire_alerts",
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    deps=[vampire_load_events],
    group_name=GROUP,
    kinds={"parquet"},
    description="High Consumption Alerts for the dashboard, one per vampire-load event.",
)
def vampire_alerts_asset(
    context: dg.AssetExecutionContext, lake_store: LakeResource, site: SiteResource
) -> dg.MaterializeResult:
    window = window_of(context)
    events = lake.read_window(
        lake_store.root, "vampire_load_events", window.start, window.end, [site.site_id]
    )
    alerts = vampire_alerts(events, _load_meters(lake_store.root, site.site_id), site.timezone)
    lake.write_days(lake_store.root, "vampire_alerts", alerts, [site.site_id], window.days)
    return dg.MaterializeResult(
        metadata=frame_metadata(
            alerts,
            latest=alerts.sort("start_utc")["message"][-1] if alerts.height else "none",
        )
    )


def _day_ahead_inputs(lake_root: str, site: SiteResource):
    """The last metered UTC day, the issue time on it, and the observed and forecast weather."""
    readings_days = lake.scan(lake_root, "meter_readings").filter(pl.col("site_id") == site.site_id)
    last = readings_days.select(pl.col("ts_utc").max()).collect().item()
    if last is None:
        raise dg.Failure("no meter readings in the lake: materialize meter_readings first")
    last_day = last.date()
    start = last_day - timedelta(days=FORECAST_HISTORY_DAYS)
    cfg = site.sample_config()
    weather = weather_for_period(start, last_day + timedelta(days=3), cfg.try_region)
    return (
        start,
        last_day,
        # the forecast for the day after the last metered day, issued on that day
        issue_time_for(last_day + timedelta(days=1), site.timezone),
        weather,
        noisy_weather_forecast(weather, FORECAST_SEED),
    )


def _store_forecast(lake_root: str, dataset: str, forecast: pl.DataFrame, issue):
    """Merge one issued 15-minute forecast into the lake; its result for the UI."""
    lake.merge_days(lake_root, dataset, forecast)
    return dg.MaterializeResult(
        metadata=frame_metadata(
            forecast,
            issued_at_utc=issue.isoformat(),
            energy_kwh=float(forecast["power_w"].sum() / 4000),
        )
    )


@dg.asset(
    deps=[meter_readings, meter_registry],
    group_name=GROUP,
    kinds={"parquet", "scikitlearn"},
    description="Day-ahead 15-minute forecast of the site's load [W], issued at 12:00 local "
    "on the last metered day for the next local day (gradient boosting on calendar, weather "
    "and lag features). Runs are kept side by side by issued_at_utc.",
)
def load_forecast(lake_store: LakeResource, site: SiteResource) -> dg.MaterializeResult:
    start, last_day, issue, weather, forecast_weather = _day_ahead_inputs(lake_store.root, site)
    readings = lake.read_window(
        lake_store.root, "meter_readings", start, last_day + timedelta(days=1), [site.site_id]
    )
    registry = lake.read_partition(lake_store.root, "meter_registry", site.site_id)
    history = site_consumption_w(readings, registry)
    days = history["ts_utc"].dt.date().n_unique()
    if days < MIN_HISTORY_DAYS:
        return dg.MaterializeResult(
            metadata=frame_metadata(
                empty_frame("load_forecast"),
                skipped=f"{days} days of load history, {MIN_HISTORY_DAYS} needed",
            )
        )
    forecast = forecast_load(
        history,
        weather,
        issue,
        site_id=site.site_id,
        timezone=site.timezone,
        weather_forecast=forecast_weather,
    )
    return _store_forecast(lake_store.root, "load_forecast", forecast, issue)


@dg.asset(
    deps=[meter_readings],
    group_name=GROUP,
    kinds={"parquet", "pvlib"},
    description="Day-ahead 15-minute forecast of the site's PV production [W, >= 0] from the "
    "project's pvlib chain of its arrays, fed by the weather forecast (for the sample site: "
    "its weather file with a seeded forecast error).",
)
def pv_forecast(lake_store: LakeResource, site: SiteResource) -> dg.MaterializeResult:
    from pipelines.pv_forecast import forecast_pv

    _, _, issue, _, forecast_weather = _day_ahead_inputs(lake_store.root, site)
    forecast = forecast_pv(
        forecast_weather,
        pv_system(site.sample_config()),
        issue,
        site_id=site.site_id,
        timezone=site.timezone,
    )
    return _store_forecast(lake_store.root, "pv_forecast", forecast, issue)
