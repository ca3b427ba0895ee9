"""The meter drop folder: a sensor that lands every new CSV or Parquet export."""

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from assets_defs.resources import LakeResource, SiteResource
from ingest.meter_files import MeterFileError
from ingest.meter_landing import land_meter_file

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
                partition=day.isoformat(),
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
def meter_drop_job():
    land_dropped_meter_files()


def _pending(drop_dir: Path, seen: dict[str, float]) -> list[Path]:
    if not drop_dir.is_dir():
        return []
    files = [p for p in sorted(drop_dir.iterdir()) if p.suffix.lower() in SUFFIXES and p.is_file()]
    return [p for p in files if seen.get(str(p)) != p.stat().st_mtime]


@dg.sensor(
    job=meter_drop_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING
)
def meter_drop_sensor(context: dg.SensorEvaluationContext, lake_store: LakeResource):
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
