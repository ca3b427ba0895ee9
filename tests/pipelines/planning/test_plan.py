"""The planner: limits, follow-the-sun, V2G, shortfall allocation, battery, sign convention."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from pipelines.planning import solve_scenario, to_setpoint_plans
from pipelines.planning.scenario import parse_scenario
from tests.pipelines.planning.conftest import make_scenario

TOL = 1e-5


def ev(ident="truck-01", **kw) -> dict:
    e = {
        "id": ident,
        "arrival_slot": 0,
        "departure_slot": 8,
        "capacity_kwh": 100,
        "soc_kwh": 50,
        "min_soc_kwh": 20,
        "energy_needed_kwh": 30,
        "max_charge_kw": 20,
        "max_discharge_kw": 20,
        "v2g": False,
    }
    e.update(kw)
    return e


def battery(**kw) -> dict:
    b = {
        "id": "bess-1",
        "capacity_kwh": 200,
        "soc_kwh": 100,
        "min_soc_kwh": 20,
        "max_soc_kwh": 190,
        "max_charge_kw": 50,
        "max_discharge_kw": 50,
        "efficiency": 0.9,
        "final_soc_kwh": 100,
    }
    b.update(kw)
    return b


def power(result, device_id: str) -> np.ndarray:
    f = result.frame.filter(pl.col("device_id") == device_id).sort("slot")
    return f["power_kw"].to_numpy()


def assert_bus_balance(raw: dict, result) -> None:
    """Grid exchange = base load - PV + curtailment + every device's power (sign convention)."""
    sc = parse_scenario(raw)
    sol = result.solution
    devices = (
        result.frame.filter(pl.col("device_id") != "pv-curtailment")
        .group_by("slot")
        .agg(pl.col("power_kw").sum())
        .sort("slot")["power_kw"]
        .to_numpy()
    )
    if devices.size == 0:
        devices = np.zeros(sc.slots)
    net = sol.import_kw - sol.export_kw + sol.unserved_kw
    expect = sc.base_load_kw - sc.pv_kw + sol.curtail_kw + devices
    np.testing.assert_allclose(net, expect, atol=1e-4)


def test_frame_shape_and_columns():
    raw = make_scenario(battery=battery(), evs=[ev()], jobs=[_job()])
    r = solve_scenario(raw)
    assert r.frame.columns == ["device_id", "slot", "slot_start_utc", "power_kw"]
    assert r.frame.height == 4 * 8  # battery, EV, job, pv-curtailment; no grid row
    assert set(r.frame["device_id"]) == {"bess-1", "truck-01", "shredder-1", "pv-curtailment"}
    assert str(r.frame["slot_start_utc"][1]) == "2026-11-24 02:00:00+00:00"
    assert r.summary["status"] == "Optimal" and r.summary["feasible"]


def test_no_pv_no_curtailment_row():
    raw = make_scenario(evs=[ev()])
    del raw["site"]["pv_kw"]
    assert set(solve_scenario(raw).frame["device_id"]) == {"truck-01"}


def test_export_limit_holds_and_pv_is_curtailed():
    raw = make_scenario(battery=battery(max_charge_kw=20))
    raw["site"]["pv_kw"] = [0, 0, 200, 250, 300, 250, 0, 0]
    r = solve_scenario(raw)
    assert r.solution.export_kw.max() <= 50 + TOL
    curt = power(r, "pv-curtailment")
    assert curt.max() > 100
    assert (curt >= -TOL).all() and (curt <= np.array(raw["site"]["pv_kw"]) + TOL).all()
    assert r.summary["pv_curtailed_kwh"] > 0
    assert_bus_balance(raw, r)


def _job(interruptible=False, **kw) -> dict:
    j = {
        "id": "shredder-1",
        "power_kw": 100,
        "duration_slots": 2,
        "earliest_slot": 0,
        "deadline_slot": 8,
        "interruptible": interruptible,
    }
    j.update(kw)
    return j


@pytest.mark.parametrize(
    ("interruptible", "pv", "expected_slots"),
    [
        (False, [0, 0, 0, 0, 120, 120, 0, 0], [4, 5]),
        (True, [0, 120, 0, 0, 0, 0, 120, 0], [1, 6]),
        (False, [0, 0, 60, 120, 120, 60, 0, 0], [3, 4]),
    ],
)
def test_job_follows_the_sun(interruptible, pv, expected_slots):
    raw = make_scenario(jobs=[_job(interruptible)])
    raw["site"]["pv_kw"] = pv
    raw["site"]["base_load_kw"] = [0.0] * 8
    r = solve_scenario(raw)
    p = power(r, "shredder-1")
    assert np.flatnonzero(p > TOL).tolist() == expected_slots
    np.testing.assert_allclose(p[expected_slots], 100)
    assert r.summary["avoided"]["cost_eur"] > 0  # the baseline runs it at slots 0-1
    assert r.summary["avoided"]["co2_kg"] > 0
    assert_bus_balance(raw, r)


