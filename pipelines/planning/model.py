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
- per EV, in its plugged slots only: charge, and for V2G vehicles discharge and state of
  charge. A charge-only vehicle's SoC never falls, so its SoC bounds are one row on its total
  charge and it needs no SoC columns (at 1,000 vehicles: 12k rows and 56k columns instead
  of 34k and 78k);
- per non-interruptible job a binary start ``y[s]``; per interruptible job a run fraction
  ``r[t]`` in [0, 1];
- ``peak`` >= ``imp[t]`` for the peak-demand charge.

Bus balance per slot (positive = draws from the site bus)::

    imp - exp = base_load - (pv - curt) + bch - bdis + sum(ev_ch - ev_dis) + sum(job power)
                - unserved

Objective [EUR]: import cost - export revenue + CO2 cost of imports + peak charge + battery
degradation (per kWh of battery throughput and of V2G discharge) + slack penalties.

Slacks make the model feasible for every valid scenario, so the planner explains rather than
fails: EV shortfall (penalty decreasing with departure order, so the vehicle leaving first is
served first), unscheduled job, battery terminal-SoC shortfall, and unserved base load when the
import limit cannot cover it. Penalties exceed any energy value in the scenario, so a slack is
used only when nothing physical can avoid it; in particular V2G discharge never buys a
shortfall for money. It could buy one for another vehicle (a later-leaving V2G vehicle feeding
an earlier-leaving one, whose shortfall costs more), which the V2G rule of the solve forbids.

How it is solved, and why (measured on the 50- and 1,000-EV fleet days of
:mod:`pipelines.planning.synthetic`, 2-core machine). One HiGHS MIP solve took 0.1-2 s at 50
EVs: the relaxation takes 0.04 s, and the rest went to root-node heuristics (sub-MIPs) and
cuts looking for integer job starts, never to branching (one node). At 1,000 EVs it was 2-3 s,
mostly presolve and the root LP, whose job starts came out integral. So:

1. Solve the LP relaxation: dual simplex, presolve off. The smaller build is what makes
   presolve dispensable: at 1,000 EVs the relaxation takes 1.0-1.2 s this way, against
   1.6-1.8 s for the old build with presolve (2.6-2.8 s without); re-solves are warm-started.
2. V2G rule: a V2G vehicle that is short in the plan may not discharge (see
   :func:`_keep_v2g_whole`); re-solve until no such vehicle is left. This LP's objective is
   the bound of step 4, and its reduced costs serve step 5.
3. If every start binary is integral, that is the MIP optimum. Otherwise fix one job at a
   time: the one whose relaxed start is most decided is re-solved with each of its
   ``START_CANDIDATES`` likeliest starts fixed, and the cheapest is kept (a few warm-started
   LPs, about 0.01 s each at 50 EVs).
4. Accept the result if it is within the gap of the step-2 bound. The gap is
   ``MIP_ABS_GAP_EUR`` (1 cent) + ``MIP_REL_GAP`` (1e-4) x the plan's cost without slack
   penalties. The old criterion, HiGHS' 1e-4 of the whole objective, was mostly relative to
   slack penalties, often constants (shortfalls nothing can avoid): 60 EUR on a 50-EV day.
5. The relaxation bound is weak (a job split over two starts): up to 4 EUR below the
   optimum on random 50-EV days, more than the gap. So raise it: every plan starts a
   fractional job somewhere, so the least LP objective over its starts, with the job fixed
   there, is a bound. A start the relaxation leaves at 0 costs at least the bound plus its
   reduced cost, so only the few starts that this does not rule out are re-solved (about 10
   warm-started LPs at 50 EVs). On 12 random 50-EV days this proved step 3's plan optimal to
   within 0.14 EUR (exactly, on 10 of them) in 0.04-0.05 s of HiGHS time in all; the old
   single MIP solve took 0.1-2 s and stopped up to 2 EUR above the optimum.
6. Only if that fails, solve the MIP (presolve on) from step 3's plan, to the same gap.

