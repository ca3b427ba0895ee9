"""The "run now, charge on arrival" baseline plan and the cost terms shared with the optimum.

The baseline runs every job from its earliest slot, charges every vehicle at full power from
arrival until its need is met (or it is full, or it departs), and leaves the battery idle. PV
above the export limit is curtailed; import above the import limit is kept (and reported), as
an unmanaged site would draw it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.planning.model import DEGRADATION_EUR_PER_KWH, V2G_DEGRADATION_EUR_PER_KWH
from pipelines.planning.scenario import Scenario


def cost_terms(
    sc: Scenario,
    import_kw: np.ndarray,
    export_kw: np.ndarray,
    throughput_kwh: float = 0.0,
    v2g_discharged_kwh: float = 0.0,
) -> dict[str, float]:
    """Objective terms of a grid exchange profile.

    Parameters
    ----------
    sc : Scenario
        The scenario (prices, intensity, charges).
    import_kw, export_kw : numpy.ndarray
        Grid import and export per slot [kW].
    throughput_kwh : float
        Battery energy charged plus discharged [kWh], priced as degradation.
    v2g_discharged_kwh : float
        Energy vehicles discharged into the site [kWh], priced as vehicle battery wear.

    Returns
    -------
    dict
        ``import_cost_eur``, ``export_revenue_eur``, ``energy_cost_eur`` (import cost minus
        export revenue), ``import_kwh``, ``export_kwh``, ``co2_kg``, ``co2_cost_eur``,
        ``peak_import_kw``, ``peak_charge_eur``, ``degradation_eur`` and ``total_eur``.
    """
    g, dt = sc.grid, sc.dt_h
    imp_kwh, exp_kwh = import_kw * dt, export_kw * dt
    import_cost = float(imp_kwh @ g.import_price_eur_per_mwh) / 1000
    export_rev = float(exp_kwh @ g.export_price_eur_per_mwh) / 1000
    co2_kg = float(imp_kwh @ g.ci_g_per_kwh) / 1000
    co2_cost = co2_kg / 1000 * g.co2_price_eur_per_t
    peak = float(import_kw.max(initial=0.0))
    peak_cost = peak * g.peak_charge_eur_per_kw
    degradation = (
        throughput_kwh * DEGRADATION_EUR_PER_KWH + v2g_discharged_kwh * V2G_DEGRADATION_EUR_PER_KWH
    )
    return {
        "import_cost_eur": import_cost,
        "export_revenue_eur": export_rev,
        "energy_cost_eur": import_cost - export_rev,
        "import_kwh": float(imp_kwh.sum()),
        "export_kwh": float(exp_kwh.sum()),
        "co2_kg": co2_kg,
        "co2_cost_eur": co2_cost,
        "peak_import_kw": peak,
        "peak_charge_eur": peak_cost,
        "degradation_eur": degradation,
        "total_eur": import_cost - export_rev + co2_cost + peak_cost + degradation,
    }


@dataclass
class Baseline:
    """The baseline plan: device powers [kW], grid exchange [kW] and its cost terms."""

    ev_kw: dict[str, np.ndarray]
    job_kw: dict[str, np.ndarray]
    ev_delivered_kwh: dict[str, float]
    import_kw: np.ndarray
    export_kw: np.ndarray
    curtail_kw: np.ndarray
    terms: dict[str, float]
    import_limit_exceeded_kw: float


def baseline_plan(sc: Scenario) -> Baseline:
    """Plan the scenario the unmanaged way: run now, charge on arrival, battery idle.

    Parameters
    ----------
    sc : Scenario
        The validated scenario.

    Returns
    -------
    Baseline
        Device powers, grid exchange and cost terms; ``import_limit_exceeded_kw`` is the
        largest import above ``max_import_kw`` [kW] (0 when the limit holds).
    """
    T, dt = sc.slots, sc.dt_h
    load = sc.base_load_kw.copy()
    ev_kw, delivered = {}, {}
    for ev in sc.evs:
        p = np.zeros(T)
        remaining = min(ev.energy_needed_kwh, ev.capacity_kwh - ev.soc_kwh)
        for t in range(ev.arrival_slot, min(ev.departure_slot, T)):
            if remaining <= 1e-9:
                break
            e = min(ev.max_charge_kw * dt, remaining)
            p[t] = e / dt
            remaining -= e
        ev_kw[ev.id] = p
        delivered[ev.id] = float(p.sum() * dt)
        load += p
    job_kw = {}
    for job in sc.jobs:
        p = np.zeros(T)
        p[job.earliest_slot : min(job.earliest_slot + job.duration_slots, T)] = job.power_kw
        job_kw[job.id] = p
        load += p
    net = load - sc.pv_kw
    surplus = np.maximum(-net, 0.0)
    export = np.minimum(surplus, sc.grid.max_export_kw)
    imp = np.maximum(net, 0.0)
    return Baseline(
        ev_kw=ev_kw,
        job_kw=job_kw,
        ev_delivered_kwh=delivered,
        import_kw=imp,
        export_kw=export,
        curtail_kw=surplus - export,
        terms=cost_terms(sc, imp, export),
        import_limit_exceeded_kw=float(np.maximum(imp - sc.grid.max_import_kw, 0.0).max()),
    )
