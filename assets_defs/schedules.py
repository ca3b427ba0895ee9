"""The daily job over every day-partitioned asset, and its schedule."""

from __future__ import annotations

import dagster as dg

from assets_defs.partitions import daily_partitions

daily_site_job = dg.define_asset_job(
    "daily_site_job",
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
    ),
    partitions_def=daily_partitions,
    description="Land and compute one UTC day for the site and its grid zone.",
)

# 02:30 Europe/Berlin: yesterday's meter exports and grid data are complete by then.
daily_site_schedule = dg.build_schedule_from_partitioned_job(
    daily_site_job, hour_of_day=2, minute_of_hour=30
)

refresh_warehouse_job = dg.define_asset_job(
    "refresh_warehouse_job",
    selection=dg.AssetSelection.keys("meter_registry", "fleet", "warehouse_views"),
)

refresh_warehouse_schedule = dg.ScheduleDefinition(
    job=refresh_warehouse_job, cron_schedule="0 3 * * *", execution_timezone="Europe/Berlin"
)

scope2_report_job = dg.define_asset_job(
    "scope2_report_job",
    selection=dg.AssetSelection.keys("scope2_monthly", "go_certificate_export"),
    description="Monthly Scope 2 figures and the certificate exports, from the settled days.",
)

# after the daily job has settled yesterday's certificates
scope2_report_schedule = dg.ScheduleDefinition(
    job=scope2_report_job, cron_schedule="15 3 * * *", execution_timezone="Europe/Berlin"
)

day_ahead_forecast_job = dg.define_asset_job(
    "day_ahead_forecast_job",
    selection=dg.AssetSelection.keys("load_forecast", "pv_forecast"),
    description="Tomorrow's 15-minute load and PV forecasts for the planner.",
)

# issued at 12:00 local for the next local day, before the day-ahead planning run
day_ahead_forecast_schedule = dg.ScheduleDefinition(
    job=day_ahead_forecast_job, cron_schedule="5 12 * * *", execution_timezone="Europe/Berlin"
)