Every hard constraint (limits, SoC bounds, job windows and durations) is a constraint of each
LP, so every plan returned satisfies it exactly; only optimality is subject to the gap.
``Solution.solve_s`` sums the time of every HiGHS ``run()`` call.

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
V2G_DEGRADATION_EUR_PER_KWH = 0.05
"""Wear of a vehicle's battery per kWh it discharges into the site [EUR/kWh]: V2G must earn
more than this, so vehicles are not cycled for cents."""
CURTAILMENT_EUR_PER_KWH = 1e-3
"""Tie-breaker cost per kWh curtailed, so PV is curtailed only when it pays [EUR/kWh]."""
MIP_REL_GAP = 1e-4
"""Accepted MIP gap, relative to the plan's cost without slack penalties [-]."""
MIP_ABS_GAP_EUR = 0.01
"""Accepted MIP gap on top of the relative one [EUR]."""
INTEGRALITY_TOL = 1e-6
"""A start binary further than this from 0 or 1 is fractional [-]."""
UNSERVED_FACTOR = 10.0
"""Penalty of unserved base load, in top EV shortfall penalties [-]."""
START_CANDIDATES = 4
"""Starts tried per fractional job when fixing the relaxation's starts [-]."""


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
        Model build time, and time spent inside HiGHS ``run()`` calls, summed [s].
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
    solve_runs : int
        Number of HiGHS ``run()`` calls behind ``solve_s`` [-].
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
    solve_runs: int = 1


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
        + V2G_DEGRADATION_EUR_PER_KWH
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


@dataclass
class _EvCols:
    """Column indices of one vehicle; ``soc`` is None for a charge-only vehicle."""

    need: float
    short: int
    first: int
    ch: np.ndarray | None = None
    dis: np.ndarray | None = None
    soc: np.ndarray | None = None


@dataclass
class _JobCols:
    """Column indices of one job: run fractions (interruptible) or start binaries."""

    interruptible: bool
    un: int
    first: int
    run: np.ndarray | None = None


@dataclass
class _Model:
    """The built LP/MILP and where each quantity lives in its columns."""

    lp: highspy.HighsLp
    imp: np.ndarray
    exp: np.ndarray
    uns: np.ndarray
    curt: np.ndarray | None = None
    bch: np.ndarray | None = None
    bdis: np.ndarray | None = None
    bsoc: np.ndarray | None = None
    bshort: int | None = None
    evs: dict[str, _EvCols] = field(default_factory=dict)
    jobs: dict[str, _JobCols] = field(default_factory=dict)

    def slacks(self) -> np.ndarray:
        """Columns of every penalised slack."""
        cols = [self.uns, [c.short for c in self.evs.values()], [j.un for j in self.jobs.values()]]
        if self.bshort is not None:
            cols.append([self.bshort])
        return np.concatenate([np.asarray(c, dtype=np.int64) for c in cols])

    def start_groups(self) -> list[tuple[np.ndarray, int]]:
        """(start binaries, unscheduled column) of each non-interruptible job with a window."""
        return [
            (j.run, j.un) for j in self.jobs.values() if not j.interruptible and j.run is not None
        ]


def _add_grid(b: _Builder, sc: Scenario, top_pen: float) -> tuple[np.ndarray, ...]:
    """Grid exchange, unserved load, curtailment, peak and the bus balance rows."""
    T, dt, g = sc.slots, sc.dt_h, sc.grid
    imp_cost = dt * (
        g.import_price_eur_per_mwh / 1000 + g.ci_g_per_kwh * g.co2_price_eur_per_t / 1e6
    )
    imp = b.cols(T, 0.0, g.max_import_kw, imp_cost)
    exp = b.cols(T, 0.0, g.max_export_kw, -dt * g.export_price_eur_per_mwh / 1000)
    uns = b.cols(T, 0.0, sc.base_load_kw, dt * UNSERVED_FACTOR * top_pen)
    bal = b.rows(T, sc.base_load_kw - sc.pv_kw, sc.base_load_kw - sc.pv_kw)
    b.coef(bal, imp, 1.0)
    b.coef(bal, exp, -1.0)
    b.coef(bal, uns, 1.0)
    curt = None
    if sc.has_pv:
        curt = b.cols(T, 0.0, sc.pv_kw, dt * CURTAILMENT_EUR_PER_KWH)
        b.coef(bal, curt, -1.0)
    if g.peak_charge_eur_per_kw > 0:
        peak = b.cols(1, 0.0, math.inf, g.peak_charge_eur_per_kw)
        prow = b.rows(T, -math.inf, 0.0)
        b.coef(prow, imp, 1.0)
        b.coef(prow, peak[0], -1.0)
    return bal, imp, exp, uns, curt


