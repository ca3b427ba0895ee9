"""Solve a planning scenario into a setpoint plan frame and an explained summary.

The plan frame has one row per controllable device and slot: the battery, each EV, each job
and ``pv-curtailment`` (when the site has PV). ``power_kw`` is positive when the device draws
from the site bus (charging, running); for ``pv-curtailment`` it is the PV not produced.
There is no row for the grid.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from pipelines.planning.baseline import baseline_plan, cost_terms
from pipelines.planning.model import CURTAILMENT_EUR_PER_KWH, Solution, solve_model
from pipelines.planning.scenario import PV_CURTAILMENT_ID, Scenario, parse_scenario

TOLERANCE_KWH = 0.01
"""Slack amounts below this are solver noise, not shortfalls [kWh]."""

PLAN_SCHEMA = {
    "device_id": pl.String,
    "slot": pl.Int64,
    "slot_start_utc": pl.Datetime("us", "UTC"),
    "power_kw": pl.Float64,
}


@dataclass
class PlanResult:
    """A solved plan.

    Attributes
    ----------
    frame : polars.DataFrame
        Columns ``device_id``, ``slot``, ``slot_start_utc`` [UTC] and ``power_kw`` [kW].
    summary : dict
        Objective terms, baseline comparison, shortfalls, slacks used, explanations and
        timing; JSON-serialisable.
    solution : Solution
        The raw solution (grid exchange, SoC trajectories) for checks and reports.
    """

    frame: pl.DataFrame
    summary: dict[str, Any]
    solution: Solution


def _when(sc: Scenario, slot: int) -> str:
    ts = sc.slot_start(slot)
    if ts - sc.start_utc < timedelta(hours=24):
        return ts.strftime("%H:%M UTC")
    return ts.strftime("%Y-%m-%d %H:%M UTC")


def _kwh(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 10 else f"{x:.1f}"


def _explain_ev(sc: Scenario, ev, sol: Solution) -> str:
    short = sol.ev_shortfall_kwh[ev.id]
    need = ev.energy_needed_kwh
    hours = (ev.departure_slot - ev.arrival_slot) * sc.dt_h
    by_power = ev.max_charge_kw * hours
    room = ev.capacity_kwh - ev.soc_kwh
    head = f"{ev.id} needs {_kwh(need)} kWh by {_when(sc, ev.departure_slot)}"
    got = sol.ev_need_kwh[ev.id] - short
    deliverable = min(by_power, room)
    if deliverable < need - TOLERANCE_KWH:
        if by_power <= room:
            why = f"{ev.max_charge_kw:g} kW × {hours:g} h plugged in"
        else:
            why = f"capacity {ev.capacity_kwh:g} kWh, arrives with {ev.soc_kwh:g} kWh"
        head = f"{head}, at most {_kwh(deliverable)} kWh is deliverable ({why})"
        after_horizon = need - sol.ev_need_kwh[ev.id]  # still deliverable after the horizon
        if got + after_horizon >= deliverable - TOLERANCE_KWH:
            return head
    lo, hi = ev.arrival_slot, min(ev.departure_slot, sc.slots)
    at_limit = int(np.sum(sol.import_kw[lo:hi] >= sc.grid.max_import_kw - 1e-6))
    limit = (
        f"grid import at its {sc.grid.max_import_kw:g} kW limit in {at_limit} of its "
        f"{hi - lo} plugged slots"
        if at_limit
        else "site capacity is short while it is plugged in"
    )
    return (
        f"{head}; it gets {_kwh(got)} kWh inside the horizon: {limit}; "
        "vehicles departing earlier are served first"
    )


def _explain_job(sc: Scenario, job, unrun: float) -> str:
    end = min(job.deadline_slot, sc.slots)
    head = (
        f"{job.id} ({job.power_kw:g} kW for {job.duration_slots} slots) "
        f"has {unrun:g} slots left unscheduled"
    )
    if end - job.earliest_slot < job.duration_slots:
        return f"{head}: its window {job.earliest_slot}..{job.deadline_slot} ends after the horizon"
    return f"{head}: the grid import limit of {sc.grid.max_import_kw:g} kW leaves no room for it"


def _explain_battery(sc: Scenario, sol: Solution) -> str:
    bat = sc.battery
    final = float(sol.battery_soc_kwh[-1])
    return (
        f"{bat.id} ends at {final:.1f} kWh, {sol.battery_terminal_short_kwh:.1f} kWh below its "
        f"final_soc_kwh target {bat.final_soc_kwh:g} kWh (charge limit {bat.max_charge_kw:g} kW "
        "and site capacity over the horizon)"
    )


def _frame(sc: Scenario, sol: Solution) -> pl.DataFrame:
    series: list[tuple[str, np.ndarray]] = []
    if sc.battery is not None:
        series.append((sc.battery.id, sol.battery_kw))
    series += [(ev.id, sol.ev_kw[ev.id]) for ev in sc.evs]
    series += [(job.id, sol.job_kw[job.id]) for job in sc.jobs]
    if sc.has_pv:
        series.append((PV_CURTAILMENT_ID, sol.curtail_kw))
    T = sc.slots
    power = np.concatenate([p for _, p in series]) if series else np.zeros(0)
    power = np.round(power, 6) + 0.0  # drop solver noise and negative zeros
    slot = np.tile(np.arange(T), len(series))
    start_us = int(sc.start_utc.timestamp() * 1_000_000)
    step_us = sc.slot_minutes * 60_000_000
    return pl.DataFrame(
        {
            "device_id": pl.Series([d for d, _ in series]).gather(
                np.repeat(np.arange(len(series)), T)
            ),
            "slot": slot,
            "slot_start_utc": pl.Series(start_us + slot * step_us).cast(pl.Datetime("us", "UTC")),
            "power_kw": power,
        },
        schema=PLAN_SCHEMA,
    )


def _round(d: dict[str, float], nd: int = 3) -> dict[str, float]:
    return {k: round(v, nd) for k, v in d.items()}


def solve_scenario(scenario: Scenario | dict, time_limit_s: float = 60.0) -> PlanResult:
    """Plan a scenario: solve the model, compare with the baseline, explain any shortfall.

    Parameters
    ----------
    scenario : Scenario or dict
        A validated scenario, or the decoded scenario JSON (validated here).
    time_limit_s : float
        HiGHS time limit [s].

    Returns
    -------
    PlanResult
        The plan frame and its summary. Never raises for a valid scenario that cannot be
        met: the summary lists the slacks used and explains each.

    Raises
    ------
    ScenarioError
        ``scenario`` is a dict with bad fields.
    """
    t0 = time.perf_counter()
    sc = scenario if isinstance(scenario, Scenario) else parse_scenario(scenario)
    sol = solve_model(sc, time_limit_s=time_limit_s)
    dt = sc.dt_h
    throughput = float(np.abs(sol.battery_kw).sum() * dt) if sol.battery_kw is not None else 0.0
    v2g_kwh = sum(float(-np.minimum(p, 0).sum()) for p in sol.ev_kw.values()) * dt
    terms = cost_terms(sc, sol.import_kw, sol.export_kw, throughput, v2g_kwh)
    base = baseline_plan(sc)

    slacks: list[dict[str, Any]] = []
    explanations: list[str] = []
    shortfalls: dict[str, float] = {}
    ev_report: dict[str, dict[str, Any]] = {}
    order = sorted(sc.evs, key=lambda e: (e.departure_slot, e.id))
    for ev in order:
        short = sol.ev_shortfall_kwh[ev.id]
        p = sol.ev_kw[ev.id]
        ev_report[ev.id] = {
            "departure_utc": sc.slot_start(ev.departure_slot).isoformat().replace("+00:00", "Z"),
            "energy_needed_kwh": ev.energy_needed_kwh,
            "needed_in_horizon_kwh": round(sol.ev_need_kwh[ev.id], 3),
            "net_gain_kwh": round(float(p.sum() * dt), 3),
            "discharged_kwh": round(float(-np.minimum(p, 0).sum() * dt), 3),
            "shortfall_kwh": round(short, 3) if short > TOLERANCE_KWH else 0.0,
        }
        if short > TOLERANCE_KWH:
            shortfalls[ev.id] = round(short, 3)
            slacks.append({"slack": "ev_shortfall", "device_id": ev.id, "kwh": round(short, 3)})
            explanations.append(_explain_ev(sc, ev, sol))
    jobs_unscheduled = {}
    for job in sc.jobs:
        unrun = sol.job_unscheduled_slots[job.id]
        if unrun > 1e-6:
            jobs_unscheduled[job.id] = round(unrun, 3)
            slacks.append({"slack": "job_unscheduled", "device_id": job.id, "slots": unrun})
            explanations.append(_explain_job(sc, job, unrun))
    if sc.battery is not None and sol.battery_terminal_short_kwh > TOLERANCE_KWH:
        slacks.append(
            {
                "slack": "battery_terminal_soc",
                "device_id": sc.battery.id,
                "kwh": round(sol.battery_terminal_short_kwh, 3),
            }
        )
        explanations.append(_explain_battery(sc, sol))
    unserved_kwh = float(sol.unserved_kw.sum() * dt)
    if unserved_kwh > TOLERANCE_KWH:
        n = int(np.sum(sol.unserved_kw > 1e-6))
        slacks.append({"slack": "unserved_base_load", "kwh": round(unserved_kwh, 3)})
        explanations.append(
            f"base load exceeds what the grid import limit ({sc.grid.max_import_kw:g} kW), PV "
            f"and storage can supply in {n} slots: {unserved_kwh:.1f} kWh unserved, up to "
            f"{sol.unserved_kw.max():.1f} kW"
        )
    v2g = {
        eid: {
            "discharged_kwh": r["discharged_kwh"],
            "payment_eur": round(
                float(-np.minimum(sol.ev_kw[eid], 0) * dt @ sc.grid.import_price_eur_per_mwh)
                / 1000,
                4,
            ),
        }
        for eid, r in ev_report.items()
        if r["discharged_kwh"] > 0
    }
    tie_break = float(sol.curtail_kw.sum()) * dt * CURTAILMENT_EUR_PER_KWH
    penalty = sol.objective_eur - terms["total_eur"] - tie_break
    summary = {
        "status": sol.status,
        "feasible": not slacks,
        "start_utc": sc.start_utc.isoformat().replace("+00:00", "Z"),
        "slot_minutes": sc.slot_minutes,
        "slots": sc.slots,
        "objective": _round(
            {**terms, "objective_eur": sol.objective_eur, "penalty_eur": max(penalty, 0.0)}
        ),
        "baseline": {
            **_round(base.terms),
            "import_limit_exceeded_kw": round(base.import_limit_exceeded_kw, 3),
            "ev_delivered_kwh": _round(base.ev_delivered_kwh),
        },
        "avoided": {
            "cost_eur": round(base.terms["total_eur"] - terms["total_eur"], 3),
            "co2_kg": round(base.terms["co2_kg"] - terms["co2_kg"], 3),
        },
        "pv_curtailed_kwh": round(float(sol.curtail_kw.sum() * dt), 3),
        "evs": ev_report,
        "shortfalls_kwh": shortfalls,
        "jobs_unscheduled_slots": jobs_unscheduled,
        "slacks_used": slacks,
        "explanations": explanations,
        "v2g": v2g,
        "timing_s": {
            "build": round(sol.build_s, 4),
            "solve": round(sol.solve_s, 4),
            "total": round(time.perf_counter() - t0, 4),
        },
    }
    return PlanResult(frame=_frame(sc, sol), summary=summary, solution=sol)


def to_setpoint_plans(
    result: PlanResult | pl.DataFrame,
    plan_id: str,
    kind: str,
    created_at_utc: datetime,
    slot_minutes: int,
) -> pl.DataFrame:
    """Shape a plan as rows of the ``setpoint_plans`` lake table.

    Parameters
    ----------
    result : PlanResult or polars.DataFrame
        The solved plan, or a plan frame (device_id, slot_start_utc, power_kw [kW]).
    plan_id : str
        Identifier of the plan.
    kind : str
        ``"day_ahead"`` or ``"intraday"``.
    created_at_utc : datetime
        When the plan was made [UTC].
    slot_minutes : int
        Slot length [min], for ``valid_until_utc``.

    Returns
    -------
    polars.DataFrame
        Columns plan_id, kind, created_at_utc, valid_from_utc, valid_until_utc, device_id,
        slot_start_utc and power_w [W].
    """
    f = result.frame if isinstance(result, PlanResult) else result
    starts = f["slot_start_utc"]
    valid_from = starts.min()
    valid_until = starts.max() + timedelta(minutes=slot_minutes) if f.height else None
    return f.select(
        pl.lit(plan_id).alias("plan_id"),
        pl.lit(kind).alias("kind"),
        pl.lit(created_at_utc).cast(pl.Datetime("us", "UTC")).alias("created_at_utc"),
        pl.lit(valid_from).cast(pl.Datetime("us", "UTC")).alias("valid_from_utc"),
        pl.lit(valid_until).cast(pl.Datetime("us", "UTC")).alias("valid_until_utc"),
        "device_id",
        "slot_start_utc",
        (pl.col("power_kw") * 1000).alias("power_w"),
    )
