"""The site planning LP/MILP at slot resolution, built and solved with HiGHS through highspy.

Why highspy directly, rather than linopy or pyomo on top of HiGHS: it adds no modelling
dependency (highspy is already installed), and the model is a handful of regular blocks
(one per device, one row per slot), so it is built straight from numpy arrays as a sparse
column-wise matrix in a few milliseconds even for 1,000 vehicles. A modelling layer would
spend more time building expression objects than HiGHS spends solving.

Variables per slot ``t`` (length ``dt`` [h]); every power is in [kW], every energy in [kWh]:

- grid import ``imp[t]`` in [0, max_import_kw] and export ``exp[t]`` in [0, max_export_kw];
- PV curtailment ``curt[t]`` in [0, pv_kw[t]] (the PV not produced);
- battery charge ``bch[t]``, discharge ``bdis[t]``, state of charge ``bsoc[t]`` at the end of
  slot ``t``; the round-trip efficiency is split as ``sqrt(eff)`` on charge and discharge;
- per EV, in its plugged slots only: charge, discharge (V2G vehicles), state of charge;
- per non-interruptible job a binary start ``y[s]``; per interruptible job a run fraction
  ``r[t]`` in [0, 1];
- ``peak`` >= ``imp[t]`` for the peak-demand charge.

Bus balance per slot (positive = draws from the site bus)::

    imp - exp = base_load - (pv - curt) + bch - bdis + sum(ev_ch - ev_dis) + sum(job power)
                - unserved

Objective [EUR]: import cost - export revenue + CO2 cost of imports + peak charge + battery
degradation (per kWh throughput) + slack penalties.

Slacks make the model feasible for every valid scenario, so the planner explains rather than
fails: EV shortfall (penalty decreasing with departure order, so the vehicle leaving first is
served first), unscheduled job, battery terminal-SoC shortfall, and unserved base load when the
import limit cannot cover it. Penalties exceed any energy value in the scenario, so a slack is
used only when nothing physical can avoid it; in particular V2G discharge never buys a
shortfall.

Modelling choices to know:

- EV charging is lossless (energy drawn = energy stored); a vehicle arriving below its
  ``min_soc_kwh`` may not discharge below its arrival SoC (the bound is the smaller of both),
  likewise for the battery outside its SoC bounds.
- A vehicle departing after the horizon must gain inside the horizon only what it could not
  still gain after it at full power; a job must run entirely inside the horizon.
- Import and export are not made mutually exclusive; with export price <= import price (+ CO2)
  doing both at once is never optimal.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field

import highspy
import numpy as np

from pipelines.planning.scenario import Scenario

DEGRADATION_EUR_PER_KWH = 0.01
"""Battery degradation cost per kWh charged or discharged [EUR/kWh]."""
CURTAILMENT_EUR_PER_KWH = 1e-3
"""Tie-breaker cost per kWh curtailed, so PV is curtailed only when it pays [EUR/kWh]."""
MIP_REL_GAP = 1e-4
"""Relative MIP gap at which HiGHS stops [-]."""


class _Builder:
    """Accumulates columns, rows and coefficient triplets as numpy blocks."""

    def __init__(self) -> None:
        self.n = 0
        self.m = 0
        self._lb: list[np.ndarray] = []
        self._ub: list[np.ndarray] = []
        self._cost: list[np.ndarray] = []
        self._int: list[np.ndarray] = []
        self._rlo: list[np.ndarray] = []
        self._rhi: list[np.ndarray] = []
        self._ri: list[np.ndarray] = []
        self._ci: list[np.ndarray] = []
        self._v: list[np.ndarray] = []

    def cols(self, k: int, lb, ub, cost=0.0, integer: bool = False) -> np.ndarray:
        idx = np.arange(self.n, self.n + k)
        self.n += k
        self._lb.append(np.broadcast_to(np.asarray(lb, float), (k,)))
        self._ub.append(np.broadcast_to(np.asarray(ub, float), (k,)))
        self._cost.append(np.broadcast_to(np.asarray(cost, float), (k,)))
        self._int.append(np.full(k, integer))
        return idx

    def rows(self, k: int, lo, hi) -> np.ndarray:
        idx = np.arange(self.m, self.m + k)
        self.m += k
        self._rlo.append(np.broadcast_to(np.asarray(lo, float), (k,)))
        self._rhi.append(np.broadcast_to(np.asarray(hi, float), (k,)))
        return idx

    def coef(self, rows, cols, vals) -> None:
        rows, cols = np.broadcast_arrays(np.asarray(rows), np.asarray(cols))
        self._ri.append(rows.ravel())
        self._ci.append(cols.ravel())
        self._v.append(np.broadcast_to(np.asarray(vals, float), rows.shape).ravel())

    def lp(self) -> highspy.HighsLp:
        inf = highspy.kHighsInf
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = self.n, self.m
        lp.col_cost_ = np.concatenate(self._cost)
        lp.col_lower_ = np.clip(np.concatenate(self._lb), -inf, inf)
        lp.col_upper_ = np.clip(np.concatenate(self._ub), -inf, inf)
        lp.row_lower_ = np.clip(np.concatenate(self._rlo), -inf, inf)
        lp.row_upper_ = np.clip(np.concatenate(self._rhi), -inf, inf)
        ri, ci, v = (np.concatenate(a) for a in (self._ri, self._ci, self._v))
        order = np.lexsort((ri, ci))
        ri, ci, v = ri[order], ci[order], v[order]
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = self.n, self.m
        lp.a_matrix_.start_ = np.searchsorted(ci, np.arange(self.n + 1)).astype(np.int32)
        lp.a_matrix_.index_ = ri.astype(np.int32)
        lp.a_matrix_.value_ = v
        integer = np.concatenate(self._int)
        if integer.any():
            lp.integrality_ = [
                highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                for i in integer
            ]
        return lp


_BANNER_SHOWN = False


def _new_highs() -> highspy.Highs:
    """A HiGHS instance; the first one of the process prints a banner to fd 1, muted here."""
    global _BANNER_SHOWN
    if _BANNER_SHOWN:
        return highspy.Highs()
    _BANNER_SHOWN = True
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            return highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


@dataclass
class Solution:
    """The solved plan in physical units; arrays have one entry per slot.

    Attributes
    ----------
    status : str
        HiGHS model status, e.g. ``"Optimal"``.
    objective_eur : float
        Objective value including slack penalties [EUR].
    build_s, solve_s : float
        Model build and bare HiGHS solve time [s].
    import_kw, export_kw, unserved_kw, curtail_kw : numpy.ndarray
        Grid import, export, unserved base load and PV curtailment [kW].
    battery_kw, battery_soc_kwh : numpy.ndarray or None
        Battery net power (positive = charging) [kW] and SoC at the end of each slot [kWh].
    battery_terminal_short_kwh : float
        How far the final SoC falls below ``final_soc_kwh`` [kWh].
    ev_kw, ev_soc_kwh : dict of str to numpy.ndarray
        Net power per vehicle (0 when not plugged in) [kW]; SoC at the end of each slot, NaN
        when not plugged in [kWh].
    ev_need_kwh, ev_shortfall_kwh : dict of str to float
        Net energy each vehicle must gain inside the horizon, and the part not delivered [kWh].
    job_kw : dict of str to numpy.ndarray
        Power per job [kW].
    job_unscheduled_slots : dict of str to float
        Slots of each job's duration not run inside the horizon [slots].
    """

    status: str
    objective_eur: float
    build_s: float
    solve_s: float
    import_kw: np.ndarray
    export_kw: np.ndarray
    unserved_kw: np.ndarray
    curtail_kw: np.ndarray
    battery_kw: np.ndarray | None = None
    battery_soc_kwh: np.ndarray | None = None
    battery_terminal_short_kwh: float = 0.0
    ev_kw: dict[str, np.ndarray] = field(default_factory=dict)
    ev_soc_kwh: dict[str, np.ndarray] = field(default_factory=dict)
    ev_need_kwh: dict[str, float] = field(default_factory=dict)
    ev_shortfall_kwh: dict[str, float] = field(default_factory=dict)
    job_kw: dict[str, np.ndarray] = field(default_factory=dict)
    job_unscheduled_slots: dict[str, float] = field(default_factory=dict)


def ev_need_in_horizon(sc: Scenario, ev) -> float:
    """Net energy a vehicle must gain inside the horizon [kWh].

    A vehicle departing after the horizon only has to gain what it could not still gain at
    full power between the horizon's end and its departure.
    """
    after = max(0, ev.departure_slot - max(sc.slots, ev.arrival_slot)) * sc.dt_h
    return max(0.0, ev.energy_needed_kwh - ev.max_charge_kw * after)


def penalty_scale(sc: Scenario) -> float:
    """Upper bound of the value of one kWh anywhere in the scenario [EUR/kWh].

    Slack penalties are multiples of this, so they dominate every energy, CO2, peak and
    degradation term.
    """
    g = sc.grid
    return (
        float(np.abs(g.import_price_eur_per_mwh).max()) / 1000
        + float(np.abs(g.export_price_eur_per_mwh).max()) / 1000
        + float(g.ci_g_per_kwh.max()) * g.co2_price_eur_per_t / 1e6
        + g.peak_charge_eur_per_kw / sc.dt_h
        + 2 * DEGRADATION_EUR_PER_KWH
        + 1.0
    )


def ev_penalties(sc: Scenario) -> dict[str, float]:
    """Shortfall penalty per vehicle [EUR/kWh], decreasing with departure slot.

    Consecutive departure slots differ by more than any difference in energy value, so
    capacity goes to the vehicle leaving first.
    """
    step = 4 * penalty_scale(sc)
    deps = sorted({e.departure_slot for e in sc.evs})
    rank = {d: i for i, d in enumerate(deps)}
    return {e.id: step * (len(deps) - rank[e.departure_slot] + 1) for e in sc.evs}


def solve_model(sc: Scenario, time_limit_s: float = 60.0) -> Solution:
    """Build and solve the planning model of a scenario.

    Parameters
    ----------
    sc : Scenario
        The validated scenario.
    time_limit_s : float
        HiGHS time limit [s]; the best solution found so far is returned when it is hit.

    Returns
    -------
    Solution
        The plan in physical units, with slack usage.

    Raises
    ------
    RuntimeError
        HiGHS found no primal solution (cannot happen for a valid scenario: slacks keep the
        model feasible), e.g. the time limit was hit before a first MIP solution.
    """
    t0 = time.perf_counter()
    T, dt, g = sc.slots, sc.dt_h, sc.grid
    b = _Builder()
    scale = penalty_scale(sc)
    ev_pen = ev_penalties(sc)
    top_pen = max(ev_pen.values(), default=4 * scale)

    # grid, unserved load, curtailment, bus balance
    imp_cost = dt * (
        g.import_price_eur_per_mwh / 1000 + g.ci_g_per_kwh * g.co2_price_eur_per_t / 1e6
    )
    imp = b.cols(T, 0.0, g.max_import_kw, imp_cost)
    exp = b.cols(T, 0.0, g.max_export_kw, -dt * g.export_price_eur_per_mwh / 1000)
    uns = b.cols(T, 0.0, sc.base_load_kw, dt * 10 * top_pen)
    bal = b.rows(T, sc.base_load_kw - sc.pv_kw, sc.base_load_kw - sc.pv_kw)
    b.coef(bal, imp, 1.0)
    b.coef(bal, exp, -1.0)
    b.coef(bal, uns, 1.0)
    curt = None
    if sc.has_pv:
        curt = b.cols(T, 0.0, sc.pv_kw, dt * CURTAILMENT_EUR_PER_KWH)
        b.coef(bal, curt, -1.0)
    peak = None
    if g.peak_charge_eur_per_kw > 0:
        peak = b.cols(1, 0.0, math.inf, g.peak_charge_eur_per_kw)
        prow = b.rows(T, -math.inf, 0.0)
        b.coef(prow, imp, 1.0)
        b.coef(prow, peak[0], -1.0)

    # battery
    bat = sc.battery
    if bat is not None:
        eta = math.sqrt(bat.efficiency)
        bch = b.cols(T, 0.0, bat.max_charge_kw, dt * DEGRADATION_EUR_PER_KWH)
        bdis = b.cols(T, 0.0, bat.max_discharge_kw, dt * DEGRADATION_EUR_PER_KWH)
        bsoc = b.cols(T, min(bat.min_soc_kwh, bat.soc_kwh), max(bat.max_soc_kwh, bat.soc_kwh))
        b.coef(bal, bch, -1.0)
        b.coef(bal, bdis, 1.0)
        rhs = np.zeros(T)
        rhs[0] = bat.soc_kwh
        srow = b.rows(T, rhs, rhs)
        b.coef(srow, bsoc, 1.0)
        b.coef(srow[1:], bsoc[:-1], -1.0)
        b.coef(srow, bch, -eta * dt)
        b.coef(srow, bdis, dt / eta)
        bshort = b.cols(1, 0.0, bat.final_soc_kwh, 4 * scale)
        trow = b.rows(1, bat.final_soc_kwh, math.inf)
        b.coef(trow, [bsoc[-1], bshort[0]], [1.0, 1.0])

    # EVs
    ev_vars = {}
    for ev in sc.evs:
        need = ev_need_in_horizon(sc, ev)
        lo_slot, hi_slot = ev.arrival_slot, min(ev.departure_slot, T)
        L = max(0, hi_slot - lo_slot)
        short = b.cols(1, 0.0, need, ev_pen[ev.id])
        if L == 0:
            ev_vars[ev.id] = (need, short, None, None, None, lo_slot, 0)
            continue
        rows_t = bal[lo_slot:hi_slot]
        ch = b.cols(L, 0.0, ev.max_charge_kw)
        b.coef(rows_t, ch, -1.0)
        soc = b.cols(L, min(ev.min_soc_kwh, ev.soc_kwh), ev.capacity_kwh)
        rhs = np.zeros(L)
        rhs[0] = ev.soc_kwh
        srow = b.rows(L, rhs, rhs)
        b.coef(srow, soc, 1.0)
        b.coef(srow[1:], soc[:-1], -1.0)
        b.coef(srow, ch, -dt)
        dis = None
        if ev.v2g and ev.max_discharge_kw > 0:
            dis = b.cols(L, 0.0, ev.max_discharge_kw)
            b.coef(rows_t, dis, 1.0)
            b.coef(srow, dis, dt)
        nrow = b.rows(1, ev.soc_kwh + need, math.inf)
        b.coef(nrow, [soc[-1], short[0]], [1.0, 1.0])
        ev_vars[ev.id] = (need, short, ch, dis, soc, lo_slot, L)

    # jobs
    job_vars = {}
    for job in sc.jobs:
        end = min(job.deadline_slot, T)
        unrun_cost = 4 * scale * job.power_kw * dt  # per slot of duration not run
        if job.interruptible:
            W = max(0, end - job.earliest_slot)
            un = b.cols(1, 0.0, job.duration_slots, unrun_cost)
            row = b.rows(1, job.duration_slots, job.duration_slots)
            b.coef(row, un[0], 1.0)
            run = None
            if W > 0:
                run = b.cols(W, 0.0, 1.0)
                b.coef(bal[job.earliest_slot : end], run, -job.power_kw)
                b.coef(row, run, 1.0)
            job_vars[job.id] = ("r", un, run, job.earliest_slot)
        else:
            S = max(0, end - job.duration_slots - job.earliest_slot + 1)
            un = b.cols(1, 0.0, 1.0, unrun_cost * job.duration_slots)
            row = b.rows(1, 1.0, 1.0)
            b.coef(row, un[0], 1.0)
            y = None
            if S > 0:
                y = b.cols(S, 0.0, 1.0, integer=True)
                b.coef(row, y, 1.0)
                starts = job.earliest_slot + np.arange(S)
                offs = np.arange(job.duration_slots)
                b.coef(
                    bal[(starts[:, None] + offs[None, :]).ravel()],
                    np.repeat(y, job.duration_slots),
                    -job.power_kw,
                )
            job_vars[job.id] = ("y", un, y, job.earliest_slot)

    lp = b.lp()
    build_s = time.perf_counter() - t0

    h = _new_highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", MIP_REL_GAP)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.passModel(lp)
    t1 = time.perf_counter()
    h.run()
    solve_s = time.perf_counter() - t1
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    if info.primal_solution_status != 2:  # kSolutionStatusFeasible
        raise RuntimeError(f"HiGHS returned no feasible plan (model status: {status})")
    x = np.asarray(h.getSolution().col_value)

    sol = Solution(
        status=status,
        objective_eur=float(info.objective_function_value),
        build_s=build_s,
        solve_s=solve_s,
        import_kw=x[imp],
        export_kw=x[exp],
        unserved_kw=x[uns],
        curtail_kw=x[curt] if curt is not None else np.zeros(T),
    )
    if bat is not None:
        sol.battery_kw = x[bch] - x[bdis]
        sol.battery_soc_kwh = x[bsoc]
        sol.battery_terminal_short_kwh = float(x[bshort[0]])
    for ev_id, (need, short, ch, dis, soc, lo_slot, L) in ev_vars.items():
        p = np.zeros(T)
        s = np.full(T, np.nan)
        if L:
            p[lo_slot : lo_slot + L] = x[ch] - (x[dis] if dis is not None else 0.0)
            s[lo_slot : lo_slot + L] = x[soc]
        sol.ev_kw[ev_id] = p
        sol.ev_soc_kwh[ev_id] = s
        sol.ev_need_kwh[ev_id] = need
        sol.ev_shortfall_kwh[ev_id] = float(x[short[0]])
    jobs = {j.id: j for j in sc.jobs}
    for job_id, (kind, un, v, first) in job_vars.items():
        job = jobs[job_id]
        p = np.zeros(T)
        if v is not None and kind == "r":
            p[first : first + len(v)] = job.power_kw * np.clip(x[v], 0.0, 1.0)
        elif v is not None:
            for s_off in np.flatnonzero(np.round(x[v]) > 0.5):
                start = first + int(s_off)
                p[start : start + job.duration_slots] = job.power_kw
        sol.job_kw[job_id] = p
        unrun = float(x[un[0]])
        sol.job_unscheduled_slots[job_id] = (
            unrun if kind == "r" else round(unrun) * job.duration_slots
        )
    return sol