def _add_battery(b: _Builder, sc: Scenario, bal: np.ndarray, m: _Model) -> None:
    """Battery charge, discharge and SoC chain, with the terminal-SoC slack."""
    bat, T, dt = sc.battery, sc.slots, sc.dt_h
    eta = math.sqrt(bat.efficiency)
    m.bch = b.cols(T, 0.0, bat.max_charge_kw, dt * DEGRADATION_EUR_PER_KWH)
    m.bdis = b.cols(T, 0.0, bat.max_discharge_kw, dt * DEGRADATION_EUR_PER_KWH)
    m.bsoc = b.cols(T, min(bat.min_soc_kwh, bat.soc_kwh), max(bat.max_soc_kwh, bat.soc_kwh))
    b.coef(bal, m.bch, -1.0)
    b.coef(bal, m.bdis, 1.0)
    rhs = np.zeros(T)
    rhs[0] = bat.soc_kwh
    srow = b.rows(T, rhs, rhs)
    b.coef(srow, m.bsoc, 1.0)
    b.coef(srow[1:], m.bsoc[:-1], -1.0)
    b.coef(srow, m.bch, -eta * dt)
    b.coef(srow, m.bdis, dt / eta)
    m.bshort = int(b.cols(1, 0.0, bat.final_soc_kwh, 4 * penalty_scale(sc))[0])
    trow = b.rows(1, bat.final_soc_kwh, math.inf)
    b.coef(trow, [m.bsoc[-1], m.bshort], [1.0, 1.0])


def _add_ev(b: _Builder, sc: Scenario, ev, pen: float, bal: np.ndarray) -> _EvCols:
    """One vehicle's columns and rows.

    A charge-only vehicle's SoC never falls, so its bounds reduce to one row on the total
    charged energy; only V2G vehicles get a per-slot SoC chain.
    """
    dt = sc.dt_h
    need = ev_need_in_horizon(sc, ev)
    lo_slot, hi_slot = ev.arrival_slot, min(ev.departure_slot, sc.slots)
    L = max(0, hi_slot - lo_slot)
    c = _EvCols(need=need, short=int(b.cols(1, 0.0, need, pen)[0]), first=lo_slot)
    if L == 0:
        return c
    rows_t = bal[lo_slot:hi_slot]
    c.ch = b.cols(L, 0.0, ev.max_charge_kw)
    b.coef(rows_t, c.ch, -1.0)
    if not (ev.v2g and ev.max_discharge_kw > 0):
        room = b.rows(1, -math.inf, ev.capacity_kwh - ev.soc_kwh)
        b.coef(room, c.ch, dt)
        nrow = b.rows(1, need, math.inf)
        b.coef(nrow, c.ch, dt)
        b.coef(nrow, c.short, 1.0)
        return c
    c.dis = b.cols(L, 0.0, ev.max_discharge_kw, dt * V2G_DEGRADATION_EUR_PER_KWH)
    b.coef(rows_t, c.dis, 1.0)
    c.soc = b.cols(L, min(ev.min_soc_kwh, ev.soc_kwh), ev.capacity_kwh)
    rhs = np.zeros(L)
    rhs[0] = ev.soc_kwh
    srow = b.rows(L, rhs, rhs)
    b.coef(srow, c.soc, 1.0)
    b.coef(srow[1:], c.soc[:-1], -1.0)
    b.coef(srow, c.ch, -dt)
    b.coef(srow, c.dis, dt)
    nrow = b.rows(1, ev.soc_kwh + need, math.inf)
    b.coef(nrow, [c.soc[-1], c.short], [1.0, 1.0])
    return c