def test_job_follows_the_cheap_slots_without_pv():
    raw = make_scenario(jobs=[_job(earliest_slot=1, deadline_slot=7)])
    raw["grid"]["import_price_eur_per_mwh"] = [10, 200, 200, 50, 40, 200, 200, 10]
    r = solve_scenario(raw)
    assert np.flatnonzero(power(r, "shredder-1") > TOL).tolist() == [3, 4]


def test_v2g_discharges_into_price_spike_and_meets_need():
    prices = [100.0] * 8
    prices[2] = 3000.0
    raw = make_scenario(evs=[ev(v2g=True), ev("van-02", v2g=False)])
    raw["grid"]["import_price_eur_per_mwh"] = prices
    raw["site"]["base_load_kw"] = [40.0] * 8
    r = solve_scenario(raw)
    v2g, plain = power(r, "truck-01"), power(r, "van-02")
    assert v2g[2] < -10  # discharges into the spike
    assert (plain >= -TOL).all() and plain[2] <= TOL
    for eid, p in (("truck-01", v2g), ("van-02", plain)):
        soc = 50 + np.cumsum(p)  # hourly slots: kW == kWh
        assert soc[-1] >= 50 + 30 - 1e-4, eid
        assert soc.min() >= 20 - 1e-4 and soc.max() <= 100 + 1e-4
        assert r.summary["evs"][eid]["shortfall_kwh"] == 0
    assert r.summary["shortfalls_kwh"] == {}
    assert r.summary["v2g"]["truck-01"]["discharged_kwh"] > 10
    assert r.summary["v2g"]["truck-01"]["payment_eur"] > 0
    assert_bus_balance(raw, r)


def test_v2g_never_discharges_below_min_soc():
    prices = [3000.0] * 4 + [100.0] * 4
    raw = make_scenario(evs=[ev(v2g=True, soc_kwh=40, min_soc_kwh=30)])
    raw["grid"]["import_price_eur_per_mwh"] = prices
    raw["site"]["base_load_kw"] = [40.0] * 8
    soc = 40 + np.cumsum(power(solve_scenario(raw), "truck-01"))
    assert soc.min() >= 30 - 1e-4 and soc[-1] >= 70 - 1e-4


def test_infeasible_ev_need_is_explained_and_planned_anyway():
    raw = make_scenario(
        evs=[
            ev(
                "truck-07",
                departure_slot=5,
                capacity_kwh=400,
                soc_kwh=100,
                energy_needed_kwh=180,
                max_charge_kw=22,
            )
        ]
    )
    r = solve_scenario(raw)
    s = r.summary
    assert s["shortfalls_kwh"] == {"truck-07": pytest.approx(70, abs=1e-3)}
    assert not s["feasible"]
    assert s["slacks_used"] == [{"slack": "ev_shortfall", "device_id": "truck-07", "kwh": 70.0}]
    assert s["explanations"][0].startswith(
        "truck-07 needs 180 kWh by 06:00 UTC, at most 110 kWh is deliverable (22 kW × 5 h"
    )
    np.testing.assert_allclose(power(r, "truck-07")[:5], 22)  # best relaxed plan: full power


def test_earliest_departure_is_served_first():
    # 20 kW import: 40 kWh before slot 2, 60 kWh before slot 3; both need 40 kWh
    evs = [
        ev("late", departure_slot=3, energy_needed_kwh=40, max_charge_kw=40),
        ev("early", departure_slot=2, energy_needed_kwh=40, max_charge_kw=40),
    ]
    raw = make_scenario(evs=evs)
    raw["grid"]["max_import_kw"] = 20
    raw["site"]["base_load_kw"] = [0.0] * 8
    r = solve_scenario(raw)
    s = r.summary
    assert s["shortfalls_kwh"] == {"late": pytest.approx(20, abs=1e-3)}
    assert s["evs"]["early"]["net_gain_kwh"] == pytest.approx(40, abs=1e-3)
    assert "late needs 40 kWh by 04:00 UTC; it gets 20 kWh" in s["explanations"][0]
    assert "grid import at its 20 kW limit" in s["explanations"][0]
    assert r.solution.import_kw.max() <= 20 + TOL


def test_battery_soc_bounds_and_terminal_target():
    raw = make_scenario(battery=battery(final_soc_kwh=150))
    raw["grid"]["import_price_eur_per_mwh"] = [20, 20, 20, 20, 300, 300, 300, 20]
    raw["site"]["base_load_kw"] = [60.0] * 8
    r = solve_scenario(raw)
    soc = r.solution.battery_soc_kwh
    assert soc.min() >= 20 - TOL and soc.max() <= 190 + TOL
    assert soc[-1] >= 150 - 1e-4
    p = power(r, "bess-1")
    assert p[:4].max() > 10  # charges when cheap (positive = draws from the bus)
    assert p[4:7].min() < -10  # discharges at the high price
    assert np.abs(p).max() <= 50 + TOL
    # SoC follows the sqrt(efficiency) split
    eta = np.sqrt(0.9)
    ch, dis = np.maximum(p, 0), np.maximum(-p, 0)
    np.testing.assert_allclose(soc, 100 + np.cumsum(eta * ch - dis / eta), atol=1e-4)
    assert r.summary["feasible"]
    assert_bus_balance(raw, r)


