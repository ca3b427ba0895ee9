"""Factories for the asset shapes that repeat across domains."""

from collections.abc import Callable
from datetime import date
from pathlib import Path

import dagster as dg

from assets_defs.partitions import daily_partitions, single_run, window_of
from assets_defs.resources import LakeResource, SiteResource
from ingest.raw_files import read_parquet_files
from pipelines import lake
from pipelines.schemas import conform


def raw_parquet_daily_asset(
    name: str,
    entity: Callable[[SiteResource], str],
    raw_path: Callable[[str, str, date], Path],
    deps: list,
    group_name: str,
    description: str,
) -> dg.AssetsDefinition:
    """A daily asset that lands raw Parquet source files into the lake dataset ``name``.

    For every UTC day of the run's window it reads ``raw_path(raw_root, entity, day)``,
    conforms the rows to the contract schema and replaces the day's partition.
    """

    @dg.asset(
        name=name,
        partitions_def=daily_partitions,
        backfill_policy=single_run,
        deps=deps,
        group_name=group_name,
        description=description,
        kinds={"parquet", "polars"},
    )
    def _asset(
        context: dg.AssetExecutionContext, lake_store: LakeResource, site: SiteResource
    ) -> dg.MaterializeResult:
        window = window_of(context)
        ent = entity(site)
        frame = read_parquet_files(raw_path(lake_store.raw_root, ent, d) for d in window.days)
        frame = conform(frame, name)
        written = lake.write_days(lake_store.root, name, frame, [ent], window.days)
        return dg.MaterializeResult(
            metadata={
                "rows": frame.height,
                "partitions_written": len(written),
                "window": str(window),
            }
        )

    return _asset
