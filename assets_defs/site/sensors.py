"""Sensors: the site registry (adds each served site as a partition), and the raw landing:
the meter drop folder (lands every new CSV or Parquet export) and the telemetry batch files
(ingests the site days that received new batches)."""

import json
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg

from assets_defs.partitions import (
    daily_partitions,
    site_daily_partitions,
    site_day_key,
    site_partitions,
    unregistered_sites,
)
from assets_defs.resources import LakeResource, SiteResource
from assets_defs.site.assets import device_telemetry
from ingest import raw_files
from ingest.meter_files import MeterFileError
from ingest.meter_landing import land_meter_file
from ingest.telemetry_landing import batch_days, batch_files

SUFFIXES = {".csv", ".parquet"}


class DropFilesConfig(dg.Config):
    paths: list[str]


@dg.op(out={}, description="Land dropped meter exports into meter_readings, quarantining bad rows.")
def land_dropped_meter_files(
    context: dg.OpExecutionContext,
    config: DropFilesConfig,
    lake_store: LakeResource,
    site: SiteResource,
):
    now = datetime.now(UTC)
    failed = []
    for path in config.paths:
        try:
            report = land_meter_file(path, lake_store.root, site.timezone, now)
        except MeterFileError as exc:
            context.log.error(str(exc))
            failed.append(path)
            continue
        context.log.info(report.summary())
        for site_id, day in report.partitions:
            yield dg.AssetMaterialization(
                asset_key="meter_readings",
                partition=site_day_key(day, site_id),
                description=f"landed from {report.source}",
                metadata={"site_id": site_id, "source": report.source},
            )
        yield dg.AssetObservation(
            asset_key="meter_readings",
            metadata={
                "source": report.source,
                "rows_in": report.rows_in,
                "accepted": report.accepted,
                "quarantined": report.quarantined,
                "duplicates_ignored": report.duplicates_ignored,
                "reasons": report.reasons,
            },
        )
    if failed:
        raise dg.Failure(description=f"unreadable meter files: {failed}")


@dg.job(description="Land meter exports dropped into the drop folder.")
def land_dropped_meter_files_job():
    land_dropped_meter_files()


def _pending(drop_dir: Path, seen: dict[str, float]) -> list[Path]:
    if not drop_dir.is_dir():
        return []
    files = [p for p in sorted(drop_dir.iterdir()) if p.suffix.lower() in SUFFIXES and p.is_file()]
    return [p for p in files if seen.get(str(p)) != p.stat().st_mtime]


@dg.sensor(
    job=land_dropped_meter_files_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every 30 s, land the new or changed CSV and Parquet meter exports of the "
    "drop folder into meter_readings (one run per batch of files).",
)
def land_dropped_meter_files_sensor(context: dg.SensorEvaluationContext, lake_store: LakeResource):
    """Start one run per batch of new or changed files in the drop folder."""
    seen = json.loads(context.cursor) if context.cursor else {}
    pending = _pending(Path(lake_store.drop_dir), seen)
    if not pending:
        return dg.SkipReason(f"no new files in {lake_store.drop_dir}")
    for p in pending:
        seen[str(p)] = p.stat().st_mtime
    context.update_cursor(json.dumps(seen, sort_keys=True))
    return dg.RunRequest(
        run_key=json.dumps({str(p): seen[str(p)] for p in pending}, sort_keys=True),
        run_config=dg.RunConfig(
            ops={"land_dropped_meter_files": DropFilesConfig(paths=[str(p) for p in pending])}
        ),
    )


# ---------------------------------------------------------------- telemetry batches

#: Days requested per tick at most; the rest follow on the next ticks.
TELEMETRY_DAYS_PER_TICK = 31

telemetry_ingest_job = dg.define_asset_job(
    "telemetry_ingest_job",
    selection=dg.AssetSelection.assets(device_telemetry),
    partitions_def=site_daily_partitions,
    description="Ingest one site's UTC day of telemetry batch files into device_telemetry (and "
    "check it).",
)


def _day_signature(raw_root: str, site_id: str, day: date) -> list | None:
    """(file count, newest mtime [ns]) of the day's adapter batches; None without any.

    The sample site's own batches are left out: the daily site job that writes them
    ingests them in the same run.
    """
    files = [
        p
        for p in batch_files(raw_root, site_id, day)
        if not p.name.startswith(f"{raw_files.SAMPLE_TELEMETRY_WRITER}-")
    ]
    if not files:
        return None
    return [len(files), max(p.stat().st_mtime_ns for p in files)]


@dg.sensor(
    job=telemetry_ingest_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every 60 s, ingest the device_telemetry partition of each site and closed "
    "UTC day that received new telemetry batch files.",
)
def ingest_telemetry_batches_sensor(context: dg.SensorEvaluationContext, lake_store: LakeResource):
    """Request the device_telemetry partition of every registered site and closed UTC day
    with new batch files.

    Batch files are append-only, so a day changed when its file count or newest mtime
    did. Today's partition does not exist yet; its files are taken once the day closes.
    """
    seen = json.loads(context.cursor) if context.cursor else {}
    existing = set(daily_partitions.get_partition_keys())
    requests = []
    for site_id in context.instance.get_dynamic_partitions(site_partitions.name):
        for day in batch_days(lake_store.raw_root, site_id):
            key = f"{site_id}:{day.isoformat()}"
            if day.isoformat() not in existing:
                continue
            signature = _day_signature(lake_store.raw_root, site_id, day)
            if signature is None or seen.get(key) == signature:
                continue
            seen[key] = signature
            requests.append(
                dg.RunRequest(
                    run_key=f"{key}:{signature[0]}:{signature[1]}",
                    partition_key=site_day_key(day, site_id),
                )
            )
            if len(requests) == TELEMETRY_DAYS_PER_TICK:
                break
        if len(requests) == TELEMETRY_DAYS_PER_TICK:
            break
    if not requests:
        return dg.SkipReason(f"no new telemetry batch files under {lake_store.raw_root}")
    context.update_cursor(json.dumps(seen, sort_keys=True))
    return requests


# ---------------------------------------------------------------- site registry


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every 60 s, add the sites served (SITE_ID and the SITES_FILE registry) that "
    "are not yet partitions of the site assets.",
)
def register_sites_sensor(context: dg.SensorEvaluationContext, site: SiteResource):
    """Add the served sites missing from the ``sites`` partitions (never removes one: a
    site's lake partitions stay addressable after it leaves the registry)."""
    served = site.site_ids()
    new = unregistered_sites(context.instance, served)
    if not new:
        return dg.SkipReason(f"all {len(served)} sites served are registered")
    return dg.SensorResult(dynamic_partitions_requests=[site_partitions.build_add_request(new)])
