"""Grid assets: generation mix, day-ahead prices and hourly carbon intensity of the zone."""

import dagster as dg
import polars as pl

from assets_defs.factories import raw_parquet_daily_asset
from assets_defs.partitions import PARTITIONS_START_DATE, daily_partitions, single_run, window_of
from assets_defs.resources import EmissionFactorsResource, LakeResource, SiteResource
from assets_defs.site.assets import sample_site_raw
from ingest import raw_files
from pipelines import lake
from pipelines.carbon_intensity import hourly_intensity_with_gaps
from pipelines.ci_forecast import TARGET, forecast_days, wind_solar_driver
from pipelines.emission_factors import FACTOR_TABLE_VERSION

GROUP = "grid"
MODEL_NAME = "hgbr-calendar-lags-windsolar-v1"

grid_generation_mix = raw_parquet_daily_asset(
    "grid_generation_mix",
    entity=lambda site: site.zone,
    raw_path=lambda root, zone, day: raw_files.grid_file(root, zone, day, "mix"),
    deps=[sample_site_raw],
    group_name=GROUP,
    description="Generation per production type and hour of the site's bidding zone [MWh].",
)

day_ahead_prices = raw_parquet_daily_asset(
    "day_ahead_prices",
    entity=lambda site: site.zone,
    raw_path=lambda root, zone, day: raw_files.grid_file(root, zone, day, "prices"),
    deps=[sample_site_raw],
    group_name=GROUP,
    description="Day-ahead prices of the site's bidding zone [EUR/MWh].",
)


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    deps=[grid_generation_mix],
    group_name=GROUP,
    kinds={"parquet", "polars"},
    code_version=FACTOR_TABLE_VERSION,
    description="Production-based hourly carbon intensity, direct and lifecycle [g/kWh]; "
    "hours without generation data are flagged 'missing', never filled.",
)
def grid_carbon_intensity_hourly(
    context: dg.AssetExecutionContext,
    lake_store: LakeResource,
    site: SiteResource,
    emission_factors: EmissionFactorsResource,
) -> dg.MaterializeResult:
    window = window_of(context)
    mix = lake.read_window(
        lake_store.root, "grid_generation_mix", window.start, window.end, [site.zone]
    )
    version, factors, overrides = emission_factors.load()
    ci = hourly_intensity_with_gaps(
        mix, factors, version, site.zone, window.start, window.end, overrides
    )
    lake.write_days(lake_store.root, "grid_carbon_intensity_hourly", ci, [site.zone], window.days)
    return dg.MaterializeResult(
        metadata={
            "hours": ci.height,
            "flagged_hours": ci.filter(pl.col("quality") != "complete").height,
            "factor_table_version": version,
        },
        # a new factor table gives a new data version, so downstream assets show as stale
        data_version=dg.DataVersion(version),
    )


grid_wind_solar_forecast = raw_parquet_daily_asset(
    "grid_wind_solar_forecast",
    entity=lambda site: site.zone,
    raw_path=lambda root, zone, day: raw_files.grid_file(root, zone, day, "wind_solar_forecast"),
    deps=[sample_site_raw],
    group_name=GROUP,
    description="Day-ahead wind and solar generation forecast of the zone [MW] (ENTSO-E A69).",
)


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    deps=[grid_carbon_intensity_hourly, grid_wind_solar_forecast],
    group_name=GROUP,
    kinds={"parquet", "scikitlearn"},
    description="Day-ahead hourly lifecycle intensity forecast, issued 11:00 local the day "
    "before; metadata compares its error with persistence (yesterday's same hour).",
)
def grid_carbon_intensity_forecast(
    context: dg.AssetExecutionContext, lake_store: LakeResource, site: SiteResource
) -> dg.MaterializeResult:
    window = window_of(context)
    history = lake.read_window(
        lake_store.root,
        "grid_carbon_intensity_hourly",
        PARTITIONS_START_DATE,
        window.end,
        [site.zone],
    )
    history = history.filter(pl.col("quality") == "complete")
    drivers = wind_solar_driver(
        lake.read_window(
            lake_store.root,
            "grid_wind_solar_forecast",
            PARTITIONS_START_DATE,
            window.end,
            [site.zone],
        )
    )
    forecast = forecast_days(history, window.days, site.timezone, drivers).with_columns(
        pl.lit(site.zone).alias("zone"), pl.lit(MODEL_NAME).alias("model")
    )
    lake.write_days(
        lake_store.root, "grid_carbon_intensity_forecast", forecast, [site.zone], window.days
    )
    scored = forecast.join(
        history.select("hour_utc", pl.col(TARGET).alias("actual")), on="hour_utc"
    ).join(
        history.select(
            (pl.col("hour_utc") + pl.duration(days=1)).alias("hour_utc"),
            pl.col(TARGET).alias("persistence"),
        ),
        on="hour_utc",
    )
    metadata = {
        "hours_forecast": forecast.height,
        "days_skipped": len(window.days) - forecast["hour_utc"].dt.date().n_unique(),
    }
    if scored.height:
        metadata["mae_model_g_per_kwh"] = float((scored[TARGET] - scored["actual"]).abs().mean())
        metadata["mae_persistence_g_per_kwh"] = float(
            (scored["persistence"] - scored["actual"]).abs().mean()
        )
    return dg.MaterializeResult(metadata=metadata)