def _add_job(b: _Builder, sc: Scenario, job, bal: np.ndarray) -> _JobCols:
    """Run fractions of an interruptible job, or one binary per start of another job."""
    end = min(job.deadline_slot, sc.slots)
    unrun_cost = 4 * penalty_scale(sc) * job.power_kw * sc.dt_h  # per slot not run
    if job.interruptible:
        W = max(0, end - job.earliest_slot)
        un = b.cols(1, 0.0, job.duration_slots, unrun_cost)
        row = b.rows(1, job.duration_slots, job.duration_slots)
        b.coef(row, un[0], 1.0)
        c = _JobCols(True, int(un[0]), job.earliest_slot)
        if W > 0:
            c.run = b.cols(W, 0.0, 1.0)
            b.coef(bal[job.earliest_slot : end], c.run, -job.power_kw)
            b.coef(row, c.run, 1.0)
        return c
    S = max(0, end - job.duration_slots - job.earliest_slot + 1)
    un = b.cols(1, 0.0, 1.0, unrun_cost * job.duration_slots)
    row = b.rows(1, 1.0, 1.0)
    b.coef(row, un[0], 1.0)
    c = _JobCols(False, int(un[0]), job.earliest_slot)
    if S > 0:
        c.run = b.cols(S, 0.0, 1.0, integer=True)
        b.coef(row, c.run, 1.0)
        starts = job.earliest_slot + np.arange(S)
        offs = np.arange(job.duration_slots)
        b.coef(
            bal[(starts[:, None] + offs[None, :]).ravel()],
            np.repeat(c.run, job.duration_slots),
            -job.power_kw,
        )
    return c


def build_model(sc: Scenario) -> _Model:
    """Build the planning MILP of a scenario.

    Parameters
    ----------
    sc : Scenario
        The validated scenario.

    Returns
    -------
    _Model
        The HiGHS model (start binaries marked integer) and the column index of every
        quantity.
    """
    b = _Builder()
    ev_pen = ev_penalties(sc)
    top_pen = max(ev_pen.values(), default=4 * penalty_scale(sc))
    bal, imp, exp, uns, curt = _add_grid(b, sc, top_pen)
    m = _Model(lp=None, imp=imp, exp=exp, uns=uns, curt=curt)  # type: ignore[arg-type]
    if sc.battery is not None:
        _add_battery(b, sc, bal, m)
    for ev in sc.evs:
        m.evs[ev.id] = _add_ev(b, sc, ev, ev_pen[ev.id], bal)
    for job in sc.jobs:
        m.jobs[job.id] = _add_job(b, sc, job, bal)
    m.lp = b.lp()
    return m


class _Runner:
    """One HiGHS instance that sums the time spent in its ``run()`` calls."""

    def __init__(self, lp: highspy.HighsLp, time_limit_s: float) -> None:
        self.h = _new_highs()
        self.h.setOptionValue("output_flag", False)
        self.h.setOptionValue("solve_relaxation", True)
        # measured faster without presolve for the LPs: the build already leaves out what
        # presolve would remove, and the re-solves are warm-started anyway
        self.h.setOptionValue("presolve", "off")
        self.h.passModel(lp)
        self.deadline = time.perf_counter() + time_limit_s
        self.solve_s = 0.0
        self.runs = 0

    def run(self) -> tuple[float, np.ndarray | None]:
        """Solve; return the objective [EUR] and the primal values (None if there are none)."""
        self.h.setOptionValue("time_limit", max(1e-3, self.deadline - time.perf_counter()))
        t = time.perf_counter()
        self.h.run()
        self.solve_s += time.perf_counter() - t
        self.runs += 1
        info = self.h.getInfo()
        if info.primal_solution_status != 2:  # kSolutionStatusFeasible
            return math.inf, None
        return float(info.objective_function_value), np.asarray(self.h.getSolution().col_value)

    def status(self) -> str:
        return self.h.modelStatusToString(self.h.getModelStatus())

    def fix_start(self, y: np.ndarray, un: int, pick: int | None) -> None:
        """Fix a job to start ``pick`` (an index into ``y``), or to unscheduled if None."""
        hi = np.zeros(len(y))
        if pick is not None:
            hi[pick] = 1.0
        self.h.changeColsBounds(len(y), y.astype(np.int32), hi, hi)
        u = 0.0 if pick is not None else 1.0
        self.h.changeColBounds(un, u, u)

    def free_starts(self, groups: list[tuple[np.ndarray, int]]) -> None:
        """Undo :meth:`fix_start` for every job."""
        for y, un in groups:
            self.h.changeColsBounds(len(y), y.astype(np.int32), np.zeros(len(y)), np.ones(len(y)))
            self.h.changeColBounds(un, 0.0, 1.0)

    def no_discharge(self, dis: np.ndarray) -> None:
        """Forbid a vehicle's V2G discharge."""
        zero = np.zeros(len(dis))
        self.h.changeColsBounds(len(dis), dis.astype(np.int32), zero, zero)


