"""Control assets: the service's landed command and event batches, ingested per UTC day.

The control service never writes the lake; it lands append-only batch files
(:mod:`control.commands`) and these assets replace each day's partition with every row of
that day's files, one row per key.
"""

import dagster as dg
import polars as pl

from assets_defs.metadata import frame_metadata, sites_metadata
from assets_defs.partitions import single_run, site_daily_partitions, window_of
from assets_defs.resources import LakeResource, SiteResource
from control.commands import COMMANDS, EVENTS, Landing, landed_files, read_landed
from pipelines import lake
from pipelines.schemas import conform

GROUP = "control"


def _ingest(context, lake_store: LakeResource, site: SiteResource, landing: Landing):
    window = window_of(context)
    sites = site.for_runs(context)
    ids = [s.site_id for s in sites]
    frame = conform(
        pl.concat(
            [read_landed(lake_store.raw_root, landing, i, window.days) for i in ids],
            how="diagonal_relaxed",
        ),
        landing.dataset,
    )
    files = sum(
        len(landed_files(lake_store.raw_root, landing, i, d)) for i in ids for d in window.days
    )
    written = lake.write_days(lake_store.root, landing.dataset, frame, ids, window.days)
    return frame, frame_metadata(
        frame,
        batch_files=files,
        partitions_written=len(written),
        window=str(window),
        **sites_metadata(sites),
    )


@dg.asset(
    partitions_def=site_daily_partitions,
    backfill_policy=single_run,
    group_name=GROUP,
    kinds={"parquet", "polars"},
    description="Every setpoint the control service sent (device, power, expiry, payload on "
    "the wire) with the device's acknowledgement, from its append-only command batches.",
)
def device_commands(
    context: dg.AssetExecutionContext, lake_store: LakeResource, site: SiteResource
) -> dg.MaterializeResult:
    frame, meta = _ingest(context, lake_store, site, COMMANDS)
    not_accepted = frame.filter(frame["ack_status"] != "Accepted").height
    return dg.MaterializeResult(metadata={**meta, "not_accepted": not_accepted})


@dg.asset(
    partitions_def=site_daily_partitions,
    backfill_policy=single_run,
    group_name=GROUP,
    kinds={"parquet", "polars"},
    description="Control service events: island mode transitions, load shedding and "
    "restore, devices offline/online, plan changes or a missing plan, overrides, start/stop.",
)
def control_events(
    context: dg.AssetExecutionContext, lake_store: LakeResource, site: SiteResource
) -> dg.MaterializeResult:
    frame, meta = _ingest(context, lake_store, site, EVENTS)
    counts = dict(frame.group_by("event_type").len().iter_rows()) if frame.height else {}
    return dg.MaterializeResult(metadata={**meta, "event_types": counts})
