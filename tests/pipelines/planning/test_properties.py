"""Property-based: every hard constraint holds in the plan of any random small scenario."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.planning import solve_scenario
from pipelines.planning.scenario import parse_scenario

T = 12
arrays = st.lists(st.floats(0, 300), min_size=T, max_size=T)
prices = st.lists(st.floats(-50, 500), min_size=T, max_size=T)


@st.composite
def scenarios(draw):
    n_ev = draw(st.integers(0, 3))
    evs = []
    for i in range(n_ev):
        arr = draw(st.integers(0, T - 1))
        cap = draw(st.floats(20, 200))
        evs.append(
            {
                "id": f"ev-{i}",
                "arrival_slot": arr,
                "departure_slot": draw(st.integers(arr + 1, T + 4)),
                "capacity_kwh": cap,
                "soc_kwh": draw(st.floats(0, cap)),
                "min_soc_kwh": draw(st.floats(0, cap)),
                "energy_needed_kwh": draw(st.floats(0, 150)),
                "max_charge_kw": draw(st.floats(0, 50)),
                "max_discharge_kw": draw(st.floats(0, 20)),
                "v2g": draw(st.booleans()),
            }
        )
    jobs = []
    for i in range(draw(st.integers(0, 2))):
        early = draw(st.integers(0, T - 1))
        dur = draw(st.integers(1, 4))
        jobs.append(
            {
                "id": f"job-{i}",
                "power_kw": draw(st.floats(1, 200)),
                "duration_slots": dur,
                "earliest_slot": early,
                "deadline_slot": draw(st.integers(early + dur, T + 4)),
                "interruptible": draw(st.booleans()),
            }
        )
    raw = {
        "start_utc": "2026-11-24T00:00:00Z",
        "slot_minutes": 30,
        "slots": T,
        "grid": {
            "import_price_eur_per_mwh": draw(prices),
            "export_price_eur_per_mwh": [0.0] * T,
            "ci_g_per_kwh": draw(arrays),
            "max_import_kw": draw(st.floats(0, 400)),
            "max_export_kw": draw(st.floats(0, 100)),
            "peak_charge_eur_per_kw": draw(st.floats(0, 20)),
            "co2_price_eur_per_t": 80,
        },
        "site": {"base_load_kw": draw(arrays), "pv_kw": draw(arrays)},
        "evs": evs,
        "jobs": jobs,
    }
    if draw(st.booleans()):
        raw["battery"] = {
            "id": "bess",
            "capacity_kwh": 100,
            "soc_kwh": draw(st.floats(0, 100)),
            "min_soc_kwh": 10,
            "max_soc_kwh": 90,
            "max_charge_kw": 40,
            "max_discharge_kw": 40,
            "efficiency": 0.9,
            "final_soc_kwh": draw(st.floats(10, 90)),
        }
    return raw


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_hard_constraints_hold(raw):
    sc = parse_scenario(raw)
    r = solve_scenario(sc)
    sol, g, tol = r.solution, sc.grid, 1e-5
    assert (sol.import_kw <= g.max_import_kw + tol).all()
    assert (sol.export_kw <= g.max_export_kw + tol).all()
    assert (sol.curtail_kw >= -tol).all() and (sol.curtail_kw <= sc.pv_kw + tol).all()
    if sc.battery is not None:
        b = sc.battery
        soc = sol.battery_soc_kwh
        assert soc.min() >= min(b.min_soc_kwh, b.soc_kwh) - tol
        assert soc.max() <= max(b.max_soc_kwh, b.soc_kwh) + tol
        assert soc[-1] + sol.battery_terminal_short_kwh >= b.final_soc_kwh - 1e-4
    for e in sc.evs:
        p = sol.ev_kw[e.id]
        assert p.max() <= e.max_charge_kw + tol
        assert p.min() >= (-e.max_discharge_kw if e.v2g else 0.0) - tol
    total = np.zeros(T)
    for p in [*sol.ev_kw.values(), *sol.job_kw.values()]:
        total += p
    if sol.battery_kw is not None:
        total += sol.battery_kw
    np.testing.assert_allclose(
        sol.import_kw - sol.export_kw + sol.unserved_kw,
        sc.base_load_kw - sc.pv_kw + sol.curtail_kw + total,
        atol=1e-4,
    )
    assert r.summary["feasible"] == (not r.summary["slacks_used"])
    assert len(r.summary["explanations"]) == len(r.summary["slacks_used"])
