"""Make a site's plan from the lake and store it there: ``setpoint_plans`` and ``plan_runs``.

``setpoint_plans`` is the only interface to the control service: for each slot the
setpoint in force is the row of the newest plan created no later than the slot's start
(:func:`plans_in_force`). Power is positive when the device draws from the site bus.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import polars as pl

from pipelines import lake
from pipelines.forecasting import metered_power_w
from pipelines.planning.plan import PlanResult, solve_scenario, to_setpoint_plans
from pipelines.planning.site_scenario import (
    DAY_AHEAD,
    PlanInputs,
    SiteScenario,
    SiteSpec,
    build_site_scenario,
    device_plan,
    horizon,
)
from pipelines.planning.v2g import settle_v2g

LOOKBACK = timedelta(days=8)
"""History read before the horizon: a week for fallbacks, plus a day [d]."""


@dataclass
class SitePlan:
    """A solved site plan: lake rows and what produced them."""

    site: SiteScenario
    result: PlanResult
    setpoints: pl.DataFrame
    run: pl.DataFrame


def plans_in_force(plans: pl.DataFrame) -> pl.DataFrame:
    """Per device and slot, the row of the newest plan created no later than the slot start.

    Parameters
    ----------
    plans : polars.DataFrame
        ``setpoint_plans`` rows.

    Returns
    -------
    polars.DataFrame
        The same columns, one row per (device_id, slot_start_utc).
    """
    return (
        plans.filter(pl.col("created_at_utc") <= pl.col("slot_start_utc"))
        .sort("created_at_utc", "plan_id")
        .unique(["device_id", "slot_start_utc"], keep="last", maintain_order=True)
        .sort("device_id", "slot_start_utc")
    )


def _days(start: datetime, end: datetime) -> tuple[date, date]:
    return start.date(), end.date() + timedelta(days=1)


def live_edge(lake_root: str, site_id: str, now: datetime) -> datetime | None:
    """End of the newest telemetry interval at or before ``now`` [UTC], or None."""
    last = (
        lake.scan(lake_root, "device_telemetry")
        .filter((pl.col("site_id") == site_id) & (pl.col("ts_utc") <= now))
        .select(pl.col("ts_utc").max())
        .collect()
        .item()
    )
    return None if last is None else last + timedelta(minutes=15)


def day_ahead_until(lake_root: str, site_id: str, as_of: datetime) -> datetime | None:
    """End of the newest day-ahead plan created by ``as_of`` [UTC], or None."""
    runs = lake.read_window(
        lake_root,
        "plan_runs",
        (as_of - timedelta(days=2)).date(),
        as_of.date() + timedelta(1),
        [site_id],
    ).filter((pl.col("kind") == DAY_AHEAD) & (pl.col("created_at_utc") <= as_of))
    return runs.sort("created_at_utc")["valid_until_utc"][-1] if runs.height else None


def read_plan_inputs(
    lake_root: str,
    spec: SiteSpec,
    zone: str,
    as_of: datetime,
    start: datetime,
    end: datetime,
    jobs: pl.DataFrame,
) -> PlanInputs:
    """Every lake row a plan for ``start..end`` made at ``as_of`` may use."""
    site = [spec.site_id]
    d0, d1 = _days(start - LOOKBACK, end)
    readings = lake.read_window(lake_root, "meter_readings", d0, d1, site).filter(
        pl.col("ts_utc") < as_of
    )
    registry = lake.read_partition(lake_root, "meter_registry", spec.site_id)
    telemetry = lake.read_window(lake_root, "device_telemetry", d0, d1, site).filter(
        pl.col("ts_utc") < as_of
    )
    ci_history = lake.read_window(lake_root, "grid_carbon_intensity_hourly", d0, d1, [zone])
    return PlanInputs(
        load_forecast=lake.read_window(lake_root, "load_forecast", d0, d1, site),
        pv_forecast=lake.read_window(lake_root, "pv_forecast", d0, d1, site),
        load_history=metered_power_w(readings, registry, "load"),
        pv_history=metered_power_w(readings, registry, "pv"),
        prices=lake.read_window(lake_root, "day_ahead_prices", d0, d1, [zone]),
        ci_forecast=lake.read_window(lake_root, "grid_carbon_intensity_forecast", d0, d1, [zone]),
        ci_history=ci_history.filter(
            (pl.col("basis") == "production") & (pl.col("hour_utc") < as_of)
        ),
        telemetry=telemetry,
        vehicles=lake.read_partition(lake_root, "fleet_vehicles", spec.site_id),
        trips=lake.read_partition(lake_root, "fleet_trips", spec.site_id),
        jobs=jobs,
        plan_in_force=plans_in_force(
            lake.read_window(lake_root, "setpoint_plans", d0, d1, site).filter(
                pl.col("created_at_utc") <= as_of
            )
        ).filter(pl.col("slot_start_utc") < start),
    )


def make_plan(
    spec: SiteSpec,
    inputs: PlanInputs,
    kind: str,
    as_of: datetime,
    start: datetime,
    slots: int,
) -> SitePlan:
    """Solve a site's plan and shape its ``setpoint_plans`` and ``plan_runs`` rows.

    Raises
    ------
    PlanInputError
        An input is missing (see :func:`build_site_scenario`).
    """
    site = build_site_scenario(spec, inputs, as_of, start, slots)
    result = solve_scenario(site.scenario)
    plan_id = f"{kind}-{spec.site_id}-{as_of:%Y%m%dT%H%MZ}"
    setpoints = to_setpoint_plans(
        device_plan(site, result.frame), plan_id, kind, as_of, spec.slot_minutes
    ).with_columns(pl.lit(spec.site_id).alias("site_id"))
    s = result.summary
    # timings stay out of the lake: the same plan must give the same bytes
    summary = {
        **{k: v for k, v in s.items() if k != "timing_s"},
        "input_fallbacks": site.fallbacks,
        "notes": site.notes,
    }
    run = pl.DataFrame(
        {
            "site_id": [spec.site_id],
            "plan_id": [plan_id],
            "kind": [kind],
            "created_at_utc": [as_of],
            "valid_from_utc": [setpoints["valid_from_utc"][0]],
            "valid_until_utc": [setpoints["valid_until_utc"][0]],
            "status": [s["status"]],
            "feasible": [s["feasible"]],
            "cost_eur": [s["objective"]["total_eur"]],
            "baseline_cost_eur": [s["baseline"]["total_eur"]],
            "avoided_cost_eur": [s["avoided"]["cost_eur"]],
            "avoided_co2_kg": [s["avoided"]["co2_kg"]],
            "ev_shortfall_kwh": [float(sum(s["shortfalls_kwh"].values()))],
            "explanations": [json.dumps(s["explanations"])],
            "input_fallbacks": [json.dumps(site.fallbacks)],
            "summary_json": [json.dumps(summary)],
        }
    )
    return SitePlan(site, result, setpoints, run)


def plan_site(
    lake_root: str,
    spec: SiteSpec,
    zone: str,
    kind: str,
    as_of: datetime,
    jobs: pl.DataFrame,
) -> SitePlan:
    """Make the ``kind`` plan of a site as of ``as_of`` from the lake, and store it.

    Re-running with the same ``as_of`` replaces the plan (its id is kind, site and time).
    """
    until = day_ahead_until(lake_root, spec.site_id, as_of) if kind != DAY_AHEAD else None
    start, slots = horizon(kind, as_of, spec.timezone, spec.slot_minutes, until)
    end = start + timedelta(minutes=spec.slot_minutes * slots)
    inputs = read_plan_inputs(lake_root, spec, zone, as_of, start, end, jobs)
    plan = make_plan(spec, inputs, kind, as_of, start, slots)
    lake.merge_days(lake_root, "setpoint_plans", plan.setpoints)
    lake.merge_days(lake_root, "plan_runs", plan.run)
    return plan


def settle_site_v2g(
    lake_root: str, site_id: str, zone: str, start_utc: datetime, end_utc: datetime, timezone: str
) -> pl.DataFrame:
    """Planned and metered V2G settlements of ``start_utc <= slot < end_utc``.

    Give local-midnight bounds so every settled local day is complete.
    """
    site = [site_id]
    d0, d1 = _days(start_utc, end_utc)
    inside = pl.col("ts_utc").is_between(start_utc, end_utc, "left")
    vehicles = lake.read_partition(lake_root, "fleet_vehicles", site_id)
    prices = lake.read_window(lake_root, "day_ahead_prices", d0, d1, [zone])
    planned = plans_in_force(lake.read_window(lake_root, "setpoint_plans", d0, d1, site)).select(
        "device_id", pl.col("slot_start_utc").alias("ts_utc"), "power_w"
    )
    metered = (
        lake.read_window(lake_root, "device_telemetry", d0, d1, site)
        .filter(pl.col("metric") == "power_w")
        .select("device_id", "ts_utc", pl.col("value").alias("power_w"))
    )
    quarter = timedelta(minutes=15)
    return pl.concat(
        [
            settle_v2g(frame.filter(inside), quarter, vehicles, prices, timezone, basis)
            for basis, frame in (("planned", planned), ("metered", metered))
        ]
    )