def _is_fractional(x: np.ndarray, y: np.ndarray) -> bool:
    return bool(np.abs(x[y] - np.round(x[y])).max() > INTEGRALITY_TOL)


def _short_dischargers(m: _Model, x: np.ndarray) -> list[_EvCols]:
    """V2G vehicles that discharge and still depart short."""
    return [
        c
        for c in m.evs.values()
        if c.dis is not None
        and x[c.short] > INTEGRALITY_TOL
        and x[c.dis].max(initial=0.0) > INTEGRALITY_TOL
    ]


def _keep_v2g_whole(
    r: _Runner, m: _Model, obj: float, x: np.ndarray | None
) -> tuple[float, np.ndarray | None]:
    """Forbid discharge to every V2G vehicle that would depart short, and re-solve.

    The shortfall penalties serve earlier departures first, so on its own the model would
    let a later-leaving V2G vehicle discharge into an earlier-leaving one and leave short.
    "V2G never leaves a vehicle short" is an either-or (discharge, or a shortfall, not both)
    that an LP cannot state; this rule enforces it with no binaries: a vehicle short in the
    plan does not discharge. Repeats until no such vehicle is left.
    """
    while x is not None:
        offenders = _short_dischargers(m, x)
        if not offenders:
            break
        for c in offenders:
            r.no_discharge(c.dis)
        obj, x = r.run()
    return obj, x


def _fix_starts(
    r: _Runner, m: _Model, obj: float, x: np.ndarray, tried: dict
) -> tuple[float, np.ndarray | None]:
    """Fix jobs with fractional starts one at a time, by trying their LP-support starts.

    Each round takes the fractional job whose LP solution is most decided (largest start
    fraction), re-solves the LP with the job fixed to each of its ``START_CANDIDATES``
    likeliest starts (and to unscheduled, if the LP leaves part of it unrun), and keeps the
    cheapest. The re-solves are warm-started from the previous basis. The objectives of the
    first round, taken with every other job still free, are recorded in ``tried`` by
    (first start column, start) for :func:`_start_bound`.

    Returns
    -------
    tuple of float and numpy.ndarray or None
        Objective [EUR] and primal values of an integer-feasible solution; None when every
        re-solve failed (time limit).
    """
    groups = m.start_groups()
    record = tried
    while True:
        obj, x = _keep_v2g_whole(r, m, obj, x)
        if x is None:
            return math.inf, None
        frac = [g for g in groups if _is_fractional(x, g[0])]
        if not frac:
            return obj, x
        y, un = max(frac, key=lambda g: x[g[0]].max())
        order = np.argsort(-x[y], kind="stable")[:START_CANDIDATES]
        picks: list[int | None] = [int(k) for k in order if x[y][k] > INTEGRALITY_TOL]
        if x[un] > INTEGRALITY_TOL:
            picks.append(None)
        best: tuple[float, np.ndarray | None, int | None] = (math.inf, None, None)
        for pick in picks:
            r.fix_start(y, un, pick)
            o, xp = r.run()
            if xp is not None:
                record[int(y[0]), pick] = o
            if xp is not None and o < best[0]:
                best = (o, xp, pick)
        if best[2] != picks[-1]:
            r.fix_start(y, un, best[2])
        obj, x = best[0], best[1]
        record = {}  # later rounds have jobs fixed: their objectives bound nothing


