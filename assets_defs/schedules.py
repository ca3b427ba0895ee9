"""The site's nightly and midday jobs and their schedules (times in Europe/Berlin).

02:30 land and compute yesterday (02:45 vampire loads, in ``analytics/schedules.py``),
03:00 reload the registry and refresh the warehouse, 03:15 update Scope 2 and the
certificate exports, 12:05 forecast tomorrow's load and PV.
"""

from __future__ import annotations

from datetime import UTC, date, timedelta

import dagster as dg

from assets_defs.partitions import PARTITIONS_START_DATE, daily_partitions

TIMEZONE = "Europe/Berlin"

land_and_compute_day_job = dg.define_asset_job(
    "land_and_compute_day_job",
    selection=dg.AssetSelection.all().required_multi_asset_neighbors()
    - dg.AssetSelection.keys(
        "meter_registry",
        "fleet",
        "warehouse_views",
        "scope2_monthly",
        "go_certificate_export",
        "load_forecast",
        "pv_forecast",
        "setpoint_plans",
        "plan_runs",
        "v2g_settlements",
        # run over a range of days each night (assets_defs/analytics/schedules.py)
        "vampire_load_events",
        "vampire_alerts",
    ),
    partitions_def=daily_partitions,
    description="Land and compute one UTC day for the site and its grid zone: meters, "
    "telemetry, grid data, carbon intensity, certificates, control batches.",
)


def utc_yesterday(context: dg.ScheduleEvaluationContext) -> date | dg.SkipReason:
    """The UTC day that ended before the tick, or why there is none (before the first
    partition)."""
    day = (context.scheduled_execution_time.astimezone(UTC) - timedelta(days=1)).date()
    if day < PARTITIONS_START_DATE:
        return dg.SkipReason(f"{day} is before the first partition, {PARTITIONS_START_DATE}")
    return day


@dg.schedule(
    name="land_and_compute_yesterday_schedule",
    job=land_and_compute_day_job,
    cron_schedule="30 2 * * *",
    execution_timezone=TIMEZONE,
    description="At 02:30 land and compute yesterday's UTC day: the meter exports and grid "
    "data of the day are complete by then, before the 03:00 and 03:15 runs that use them.",
)
def land_and_compute_yesterday_schedule(
    context: dg.ScheduleEvaluationContext,
) -> dg.RunRequest | dg.SkipReason:
    """Request the UTC day that ended before the tick (none before the first partition).

    Built by hand rather than with ``build_schedule_from_partitioned_job``, which would
    tick in the partitions' time zone (UTC), i.e. after the Berlin 03:00 and 03:15 runs.
    """
    day = utc_yesterday(context)
    if isinstance(day, dg.SkipReason):
        return day
    return dg.RunRequest(run_key=day.isoformat(), partition_key=day.isoformat())


def daily_job(
    name: str, keys: tuple[str, ...], what: str, schedule: str, cron: str, when: str
) -> tuple[dg.UnresolvedAssetJobDefinition, dg.ScheduleDefinition]:
    """A job over ``keys`` and the schedule ``schedule`` that runs it daily at ``cron`` (local)."""
    job = dg.define_asset_job(name, selection=dg.AssetSelection.keys(*keys), description=what)
    return job, dg.ScheduleDefinition(
        name=schedule,
        job=job,
        cron_schedule=cron,
        execution_timezone=TIMEZONE,
        description=when,
    )


refresh_registry_and_warehouse_job, refresh_registry_and_warehouse_schedule = daily_job(
    "refresh_registry_and_warehouse_job",
    ("meter_registry", "fleet", "warehouse_views"),
    "Reload the meter registry and the fleet, then recreate the DuckDB warehouse views over "
    "the lake.",
    "refresh_registry_and_warehouse_schedule",
    "0 3 * * *",
    "At 03:00, after yesterday has landed, reload the registry and fleet and refresh the "
    "warehouse views.",
)

scope2_and_certificate_exports_job, update_scope2_and_certificate_exports_schedule = daily_job(
    "scope2_and_certificate_exports_job",
    ("scope2_monthly", "go_certificate_export"),
    "Monthly Scope 2 figures and the certificate exports, from the settled days.",
    "update_scope2_and_certificate_exports_schedule",
    "15 3 * * *",
    "At 03:15, once yesterday's certificates are settled, recompute monthly Scope 2 and write "
    "the certificate exports.",
)

load_and_pv_forecast_job, forecast_tomorrow_load_and_pv_schedule = daily_job(
    "load_and_pv_forecast_job",
    ("load_forecast", "pv_forecast"),
    "Tomorrow's 15-minute load and PV forecasts for the planner.",
    "forecast_tomorrow_load_and_pv_schedule",
    "5 12 * * *",
    "At 12:05 issue the day-ahead load and PV forecasts (issue time 12:00 local) for the next "
    "local day.",
)
