"""Site assets: the sample site's raw files, meters, telemetry, fleet and the hourly balance."""

from datetime import UTC, datetime
from functools import cache

import dagster as dg
import polars as pl

from assets_defs.metadata import frame_metadata, sites_metadata, window_metadata
from assets_defs.partitions import single_run, site_daily_partitions, site_partitions, window_of
from assets_defs.resources import LakeResource, SiteResource
from ingest import raw_files
from ingest.meter_landing import land_meter_file
from ingest.sample_site import SiteConfig, generate_site, write_raw
from ingest.telemetry_landing import batch_files, read_batches
from pipelines import lake
from pipelines.schemas import conform
from pipelines.site_energy import site_energy_hourly as hourly_balance

GROUP = "site"


@cache
def _sample_site(cfg: SiteConfig):
    return generate_site(cfg)


@dg.asset(
    partitions_def=site_daily_partitions,
    backfill_policy=single_run,
    group_name=GROUP,
    kinds={"python"},
    description="Raw source files of the embedded sample site (synthetic: meter exports, "
    "device telemetry, grid mix and prices), written per UTC day under the raw root.",
)
def sample_site_raw(
    context: dg.AssetExecutionContext, lake_store: LakeResource, site: SiteResource
) -> dg.MaterializeResult:
    window = window_of(context)
    sites = site.for_runs(context)
    paths = [
        p
        for s in sites
        for p in write_raw(_sample_site(s.sample_config()), lake_store.raw_root, window.days)
    ]
    return dg.MaterializeResult(
        metadata={"files_written": len(paths), "window": str(window), **sites_metadata(sites)}
    )


@dg.asset(
    partitions_def=site_partitions,
    group_name=GROUP,
    kinds={"parquet"},
    description="Meters of the site with kind and capacity.",
)
def meter_registry(
    context: dg.AssetExecutionContext, lake_store: LakeResource, site: SiteResource
) -> dg.MaterializeResult:
    site = site.for_run(context)
    meters = _sample_site(site.sample_config()).meters
    lake.write_partition(lake_store.root, "meter_registry", meters, site.site_id)
    return dg.MaterializeResult(metadata=frame_metadata(meters, preview_rows=20))


@dg.asset(
    partitions_def=site_partitions,
    group_name=GROUP,
    kinds={"parquet"},
    deps=[sample_site_raw],
    description="Delivery trucks and their trips.",
)
def fleet(
    context: dg.AssetExecutionContext, lake_store: LakeResource, site: SiteResource
) -> dg.MaterializeResult:
    site = site.for_run(context)
    frames = {}
    for kind in ("vehicles", "trips"):
        dataset = f"fleet_{kind}"
        frames[dataset] = conform(
            raw_files.read_parquet_files(
                [raw_files.fleet_file(lake_store.raw_root, site.site_id, kind)]
            ),
            dataset,
        )
        lake.write_partition(lake_store.root, dataset, frames[dataset], site.site_id)
    counts = {dataset: frame.height for dataset, frame in frames.items()}
    return dg.MaterializeResult(
        metadata=frame_metadata(
            frames["fleet_vehicles"], row_count=sum(counts.values()), preview_rows=20, **counts
        )
    )


@dg.asset(
    partitions_def=site_daily_partitions,
    backfill_policy=single_run,
    deps=[sample_site_raw, meter_registry],
    group_name=GROUP,
    kinds={"parquet", "polars"},
    description="15-minute meter readings, validated; rejected rows go to meter_quarantine.",
)
def meter_readings(
    context: dg.AssetExecutionContext, lake_store: LakeResource, site: SiteResource
) -> dg.MaterializeResult:
    window = window_of(context)
    sites = site.for_runs(context)
    now = datetime.now(UTC)
    totals = {"rows_in": 0, "accepted": 0, "quarantined": 0, "duplicates_ignored": 0}
    for s in sites:
        for day in window.days:
            report = land_meter_file(
                raw_files.meter_file(lake_store.raw_root, s.site_id, day),
                lake_store.root,
                s.timezone,
                now,
                site_id=s.site_id,
            )
            for k in totals:
                totals[k] += getattr(report, k)
    return dg.MaterializeResult(
        metadata=window_metadata(
            lake_store.root,
            "meter_readings",
            window,
            [s.site_id for s in sites],
            **totals,
            window=str(window),
            **sites_metadata(sites),
        )
    )


@dg.asset(
    partitions_def=site_daily_partitions,
    backfill_policy=single_run,
    deps=[sample_site_raw],
    group_name=GROUP,
    kinds={"parquet", "polars"},
    description="Device samples (battery, chargers, PV inverter, MQTT machines): power and "
    "state of charge, from the append-only telemetry batch files of each UTC day.",
)
def device_telemetry(
    context: dg.AssetExecutionContext, lake_store: LakeResource, site: SiteResource
) -> dg.MaterializeResult:
    window = window_of(context)
    ids = [s.site_id for s in site.for_runs(context)]
    frame = conform(
        pl.concat(
            [read_batches(lake_store.raw_root, site_id, window.days) for site_id in ids],
            how="diagonal_relaxed",
        ),
        "device_telemetry",
    )
    files = {
        (site_id, d): len(batch_files(lake_store.raw_root, site_id, d))
        for site_id in ids
        for d in window.days
    }
    empty = [f"{site_id} {d}" for (site_id, d), n in files.items() if n == 0]
    if empty:
        context.log.warning(f"no telemetry batch files for {empty}")
    written = lake.write_days(lake_store.root, "device_telemetry", frame, ids, window.days)
    return dg.MaterializeResult(
        metadata=frame_metadata(
            frame,
            batch_files=sum(files.values()),
            days_without_files=empty,
            partitions_written=len(written),
            window=str(window),
        )
    )


@dg.asset(
    partitions_def=site_daily_partitions,
    backfill_policy=single_run,
    deps=[meter_readings, device_telemetry, meter_registry],
    group_name=GROUP,
    kinds={"parquet", "polars"},
    description="Hourly site energy balance from meters and telemetry [kWh].",
)
def site_energy_hourly(
    context: dg.AssetExecutionContext, lake_store: LakeResource, site: SiteResource
) -> dg.MaterializeResult:
    window = window_of(context)
    ids = [s.site_id for s in site.for_runs(context)]
    hourly = pl.concat(
        [
            hourly_balance(
                lake.read_window(
                    lake_store.root, "meter_readings", window.start, window.end, [site_id]
                ),
                lake.read_partition(lake_store.root, "meter_registry", site_id),
                lake.read_window(
                    lake_store.root, "device_telemetry", window.start, window.end, [site_id]
                ),
            )
            for site_id in ids
        ]
    )
    lake.write_days(lake_store.root, "site_energy_hourly", hourly, ids, window.days)
    return dg.MaterializeResult(
        metadata=frame_metadata(
            hourly,
            incomplete_hours=hourly.filter(hourly["quality"] != "complete").height,
            consumption_kwh=float(hourly["consumption_kwh"].sum()),
            pv_production_kwh=float(hourly["pv_production_kwh"].sum()),
        )
    )