def _solve(m: _Model, time_limit_s: float) -> tuple[_Runner, float, np.ndarray, str]:
    """LP relaxation, start fixing, a raised bound, and the MIP only if the gap stays open.

    Returns
    -------
    tuple
        The runner (for its timing), objective [EUR], primal values and status.

    Raises
    ------
    RuntimeError
        No primal solution was found within the time limit.
    """
    r = _Runner(m.lp, time_limit_s)
    bound, x = _keep_v2g_whole(r, m, *r.run())
    if x is None:
        raise RuntimeError(f"HiGHS returned no feasible plan (model status: {r.status()})")
    status = r.status()
    groups = m.start_groups()
    if not any(_is_fractional(x, y) for y, _ in groups):
        return r, bound, x, status  # the relaxation is integral: the MIP optimum
    if status != "Optimal":
        return _solve_mip(r, m, None, _gap_allowed(m, bound, x))
    d = np.asarray(r.h.getSolution().col_dual)
    frac = [g for g in groups if _is_fractional(x, g[0])]
    tried: dict[tuple[int, int | None], float] = {}
    obj, xf = _fix_starts(r, m, bound, x, tried)
    if xf is None:
        return _solve_mip(r, m, None, _gap_allowed(m, bound, x))
    allowed = _gap_allowed(m, obj, xf)
    if obj - bound <= allowed:
        return r, obj, xf, "Optimal"
    r.free_starts(groups)
    target = obj - allowed
    for y, un in frac:
        if _start_bound(r, y, un, x, d, bound, target, tried) >= target:
            return r, obj, xf, "Optimal"
    return _solve_mip(r, m, xf, allowed)


def _start_bound(
    r: _Runner,
    y: np.ndarray,
    un: int,
    x: np.ndarray,
    d: np.ndarray,
    bound: float,
    target: float,
    tried: dict,
) -> float:
    """A lower bound of every plan, from the options of one job whose start is fractional.

    Every plan starts the job somewhere or leaves it unscheduled, so the smallest LP
    objective over these options, with the job fixed there, bounds it. An option the relaxed
    solution ``x`` leaves at 0 costs at least ``bound`` plus its reduced cost in ``d``, so it
    is re-solved only when that does not reach ``target`` already, nor was re-solved by
    :func:`_fix_starts` (``tried``). Stops at the first option below ``target``.

    Returns
    -------
    float
        The bound [EUR]; below ``target`` when the job cannot certify it.
    """
    low = math.inf
    for pick in [*range(len(y)), None]:
        col = un if pick is None else int(y[pick])
        if x[col] <= INTEGRALITY_TOL and bound + d[col] >= target:
            low = min(low, bound + d[col])
            continue
        o = tried.get((int(y[0]), pick))
        if o is None:
            r.fix_start(y, un, pick)
            o, xp = r.run()
            if xp is None and r.status() != "Infeasible":
                o = -math.inf  # cut short: no bound
        low = min(low, o)
        if low < target:
            break
    r.free_starts([(y, un)])
    return low


def _solve_mip(
    r: _Runner, m: _Model, xf: np.ndarray | None, allowed: float
) -> tuple[_Runner, float, np.ndarray, str]:
    """The MIP, started from ``xf``, to an absolute gap of ``allowed`` [EUR]."""
    r.free_starts(m.start_groups())
    r.h.setOptionValue("solve_relaxation", False)
    r.h.setOptionValue("presolve", "on")
    r.h.setOptionValue("mip_rel_gap", 0.0)
    r.h.setOptionValue("mip_abs_gap", allowed)
    while True:
        if xf is not None:
            r.h.setSolution(len(xf), np.arange(len(xf), dtype=np.int32), xf)
        obj, x = r.run()
        if x is None:
            raise RuntimeError(f"HiGHS returned no feasible plan (model status: {r.status()})")
        offenders = _short_dischargers(m, x)
        if not offenders:
            return r, obj, x, r.status()
        for c in offenders:
            r.no_discharge(c.dis)
        xf = None