def test_unreachable_terminal_soc_is_a_listed_slack():
    raw = make_scenario(battery=battery(max_charge_kw=5, final_soc_kwh=190), slots=4)
    raw["site"] = {"base_load_kw": [0.0] * 4}
    for k in ("import_price_eur_per_mwh", "export_price_eur_per_mwh", "ci_g_per_kwh"):
        raw["grid"][k] = raw["grid"][k][:4]
    r = solve_scenario(raw)
    slacks = r.summary["slacks_used"]
    assert [s["slack"] for s in slacks] == ["battery_terminal_soc"]
    assert slacks[0]["kwh"] == pytest.approx(90 - 4 * 5 * np.sqrt(0.9), abs=1e-3)
    assert "bess-1 ends at" in r.summary["explanations"][0]


def test_import_limit_overrun_is_unserved_not_a_crash():
    raw = make_scenario(jobs=[_job(power_kw=500)])
    raw["site"]["base_load_kw"] = [450.0] * 8
    r = solve_scenario(raw)
    kinds = {s["slack"] for s in r.summary["slacks_used"]}
    assert kinds == {"unserved_base_load", "job_unscheduled"}
    assert r.solution.import_kw.max() <= 400 + TOL
    assert any("shredder-1" in e for e in r.summary["explanations"])
    assert_bus_balance(raw, r)


def test_peak_charge_flattens_import():
    raw = make_scenario(jobs=[_job(interruptible=True, duration_slots=4)])
    raw["grid"]["peak_charge_eur_per_kw"] = 10.0
    raw["grid"]["import_price_eur_per_mwh"] = [10, 10, 500, 500, 500, 500, 500, 500]
    r = solve_scenario(raw)
    # without a peak charge the job would run 100 kW in the two cheap slots
    assert r.solution.import_kw.max() < 110 - 1
    assert r.summary["objective"]["peak_charge_eur"] == pytest.approx(
        10 * r.solution.import_kw.max(), rel=1e-6
    )


def test_ev_departing_after_horizon_needs_only_what_it_cannot_get_later():
    raw = make_scenario(evs=[ev(departure_slot=10, energy_needed_kwh=50, max_charge_kw=20)])
    r = solve_scenario(raw)
    # 2 slots after the horizon can still deliver 40 kWh, so 10 kWh are needed now
    assert r.summary["evs"]["truck-01"]["needed_in_horizon_kwh"] == pytest.approx(10)
    assert power(r, "truck-01").sum() == pytest.approx(10, abs=1e-4)


def test_sign_convention_all_devices():
    raw = make_scenario(battery=battery(), evs=[ev(v2g=True)], jobs=[_job()])
    raw["site"]["pv_kw"] = [0, 0, 200, 250, 300, 250, 0, 0]
    raw["grid"]["import_price_eur_per_mwh"] = [300, 300, 20, 20, 20, 20, 900, 900]
    r = solve_scenario(raw)
    assert power(r, "shredder-1").min() >= -TOL  # a load is never negative
    assert power(r, "pv-curtailment").min() >= -TOL
    assert power(r, "bess-1").min() < 0 < power(r, "bess-1").max()
    assert_bus_balance(raw, r)


def test_baseline_is_never_cheaper_when_it_is_feasible():
    raw = make_scenario(battery=battery(), evs=[ev()], jobs=[_job()])
    raw["site"]["pv_kw"] = [0, 0, 30, 80, 80, 30, 0, 0]
    s = solve_scenario(raw).summary
    assert s["baseline"]["import_limit_exceeded_kw"] == 0
    assert s["avoided"]["cost_eur"] >= -1e-6
    assert s["objective"]["total_eur"] <= s["baseline"]["total_eur"] + 1e-6
    assert set(s["timing_s"]) == {"build", "solve", "total"}


def test_to_setpoint_plans():
    from datetime import UTC, datetime

    r = solve_scenario(make_scenario(evs=[ev()]))
    t = to_setpoint_plans(r, "p1", "day_ahead", datetime(2026, 11, 24, tzinfo=UTC), 60)
    assert t.columns == [
        "plan_id",
        "kind",
        "created_at_utc",
        "valid_from_utc",
        "valid_until_utc",
        "device_id",
        "slot_start_utc",
        "power_w",
    ]
    assert str(t["valid_until_utc"][0]) == "2026-11-24 09:00:00+00:00"
    np.testing.assert_allclose(t["power_w"].to_numpy(), r.frame["power_kw"].to_numpy() * 1000)
