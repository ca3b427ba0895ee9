"""Checks on the plans: no setpoint outside its device's limits, shortfalls surfaced."""

import json
from datetime import timedelta

import dagster as dg
import polars as pl

from assets_defs.planning.assets import site_jobs
from assets_defs.resources import LakeResource, PlanningResource, SiteResource
from pipelines import lake
from pipelines.planning.limits import device_limits, limit_violations


def _newest_run(lake_root: str, site_id: str) -> dict | None:
    runs = lake.scan(lake_root, "plan_runs").filter(pl.col("site_id") == site_id).collect()
    return runs.sort("created_at_utc").row(-1, named=True) if runs.height else None


@dg.asset_check(
    asset=dg.AssetKey("setpoint_plans"),
    additional_deps=[dg.AssetKey("plan_runs")],
    blocking=True,
    description="Every setpoint of the newest plan lies within its device's power limits "
    "(battery, charger and V2G permission, machine power, curtailment >= 0).",
)
def setpoint_plans_within_limits(
    context: dg.AssetCheckExecutionContext,
    lake_store: LakeResource,
    site: SiteResource,
    planning: PlanningResource,
) -> dg.AssetCheckResult:
    site = site.for_run(context)
    run = _newest_run(lake_store.root, site.site_id)
    if run is None:
        return dg.AssetCheckResult(passed=False, metadata={"problem": "no plan in the lake"})
    plans = lake.read_window(
        lake_store.root,
        "setpoint_plans",
        run["valid_from_utc"].date(),
        run["valid_until_utc"].date() + timedelta(days=1),
        [site.site_id],
    ).filter(pl.col("plan_id") == run["plan_id"])
    limits = device_limits(
        planning.site_spec(site),
        lake.read_partition(lake_store.root, "fleet_vehicles", site.site_id),
        site_jobs(site, run["created_at_utc"]),
    )
    bad = limit_violations(plans, limits)
    return dg.AssetCheckResult(
        passed=bad.is_empty() and plans.height > 0,
        metadata={
            "plan_id": run["plan_id"],
            "rows_checked": plans.height,
            "violations": bad.height,
            "first": str(bad.head(3).rows()) if bad.height else "none",
        },
    )


@dg.asset_check(
    asset=dg.AssetKey("plan_runs"),
    description="The newest plan meets every EV departure, job and battery target; a WARN "
    "lists the planner's explanation of each shortfall.",
)
def plan_meets_requests(
    context: dg.AssetCheckExecutionContext, lake_store: LakeResource, site: SiteResource
) -> dg.AssetCheckResult:
    site = site.for_run(context)
    run = _newest_run(lake_store.root, site.site_id)
    if run is None:
        return dg.AssetCheckResult(passed=False, metadata={"problem": "no plan in the lake"})
    explanations = json.loads(run["explanations"])
    return dg.AssetCheckResult(
        passed=bool(run["feasible"]),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "plan_id": run["plan_id"],
            "ev_shortfall_kwh": run["ev_shortfall_kwh"],
            "explanations": "; ".join(explanations) or "none",
        },
    )
