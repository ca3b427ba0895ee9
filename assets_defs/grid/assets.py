"""Grid assets: generation mix, day-ahead prices and hourly carbon intensity of the zone."""

import dagster as dg
import polars as pl
from entsoe.mappings import NEIGHBOURS

from assets_defs.factories import raw_parquet_daily_asset
from assets_defs.metadata import frame_metadata
from assets_defs.partitions import PARTITIONS_START_DATE, daily_partitions, single_run, window_of
from assets_defs.resources import (
    EmissionFactorsResource,
    EntsoeResource,
    LakeResource,
    SiteResource,
)
from assets_defs.site.assets import sample_site_raw
from ingest import raw_files
from ingest.entsoe_documents import (
    FLOW_SCHEMA,
    get_day_ahead_prices,
    get_flows,
    get_generation,
    get_load,
    get_wind_solar_forecast,
)
from pipelines import lake
from pipelines.carbon_intensity import hourly_intensity_with_gaps
from pipelines.ci_forecast import TARGET, forecast_days, wind_solar_driver
from pipelines.emission_factors import FACTOR_TABLE_VERSION
from pipelines.flow_tracing import consumption_intensity
from pipelines.schemas import conform

GROUP = "grid"
MODEL_NAME = "hgbr-calendar-lags-windsolar-v1"


def _zone_source_asset(
    name: str, kind: str, fetch, description: str, fetch_entities=None
) -> dg.AssetsDefinition:
    """A daily source dataset of the site's zone: the sample site's raw file of ``kind``,
    or ENTSO-E through ``fetch`` when access is configured."""
    return raw_parquet_daily_asset(
        name,
        entity=lambda site: site.zone,
        raw_path=lambda root, zone, day: raw_files.grid_file(root, zone, day, kind),
        deps=[sample_site_raw],
        group_name=GROUP,
        fetch=fetch,
        fetch_entities=fetch_entities,
        description=description,
    )


def _generation_with_source(client, zone, start, end) -> pl.DataFrame:
    return get_generation(client, zone, start, end).with_columns(pl.lit("entsoe").alias("source"))


grid_generation_mix = _zone_source_asset(
    "grid_generation_mix",
    "mix",
    _generation_with_source,
    "Generation per production type of the site's zone and its neighbours [MWh per interval] "
    "(ENTSO-E A75); the sample site's synthetic mix without ENTSO-E access.",
    fetch_entities=lambda site: [site.zone, *NEIGHBOURS.get(site.zone, [])],
)


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    group_name=GROUP,
    kinds={"parquet", "polars"},
    description="Hourly physical flows between the site's zone and each neighbour [MWh] "
    "(ENTSO-E A11); empty for the sample site, which has no neighbours.",
)
def grid_crossborder_flows(
    context: dg.AssetExecutionContext,
    lake_store: LakeResource,
    site: SiteResource,
    entsoe: EntsoeResource,
) -> dg.MaterializeResult:
    window = window_of(context)
    parts = []
    if entsoe.enabled:
        client = entsoe.client()
        for neighbour in NEIGHBOURS.get(site.zone, []):
            for a, b in ((neighbour, site.zone), (site.zone, neighbour)):
                parts.append(get_flows(client, a, b, *window.bounds_utc))
    flows = pl.concat(parts) if parts else pl.DataFrame(schema=FLOW_SCHEMA)
    flows = flows.filter(pl.col("hour_utc").dt.date().is_in(window.days)).with_columns(
        pl.lit(site.zone).alias("zone")
    )
    lake.write_days(lake_store.root, "grid_crossborder_flows", flows, [site.zone], window.days)
    return dg.MaterializeResult(
        metadata=frame_metadata(flows, source="entsoe" if entsoe.enabled else "none")
    )


day_ahead_prices = _zone_source_asset(
    "day_ahead_prices",
    "prices",
    get_day_ahead_prices,
    "Day-ahead prices of the site's bidding zone [EUR/MWh].",
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
    version, factors, overrides = emission_factors.load()
    mix = lake.read_window(lake_store.root, "grid_generation_mix", window.start, window.end)
    zones = sorted(set(mix["zone"].unique().to_list()) | {site.zone})
    production = pl.concat(
        [
            hourly_intensity_with_gaps(
                mix, factors, version, z, window.start, window.end, overrides
            )
            for z in zones
        ]
    )
    flows = lake.read_window(
        lake_store.root, "grid_crossborder_flows", window.start, window.end, [site.zone]
    )
    parts = [production]
    if flows.height:
        known = production.filter(pl.col("quality") != "missing")
        consumption = consumption_intensity(known, flows).filter(pl.col("zone") == site.zone)
        parts.append(conform(consumption, "grid_carbon_intensity_hourly"))
    ci = pl.concat(parts)
    lake.write_days(lake_store.root, "grid_carbon_intensity_hourly", ci, zones, window.days)
    return dg.MaterializeResult(
        metadata=frame_metadata(
            ci,
            flagged_hours=ci.filter(pl.col("quality") != "complete").height,
            factor_table_version=version,
        ),
        # a new factor table gives a new data version, so downstream assets show as stale
        data_version=dg.DataVersion(version),
    )


grid_wind_solar_forecast = _zone_source_asset(
    "grid_wind_solar_forecast",
    "wind_solar_forecast",
    get_wind_solar_forecast,
    "Day-ahead wind and solar generation forecast of the zone [MW] (ENTSO-E A69).",
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
    history = history.filter((pl.col("quality") == "complete") & (pl.col("basis") == "production"))
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
    metadata = frame_metadata(
        forecast, days_skipped=len(window.days) - forecast["hour_utc"].dt.date().n_unique()
    )
    if scored.height:
        metadata["mae_model_g_per_kwh"] = float((scored[TARGET] - scored["actual"]).abs().mean())
        metadata["mae_persistence_g_per_kwh"] = float(
            (scored["persistence"] - scored["actual"]).abs().mean()
        )
    return dg.MaterializeResult(metadata=metadata)


grid_load = _zone_source_asset(
    "grid_load", "load", get_load, "Actual total load of the zone [MW] (ENTSO-E A65)."
)
