"""Every definition of the code location, gathered per domain.

Kept apart from :mod:`assets_defs.definitions` so the CLI and tests can run the same
assets with their own resources. Owners and column schemas are added here, in one place,
from each asset's group and lake dataset.
"""

import dagster as dg

from assets_defs.analytics import assets as analytics_assets
from assets_defs.analytics.schedules import (
    detect_vampire_loads_job,
    detect_vampire_loads_schedule,
)
from assets_defs.certificates import assets as certificate_assets
from assets_defs.certificates import checks as certificate_checks
from assets_defs.control import assets as control_assets
from assets_defs.grid import assets as grid_assets
from assets_defs.grid import checks as grid_checks
from assets_defs.metadata import column_schema
from assets_defs.planning import assets as planning_assets
from assets_defs.planning import checks as planning_checks
from assets_defs.planning.schedules import (
    day_ahead_plan_job,
    day_ahead_plan_schedule,
    intraday_plan_job,
    intraday_plan_schedule,
)
from assets_defs.schedules import (
    forecast_tomorrow_load_and_pv_schedule,
    land_and_compute_day_job,
    land_and_compute_yesterday_schedule,
    land_grid_day_job,
    land_grid_yesterday_schedule,
    load_and_pv_forecast_job,
    refresh_registry_job,
    refresh_registry_schedule,
    refresh_warehouse_job,
    refresh_warehouse_schedule,
    scope2_and_certificate_exports_job,
    update_scope2_and_certificate_exports_schedule,
)
from assets_defs.site import assets as site_assets
from assets_defs.site import checks as site_checks
from assets_defs.site.sensors import (
    ingest_telemetry_batches_sensor,
    land_dropped_meter_files_job,
    land_dropped_meter_files_sensor,
    register_sites_sensor,
    telemetry_ingest_job,
)
from assets_defs.warehouse.assets import build_warehouse_views
from pipelines.schemas import SCHEMAS

#: The team that answers for the assets of each group (domain).
OWNERS = {
    "site": "team:site-operations",
    "grid": "team:data-engineering",
    "certificates": "team:sustainability",
    "analytics": "team:analytics",
    "planning": "team:site-operations",
    "control": "team:site-operations",
    "warehouse": "team:data-engineering",
}


def catalogued(spec: dg.AssetSpec) -> dg.AssetSpec:
    """``spec`` with its group's owner and, for a lake dataset, its contract's columns."""
    name = spec.key.to_user_string()
    metadata = {"dagster/column_schema": column_schema(name)} if name in SCHEMAS else {}
    return spec.merge_attributes(owners=[OWNERS[spec.group_name]], metadata=metadata)


LAKE_ASSETS = [
    site_assets.sample_site_raw,
    site_assets.meter_registry,
    site_assets.fleet,
    site_assets.meter_readings,
    site_assets.device_telemetry,
    site_assets.site_energy_hourly,
    grid_assets.grid_generation_mix,
    grid_assets.grid_crossborder_flows,
    grid_assets.day_ahead_prices,
    grid_assets.grid_carbon_intensity_hourly,
    grid_assets.grid_wind_solar_forecast,
    grid_assets.grid_load,
    grid_assets.grid_carbon_intensity_forecast,
    certificate_assets.go_ledger,
    certificate_assets.go_hourly_matching,
    certificate_assets.scope2_monthly,
    analytics_assets.vampire_load_events,
    analytics_assets.vampire_alerts_asset,
    analytics_assets.load_forecast,
    analytics_assets.pv_forecast,
    planning_assets.site_plans,
    planning_assets.v2g_settlements,
    control_assets.device_commands,
    control_assets.control_events,
]
ASSETS = dg.map_asset_specs(
    catalogued,
    [
        *LAKE_ASSETS,
        certificate_assets.go_certificate_export,
        build_warehouse_views(LAKE_ASSETS),
    ],
)
CHECKS = [
    site_checks.meter_registry_checks,
    site_checks.fleet_vehicles_checks,
    site_checks.fleet_trips_checks,
    site_checks.meter_readings_checks,
    site_checks.raw_meter_readings_checks,
    site_checks.device_telemetry_checks,
    site_checks.site_energy_hourly_checks,
    site_checks.site_energy_balance,
    grid_checks.grid_generation_mix_checks,
    grid_checks.day_ahead_prices_checks,
    grid_checks.grid_carbon_intensity_checks,
    grid_checks.grid_carbon_intensity_flagged_share,
    grid_checks.grid_wind_solar_forecast_checks,
    grid_checks.grid_load_checks,
    grid_checks.grid_crossborder_flows_checks,
    certificate_checks.go_ledger_invariants,
    certificate_checks.go_hourly_matching_checks,
    certificate_checks.go_hourly_matching_flags,
    certificate_checks.scope2_monthly_consistent,
    planning_checks.setpoint_plans_within_limits,
    planning_checks.plan_meets_requests,
]
JOBS = [
    land_and_compute_day_job,
    land_grid_day_job,
    detect_vampire_loads_job,
    refresh_registry_job,
    refresh_warehouse_job,
    scope2_and_certificate_exports_job,
    load_and_pv_forecast_job,
    land_dropped_meter_files_job,
    telemetry_ingest_job,
    day_ahead_plan_job,
    intraday_plan_job,
]
SCHEDULES = [
    land_and_compute_yesterday_schedule,
    land_grid_yesterday_schedule,
    detect_vampire_loads_schedule,
    refresh_registry_schedule,
    refresh_warehouse_schedule,
    update_scope2_and_certificate_exports_schedule,
    forecast_tomorrow_load_and_pv_schedule,
    day_ahead_plan_schedule,
    intraday_plan_schedule,
]
SENSORS = [register_sites_sensor, land_dropped_meter_files_sensor, ingest_telemetry_batches_sensor]
