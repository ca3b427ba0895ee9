"""The solve strategy of the planning model: relaxation, start fixing, MIP fallback."""

from __future__ import annotations

import math

import highspy
import numpy as np
import pytest

import pipelines.planning.model as model
from pipelines.planning.scenario import parse_scenario
from pipelines.planning.synthetic import fleet_scenario


def exact_mip(sc) -> float:
    """Objective of the plain MIP solved to a zero relative gap [EUR]."""
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 1e-3)
    h.passModel(model.build_model(sc).lp)
    h.run()
    assert h.modelStatusToString(h.getModelStatus()) == "Optimal"
    return h.getInfo().objective_function_value


@pytest.fixture(scope="module")
def fractional_day():
    """A 50-EV day whose relaxation splits the shredder's start (seed picked for that)."""
    return parse_scenario(fleet_scenario(2))


def test_start_fixing_finds_the_mip_optimum(fractional_day):
    sol = model.solve_model(fractional_day)
    assert sol.solve_runs > 1  # the relaxation was fractional: starts were fixed
    assert sol.status == "Optimal"
    assert sol.objective_eur == pytest.approx(exact_mip(fractional_day), abs=1e-2)
    for job in fractional_day.jobs:
        p = sol.job_kw[job.id]
        assert set(np.round(p, 6)) <= {0.0, job.power_kw}


def test_solve_time_sums_every_run(fractional_day, monkeypatch):
    times = []
    run = model._Runner.run

    def timed(self):
        start = model.time.perf_counter()
        out = run(self)
        times.append(model.time.perf_counter() - start)
        return out

    monkeypatch.setattr(model._Runner, "run", timed)
    sol = model.solve_model(fractional_day)
    assert sol.solve_runs == len(times) > 1
    assert 0.5 * sum(times) < sol.solve_s <= sum(times)  # run() calls only


def test_start_bound_proves_the_plan(fractional_day, monkeypatch):
    calls = []
    monkeypatch.setattr(model, "_solve_mip", lambda *a: calls.append(a))
    sol = model.solve_model(fractional_day)
    assert sol.status == "Optimal" and not calls  # no MIP was needed


def test_mip_fallback_when_the_bound_cannot_be_raised(fractional_day, monkeypatch):
    fixed = model.solve_model(fractional_day)
    calls = []
    solve_mip = model._solve_mip
    monkeypatch.setattr(model, "_start_bound", lambda *a: -math.inf)
    monkeypatch.setattr(model, "_solve_mip", lambda *a: calls.append(a) or solve_mip(*a))
    sol = model.solve_model(fractional_day)
    assert len(calls) == 1
    assert sol.status == "Optimal"
    assert sol.objective_eur <= fixed.objective_eur + 1e-3


def test_charge_only_soc_is_reported(fractional_day):
    sol = model.solve_model(fractional_day)
    for e in fractional_day.evs:
        soc = sol.ev_soc_kwh[e.id]
        on = ~np.isnan(soc)
        expect = e.soc_kwh + np.cumsum(sol.ev_kw[e.id][on]) * fractional_day.dt_h
        np.testing.assert_allclose(soc[on], expect, atol=1e-5)
