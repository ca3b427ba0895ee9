"""Planning assets: the site's setpoint plans (day-ahead and intraday) and V2G settlements."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import polars as pl

from assets_defs.analytics.assets import load_forecast, pv_forecast
from assets_defs.grid.assets import day_ahead_prices, grid_carbon_intensity_forecast
from assets_defs.metadata import frame_metadata
from assets_defs.partitions import every_day, site_partitions
from assets_defs.resources import LakeResource, PlanningResource, SiteResource
from assets_defs.site.assets import device_telemetry, fleet, meter_readings
from ingest.sample_site.flex_jobs import job_queue
from pipelines import lake
from pipelines.planning.site_lake import live_edge, plan_site, settle_site_v2g
from pipelines.planning.site_scenario import DAY_AHEAD, KINDS, PlanInputError
from pipelines.schemas import empty_frame

GROUP = "planning"
SETTLE_DAYS = 7  # local days before the newest plan's end that each settlement run redoes


class PlanConfig(dg.Config):
    """Which plan to make and when it is made.

    ``as_of_utc`` empty means "from the newest telemetry": an intraday plan as of the end
    of the newest telemetry interval, a day-ahead plan as of 12:00 local on or before it.
    Schedules pass their tick time.
    """

    kind: str = DAY_AHEAD
    as_of_utc: str = ""


def _as_of(config: PlanConfig, lake_root: str, site: SiteResource) -> datetime:
    if config.as_of_utc:
        ts = datetime.fromisoformat(config.as_of_utc.replace("Z", "+00:00"))
        return ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)
    edge = live_edge(lake_root, site.site_id, datetime.now(UTC))
    if edge is None:
        raise dg.Failure("no device telemetry in the lake: materialize device_telemetry first")
    if config.kind != DAY_AHEAD:
        return edge
    tz = ZoneInfo(site.timezone)
    noon = datetime.combine(edge.astimezone(tz).date(), time(12), tz).astimezone(UTC)
    return noon if noon <= edge else noon - timedelta(days=1)


def site_jobs(site: SiteResource, start: datetime, days: int = 3) -> pl.DataFrame:
    """The flexible-job queue around a plan made at ``start``."""
    first = start.astimezone(ZoneInfo(site.timezone)).date() - timedelta(days=1)
    return job_queue(first, first + timedelta(days=days), site.timezone)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "setpoint_plans",
            deps=[
                load_forecast,
                pv_forecast,
                every_day(day_ahead_prices),
                every_day(grid_carbon_intensity_forecast),
                device_telemetry,
                meter_readings,
                fleet,
            ],
            group_name=GROUP,
            kinds={"parquet", "highs"},
            description="15-minute power setpoints per controllable device (battery, EV "
            "chargers, flexible machines, PV curtailment), positive when drawing from the site "
            "bus: the only interface to the control service. The newest plan created before a "
            "slot is in force for it.",
        ),
        dg.AssetSpec(
            "plan_runs",
            deps=["setpoint_plans"],
            group_name=GROUP,
            kinds={"parquet"},
            description="One row per plan: horizon, cost against the run-now baseline, avoided "
            "CO2, EV shortfalls with their explanations, and the inputs that fell back.",
        ),
    ],
    partitions_def=site_partitions,
)
def site_plans(
    context: dg.AssetExecutionContext,
    config: PlanConfig,
    lake_store: LakeResource,
    site: SiteResource,
    planning: PlanningResource,
):
    site = site.for_run(context)
    if config.kind not in KINDS:
        raise dg.Failure(f"kind must be one of {KINDS}, got {config.kind!r}")
    as_of = _as_of(config, lake_store.root, site)
    try:
        plan = plan_site(
            lake_store.root,
            planning.site_spec(site),
            site.zone,
            config.kind,
            as_of,
            site_jobs(site, as_of),
        )
    except PlanInputError as exc:
        raise dg.Failure(f"cannot plan as of {as_of:%Y-%m-%d %H:%M} UTC: {exc}") from exc
    s = plan.result.summary
    run = plan.run.row(0, named=True)
    context.log.info(f"{run['plan_id']}: {len(s['explanations'])} shortfalls")
    yield dg.MaterializeResult(
        asset_key="setpoint_plans",
        metadata=frame_metadata(
            plan.setpoints,
            preview=plan.setpoints.filter(pl.col("power_w") != 0),
            preview_rows=12,
            plan_id=run["plan_id"],
            kind=config.kind,
            valid_from_utc=run["valid_from_utc"].isoformat(),
            valid_until_utc=run["valid_until_utc"].isoformat(),
            devices=plan.setpoints["device_id"].n_unique(),
        ),
    )
    yield dg.MaterializeResult(
        asset_key="plan_runs",
        metadata=frame_metadata(
            plan.run,
            preview=plan.run.drop("summary_json"),
            feasible=s["feasible"],
            cost_eur=s["objective"]["total_eur"],
            baseline_cost_eur=s["baseline"]["total_eur"],
            avoided_cost_eur=s["avoided"]["cost_eur"],
            avoided_co2_kg=s["avoided"]["co2_kg"],
            solve_s=s["timing_s"]["total"],
            explanations="; ".join(s["explanations"]) or "none",
            input_fallback_slots=str(plan.site.fallbacks),
        ),
    )


def _local_midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(timezone)).astimezone(UTC)


@dg.asset(
    partitions_def=site_partitions,
    deps=["setpoint_plans", device_telemetry, every_day(day_ahead_prices), fleet],
    group_name=GROUP,
    kinds={"parquet"},
    description="V2G payments per vehicle owner, vehicle and local day: energy discharged "
    "× day-ahead price, both as planned (setpoints in force) and as metered (charger "
    "telemetry).",
)
def v2g_settlements(
    context: dg.AssetExecutionContext, lake_store: LakeResource, site: SiteResource
) -> dg.MaterializeResult:
    site = site.for_run(context)
    runs = lake.scan(lake_store.root, "plan_runs").filter(pl.col("site_id") == site.site_id)
    until = runs.select(pl.col("valid_until_utc").max()).collect().item()
    if until is None:
        return dg.MaterializeResult(
            metadata=frame_metadata(empty_frame("v2g_settlements"), skipped="no plan in the lake")
        )
    last_day = until.astimezone(ZoneInfo(site.timezone)).date()
    start = _local_midnight(last_day - timedelta(days=SETTLE_DAYS), site.timezone)
    end = _local_midnight(last_day + timedelta(days=1), site.timezone)
    rows = settle_site_v2g(lake_store.root, site.site_id, site.zone, start, end, site.timezone)
    if rows.height:
        lake.merge_days(lake_store.root, "v2g_settlements", rows)
    by_basis = rows.group_by("basis").agg(pl.col("amount_eur").sum())
    return dg.MaterializeResult(
        metadata=frame_metadata(
            rows,
            amount_eur=", ".join(f"{b} {p:.2f}" for b, p in by_basis.iter_rows()) or "0",
            days=f"{last_day - timedelta(days=SETTLE_DAYS)}..{last_day}",
        )
    )
