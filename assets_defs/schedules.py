"""The nightly and midday jobs and their schedules (times in Europe/Berlin).

02:30 land and compute yesterday for every site, 02:40 land yesterday's grid data of the
zone (02:45 vampire loads, in ``analytics/schedules.py``), 03:00 reload each site's
registry and fleet, 03:05 refresh the warehouse, 03:15 update each site's Scope 2 and
certificate exports, 12:05 forecast each site's load and PV for tomorrow.

A site job's schedule requests one run per site known to the instance (the ``sites``
partitions that ``register_sites_sensor`` keeps in step with the site registry).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, timedelta

import dagster as dg

from assets_defs.partitions import (
    PARTITIONS_START_DATE,
    daily_partitions,
    site_daily_partitions,
    site_day_key,
    site_partitions,
)

TIMEZONE = "Europe/Berlin"
#: The site assets a day's run lands and computes (vampire loads run over ranges).
SITE_DAY_KEYS = (
    "sample_site_raw",
    "meter_readings",
    "device_telemetry",
    "site_energy_hourly",
    "go_ledger",
    "go_hourly_matching",
    "device_commands",
    "control_events",
)

land_and_compute_day_job = dg.define_asset_job(
    "land_and_compute_day_job",
    selection=dg.AssetSelection.keys(*SITE_DAY_KEYS),
    partitions_def=site_daily_partitions,
    description="Land and compute one UTC day of one site: meters, telemetry, the hourly "
    "balance, certificates, control batches.",
)
land_grid_day_job = dg.define_asset_job(
    "land_grid_day_job",
    selection=dg.AssetSelection.groups("grid"),
    partitions_def=daily_partitions,
    description="Land one UTC day of the zone's grid data and compute its carbon intensity.",
)


def utc_yesterday(context: dg.ScheduleEvaluationContext) -> date | dg.SkipReason:
    """The UTC day that ended before the tick, or why there is none (before the first
    partition)."""
    day = (context.scheduled_execution_time.astimezone(UTC) - timedelta(days=1)).date()
    if day < PARTITIONS_START_DATE:
        return dg.SkipReason(f"{day} is before the first partition, {PARTITIONS_START_DATE}")
    return day


def for_each_site(
    context: dg.ScheduleEvaluationContext, request: Callable[[str], dg.RunRequest]
) -> list[dg.RunRequest] | dg.SkipReason:
    """``request(site_id)`` for every site known to the instance, or why there is none."""
    sites = context.instance.get_dynamic_partitions(site_partitions.name)
    if not sites:
        return dg.SkipReason("no site registered yet (register_sites_sensor adds them)")
    return [request(site_id) for site_id in sites]


@dg.schedule(
    name="land_and_compute_yesterday_schedule",
    job=land_and_compute_day_job,
    cron_schedule="30 2 * * *",
    execution_timezone=TIMEZONE,
    description="At 02:30 land and compute yesterday's UTC day, one run per site: the meter "
    "exports of the day are complete by then, before the runs after 02:40 that use them.",
)
def land_and_compute_yesterday_schedule(
    context: dg.ScheduleEvaluationContext,
) -> list[dg.RunRequest] | dg.SkipReason:
    """Request the UTC day that ended before the tick of every site (none before the first
    partition).

    Built by hand rather than with ``build_schedule_from_partitioned_job``, which would
    tick in the partitions' time zone (UTC), i.e. after the Berlin 03:00 and 03:15 runs.
    """
    day = utc_yesterday(context)
    if isinstance(day, dg.SkipReason):
        return day
    return for_each_site(
        context,
        lambda site_id: dg.RunRequest(
            run_key=f"{site_id}:{day}", partition_key=site_day_key(day, site_id)
        ),
    )


@dg.schedule(
    name="land_grid_yesterday_schedule",
    job=land_grid_day_job,
    cron_schedule="40 2 * * *",
    execution_timezone=TIMEZONE,
    description="At 02:40 land yesterday's grid data of the zone and its carbon intensity, "
    "after the sites' runs (the sample site writes its synthetic grid files) and before "
    "the vampire-load run that prices its events with them.",
)
def land_grid_yesterday_schedule(
    context: dg.ScheduleEvaluationContext,
) -> dg.RunRequest | dg.SkipReason:
    """Request the UTC day that ended before the tick (none before the first partition)."""
    day = utc_yesterday(context)
    if isinstance(day, dg.SkipReason):
        return day
    return dg.RunRequest(run_key=day.isoformat(), partition_key=day.isoformat())


def site_job(
    name: str,
    keys: tuple[str, ...],
    what: str,
    schedule: str,
    cron: str,
    when: str,
    config: dict | None = None,
    run_config: Callable[[dg.ScheduleEvaluationContext], dict] | None = None,
) -> tuple[dg.UnresolvedAssetJobDefinition, dg.ScheduleDefinition]:
    """A job over the site assets ``keys`` and the schedule ``schedule`` that runs it at
    ``cron`` (local) once per site, each run keyed by site and tick, configured by
    ``run_config(context)`` when given."""
    job = dg.define_asset_job(
        name,
        selection=dg.AssetSelection.keys(*keys),
        partitions_def=site_partitions,
        config=config,
        description=what,
    )

    @dg.schedule(
        name=schedule,
        job=job,
        cron_schedule=cron,
        execution_timezone=TIMEZONE,
        description=when,
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        tick = context.scheduled_execution_time.isoformat()
        extra = {"run_config": run_config(context)} if run_config else {}
        return for_each_site(
            context,
            lambda site_id: dg.RunRequest(
                run_key=f"{site_id}:{tick}", partition_key=site_id, **extra
            ),
        )

    return job, _schedule


refresh_registry_job, refresh_registry_schedule = site_job(
    "refresh_registry_job",
    ("meter_registry", "fleet"),
    "Reload a site's meter registry and fleet.",
    "refresh_registry_schedule",
    "0 3 * * *",
    "At 03:00, after yesterday has landed, reload each site's registry and fleet.",
)

refresh_warehouse_job = dg.define_asset_job(
    "refresh_warehouse_job",
    selection=dg.AssetSelection.keys("warehouse_views"),
    description="Recreate the DuckDB warehouse views over the lake.",
)
refresh_warehouse_schedule = dg.ScheduleDefinition(
    name="refresh_warehouse_schedule",
    job=refresh_warehouse_job,
    cron_schedule="5 3 * * *",
    execution_timezone=TIMEZONE,
    description="At 03:05, after the registries are reloaded, refresh the warehouse views "
    "(one writer of the warehouse file for all sites).",
)

scope2_and_certificate_exports_job, update_scope2_and_certificate_exports_schedule = site_job(
    "scope2_and_certificate_exports_job",
    ("scope2_monthly", "go_certificate_export"),
    "A site's monthly Scope 2 figures and certificate exports, from the settled days.",
    "update_scope2_and_certificate_exports_schedule",
    "15 3 * * *",
    "At 03:15, once yesterday's certificates are settled, recompute each site's monthly "
    "Scope 2 and write its certificate exports.",
)

load_and_pv_forecast_job, forecast_tomorrow_load_and_pv_schedule = site_job(
    "load_and_pv_forecast_job",
    ("load_forecast", "pv_forecast"),
    "Tomorrow's 15-minute load and PV forecasts of a site for the planner.",
    "forecast_tomorrow_load_and_pv_schedule",
    "5 12 * * *",
    "At 12:05 issue each site's day-ahead load and PV forecasts (issue time 12:00 local) for "
    "the next local day.",
)
