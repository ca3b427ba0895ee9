"""Factories for the asset shapes that repeat across domains."""

from collections.abc import Callable
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl

from assets_defs.metadata import frame_metadata
from assets_defs.partitions import daily_partitions, single_run, window_of
from assets_defs.resources import EntsoeResource, LakeResource, SiteResource
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
    fetch: Callable | None = None,
    fetch_entities: Callable[[SiteResource], list[str]] | None = None,
) -> dg.AssetsDefinition:
    """A daily asset that lands source data into the lake dataset ``name``.

    For every UTC day of the run's window it reads ``raw_path(raw_root, entity, day)``,
    or, when ENTSO-E access is configured and ``fetch(client, entity, start, end)`` is
    given, asks entsoe-py's client for each of ``fetch_entities(site)`` (default: the
    one entity); it conforms the rows to the contract schema and replaces the day's
    partitions.
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
        context: dg.AssetExecutionContext,
        lake_store: LakeResource,
        site: SiteResource,
        entsoe: EntsoeResource,
    ) -> dg.MaterializeResult:
        window = window_of(context)
        if fetch is not None and entsoe.enabled:
            entities = fetch_entities(site) if fetch_entities else [entity(site)]
            client, (start, end) = entsoe.client(), window.bounds_utc
            frame = pl.concat(
                [fetch(client, ent, start, end) for ent in entities], how="diagonal_relaxed"
            )
            frame = frame.filter(pl.col(lake.PARTITIONING[name][1]).dt.date().is_in(window.days))
        else:
            entities = [entity(site)]
            frame = read_parquet_files(
                raw_path(lake_store.raw_root, entities[0], d) for d in window.days
            )
        frame = conform(frame, name)
        written = lake.write_days(lake_store.root, name, frame, entities, window.days)
        return dg.MaterializeResult(
            metadata=frame_metadata(
                frame,
                partitions_written=len(written),
                window=str(window),
                source="entsoe" if fetch is not None and entsoe.enabled else "raw files",
            )
        )

    return _asset