def _gap_allowed(m: _Model, obj: float, x: np.ndarray) -> float:
    """Largest accepted distance between a plan and the bound [EUR].

    Relative to the plan's cost without its slack penalties: the penalties, often most of
    the objective, are mostly constants (shortfalls nothing could avoid), and a gap relative
    to them would allow tens of EUR on a day that costs a few thousand.
    """
    sl = m.slacks()
    cost = obj - float(np.asarray(m.lp.col_cost_)[sl] @ x[sl])
    return MIP_ABS_GAP_EUR + MIP_REL_GAP * abs(cost)


def _extract(sc: Scenario, m: _Model, x: np.ndarray, sol: Solution) -> None:
    """Fill ``sol`` with the physical plan in ``x``."""
    T, dt = sc.slots, sc.dt_h
    sol.import_kw, sol.export_kw, sol.unserved_kw = x[m.imp], x[m.exp], x[m.uns]
    sol.curtail_kw = x[m.curt] if m.curt is not None else np.zeros(T)
    if sc.battery is not None:
        sol.battery_kw = x[m.bch] - x[m.bdis]
        sol.battery_soc_kwh = x[m.bsoc]
        sol.battery_terminal_short_kwh = float(x[m.bshort])
    for ev in sc.evs:
        c = m.evs[ev.id]
        p = np.zeros(T)
        s = np.full(T, np.nan)
        if c.ch is not None:
            span = slice(c.first, c.first + len(c.ch))
            p[span] = x[c.ch] - (x[c.dis] if c.dis is not None else 0.0)
            s[span] = x[c.soc] if c.soc is not None else ev.soc_kwh + np.cumsum(p[span]) * dt
        sol.ev_kw[ev.id] = p
        sol.ev_soc_kwh[ev.id] = s
        sol.ev_need_kwh[ev.id] = c.need
        sol.ev_shortfall_kwh[ev.id] = float(x[c.short])
    for job in sc.jobs:
        c = m.jobs[job.id]
        p = np.zeros(T)
        if c.run is not None and c.interruptible:
            p[c.first : c.first + len(c.run)] = job.power_kw * np.clip(x[c.run], 0.0, 1.0)
        elif c.run is not None:
            for s_off in np.flatnonzero(np.round(x[c.run]) > 0.5):
                start = c.first + int(s_off)
                p[start : start + job.duration_slots] = job.power_kw
        sol.job_kw[job.id] = p
        unrun = float(x[c.un])
        sol.job_unscheduled_slots[job.id] = (
            unrun if c.interruptible else round(unrun) * job.duration_slots
        )


def solve_model(sc: Scenario, time_limit_s: float = 60.0) -> Solution:
    """Build and solve the planning model of a scenario.

    Parameters
    ----------
    sc : Scenario
        The validated scenario.
    time_limit_s : float
        HiGHS time limit over all solves [s]; the best solution found so far is returned
        when it is hit.

    Returns
    -------
    Solution
        The plan in physical units, with slack usage. ``solve_s`` sums every HiGHS
        ``run()`` call.

    Raises
    ------
    RuntimeError
        HiGHS found no primal solution (cannot happen for a valid scenario: slacks keep the
        model feasible), e.g. the time limit was hit before a first solution.
    """
    t0 = time.perf_counter()
    m = build_model(sc)
    build_s = time.perf_counter() - t0
    r, obj, x, status = _solve(m, time_limit_s)
    empty = np.zeros(0)
    sol = Solution(status, obj, build_s, r.solve_s, empty, empty, empty, empty)
    sol.solve_runs = r.runs
    _extract(sc, m, x, sol)
    return sol
