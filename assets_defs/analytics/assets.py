"""Analytics assets: vampire-load events and alerts, day-ahead load and PV forecasts."""

from datetime import timedelta

import dagster as dg
import polars as pl

from assets_defs.grid.assets import day_ahead_prices, grid_carbon_intensity_hourly
from assets_defs.metadata import frame_metadata, sites_metadata
from assets_defs.partitions import single_run, site_daily_partitions, site_partitions, window_of
from assets_defs.resources import LakeResource, SiteResource
from assets_defs.site.assets import meter_readings, meter_registry
from ingest.sample_site.pv import pv_system
from ingest.sample_site.weather import weather_for_period
from pipelines import lake
from pipelines.forecasting import issue_time_for, noisy_weather_forecast
from pipelines.load_forecast import MIN_HISTORY_DAYS, forecast_load, site_consumption_w
from pipelines.schemas import empty_frame
from pipelines.vampire import detect_by_day, vampire_alerts
from pipelines.vampire.daily import HISTORY_DAYS, LOOKAHEAD_DAYS, day_window

GROUP = "analytics"
FORECAST_HISTORY_DAYS = 70
FORECAST_SEED = 7  # seed of the sample site's stand-in weather-forecast error


def _load_meters(lake_root: str, site_id: str) -> pl.DataFrame:
    registry = lake.read_partition(lake_root, "meter_registry", site_id)
    return registry.filter(pl.col("kind") == "load")


def _vampire_window(upstream) -> dg.AssetDep:
    """A day's events read the site's readings over its detection window."""
    window = dg.TimeWindowPartitionMapping(
        start_offset=-HISTORY_DAYS,
        end_offset=LOOKAHEAD_DAYS,
        allow_nonexistent_upstream_partitions=True,
    )
    return dg.AssetDep(
        upstream,
        partition_mapping=dg.MultiPartitionMapping(
            {
                "date": dg.DimensionPartitionMapping("date", window),
                "site": dg.DimensionPartitionMapping("site", dg.IdentityPartitionMapping()),
            }
        ),
    )


@dg.asset(
    partitions_def=site_daily_partitions,
    backfill_policy=single_run,
    deps=[
        _vampire_window(meter_readings),
        meter_registry,
        # Dagster maps a site's day to the zone's day only; the zone job lands the zone's
        # prices and intensity before the vampire schedule runs (assets_defs/schedules.py)
        day_ahead_prices,
        grid_carbon_intensity_hourly,
    ],
    group_name=GROUP,
    kinds={"parquet", "scikitlearn"},
    description="Machinery left running at night, over weekends or holidays: sustained "
    "excess over each load meter's learned off-hours baseline, priced in EUR and kg CO2. "
    f"Each day is detected on its own window ({HISTORY_DAYS} days before it, "
    f"{LOOKAHEAD_DAYS} after), so its events do not depend on how days are batched.",
)
def vampire_load_events(
    context: dg.AssetExecutionContext, lake_store: LakeResource, site: SiteResource
) -> dg.MaterializeResult:
    window = window_of(context)
    start = day_window(window.start, HISTORY_DAYS, LOOKAHEAD_DAYS)[0]
    end = day_window(window.days[-1], HISTORY_DAYS, LOOKAHEAD_DAYS)[1]
    sites = site.for_runs(context)
    zone = [site.zone]  # every site of the code location is in its zone
    prices = lake.read_window(lake_store.root, "day_ahead_prices", start, end, zone)
    intensity = lake.read_window(
        lake_store.root, "grid_carbon_intensity_hourly", start, end, zone
    ).filter(pl.col("zone") == site.zone)
    found, skipped = [], {}
    for s in sites:
        meters = _load_meters(lake_store.root, s.site_id)
        readings = lake.read_window(
            lake_store.root, "meter_readings", start, end, [s.site_id]
        ).filter(pl.col("meter_id").is_in(meters["meter_id"].implode()))
        detected = detect_by_day(
            readings,
            window.days,
            prices=prices,
            intensity=intensity,
            site_id=s.site_id,
            timezone=s.timezone,
            zone=s.zone,
        )
        # a day without enough history (e.g. the first days of a site) writes no partition
        days = [d for d in window.days if d not in detected.skipped]
        lake.write_days(lake_store.root, "vampire_load_events", detected.events, [s.site_id], days)
        found.append(detected.events)
        skipped |= {f"{s.site_id} {d}": reason for d, reason in detected.skipped.items()}
    events = pl.concat(found)
    return dg.MaterializeResult(
        metadata=frame_metadata(
            events,
            excess_kwh=float(events["excess_kwh"].sum()),
            excess_cost_eur=float(events["excess_cost_eur"].sum()),
            excess_co2_kg=float(events["excess_co2_kg"].sum()),
            days_detected=len(window.days) * len(sites) - len(skipped),
            **sites_metadata(sites),
            **({"skipped": skipped} if skipped else {}),
        )
    )


@dg.asset(
    name="vampire_alerts",
    partitions_def=site_daily_partitions,
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
    sites = site.for_runs(context)
    alerts = pl.concat(
        [
            vampire_alerts(
                lake.read_window(
                    lake_store.root, "vampire_load_events", window.start, window.end, [s.site_id]
                ),
                _load_meters(lake_store.root, s.site_id),
                s.timezone,
            )
            for s in sites
        ]
    )
    lake.write_days(
        lake_store.root, "vampire_alerts", alerts, [s.site_id for s in sites], window.days
    )
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
    partitions_def=site_partitions,
    deps=[meter_readings, meter_registry],
    group_name=GROUP,
    kinds={"parquet", "scikitlearn"},
    description="Day-ahead 15-minute forecast of the site's load [W], issued at 12:00 local "
    "on the last metered day for the next local day (gradient boosting on calendar, weather "
    "and lag features). Runs are kept side by side by issued_at_utc.",
)
def load_forecast(
    context: dg.AssetExecutionContext, lake_store: LakeResource, site: SiteResource
) -> dg.MaterializeResult:
    site = site.for_run(context)
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
    partitions_def=site_partitions,
    deps=[meter_readings],
    group_name=GROUP,
    kinds={"parquet", "pvlib"},
    description="Day-ahead 15-minute forecast of the site's PV production [W, >= 0] from the "
    "project's pvlib chain of its arrays, fed by the weather forecast (for the sample site: "
    "its weather file with a seeded forecast error).",
)
def pv_forecast(
    context: dg.AssetExecutionContext, lake_store: LakeResource, site: SiteResource
) -> dg.MaterializeResult:
    from pipelines.pv_forecast import forecast_pv

    site = site.for_run(context)
    _, _, issue, _, forecast_weather = _day_ahead_inputs(lake_store.root, site)
    forecast = forecast_pv(
        forecast_weather,
        pv_system(site.sample_config()),
        issue,
        site_id=site.site_id,
        timezone=site.timezone,
    )
    return _store_forecast(lake_store.root, "pv_forecast", forecast, issue)
