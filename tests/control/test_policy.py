"""The control policy: plan, overrides, safe default, offline, device and site clamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from control.island import IslandActions
from control.model import (
    DeviceLimit,
    DeviceState,
    GridState,
    Override,
    PlanSlot,
    SiteLimits,
    Snapshot,
)
from control.policy import PolicyConfig, base_load_w, decide

NOW = datetime(2025, 1, 15, 17, 10, tzinfo=UTC)
CFG = PolicyConfig(setpoint_ttl_s=60, min_charge_w=4140)
DEVICES = (
    DeviceLimit("battery-1", "battery", -100_000, 100_000),
    DeviceLimit("battery-2", "battery", -50_000, 50_000),
    DeviceLimit("charger-1", "charger", -11_000, 22_000),
    DeviceLimit("charger-2", "charger", 0, 11_000),
    DeviceLimit("load-shredder", "load", 0, 120_000, shed_priority=1),
    DeviceLimit("load-printers", "load", 0, 30_000, shed_priority=2),
    DeviceLimit("load-fridge", "load", 0, 3_000, critical=True, shed_priority=10),
    DeviceLimit("pv-curtailment", "pv", 0, float("inf")),
)
LIMITS = SiteLimits(400_000, 50_000, {d.device_id: d for d in DEVICES})


def plan(powers: dict[str, float], start=NOW - timedelta(minutes=10), fill=True) -> PlanSlot:
    """A 15-minute plan slot; with ``fill``, devices not given are planned at 0 W."""
    if fill:
        powers = dict.fromkeys(LIMITS.devices, 0.0) | powers
    return PlanSlot("plan-7", start, start + timedelta(minutes=15), powers)


def snap(base_w: float = 50_000, measured=None, offline=(), missing=()) -> Snapshot:
    """A snapshot whose uncontrollable base is ``base_w`` [W]."""
    measured = measured or {}
    devices = {
        d: DeviceState(d, d not in offline, measured.get(d, 0.0), 50.0, NOW)
        for d in LIMITS.devices
        if d not in missing
    }
    grid_w = base_w + sum(s.power_w for s in devices.values() if s.online)
    return Snapshot(devices, GridState(grid_w, 50.0, 230.0, NOW))


def override(device_id, power_w, expires_in_s, reason="operator"):
    return Override(device_id, power_w, NOW + timedelta(seconds=expires_in_s), reason)


SAFE = {
    "battery-1": (0, "safe_default"),
    "battery-2": (0, "safe_default"),
    "charger-1": (4140, "safe_default"),
    "charger-2": (4140, "safe_default"),
    "load-shredder": (0, "safe_default"),
    "load-printers": (0, "safe_default"),
    "load-fridge": (3000, "safe_default"),
    "pv-curtailment": (0, "safe_default"),
}

# id, plan, snapshot, overrides, island, expected {device: (power, source)}, clamps, note
CASES = [
    (
        "plan followed",
        plan({"battery-1": -20_000, "charger-1": 11_000, "load-shredder": 120_000}, fill=False),
        snap(),
        [],
        None,
        {
            "battery-1": (-20_000, "plan"),
            "charger-1": (11_000, "plan"),
            "load-shredder": (120_000, "plan"),
            "load-printers": (0, "safe_default"),
        },
        set(),
        "load-printers: not in plan",
    ),
    (
        "override active",
        plan({"battery-1": -20_000}),
        snap(),
        [override("battery-1", 30_000, 300)],
        None,
        {"battery-1": (30_000, "override")},
        set(),
        None,
    ),
    (
        "override expired",
        plan({"battery-1": -20_000}),
        snap(),
        [override("battery-1", 30_000, 0)],
        None,
        {"battery-1": (-20_000, "plan")},
        set(),
        "override for battery-1 expired",
    ),
    (
        "last override wins",
        plan({"battery-1": -20_000}),
        snap(),
        [override("battery-1", 30_000, 300), override("battery-1", 10_000, 300)],
        None,
        {"battery-1": (10_000, "override")},
        set(),
        None,
    ),
    (
        "stale plan",
        plan({"battery-1": -80_000}, start=NOW - timedelta(minutes=25)),
        snap(),
        [],
        None,
        SAFE,
        set(),
        "stale",
    ),
    ("missing plan", None, snap(), [], None, SAFE, set(), "no plan"),
    (
        "plan from the future",
        plan({"battery-1": -80_000}, start=NOW + timedelta(minutes=5)),
        snap(),
        [],
        None,
        SAFE,
        set(),
        "stale",
    ),
    (
        "override beats safe default",
        None,
        snap(),
        [override("charger-2", 11_000, 300)],
        None,
        {"charger-2": (11_000, "override"), "battery-1": (0, "safe_default")},
        set(),
        None,
    ),
    (
        "device limit clamp",
        plan({"battery-1": 150_000, "charger-2": -5_000, "pv-curtailment": -1}),
        snap(),
        [override("charger-1", -30_000, 300)],
        None,
        {
            "battery-1": (100_000, "plan"),
            "charger-2": (0, "plan"),
            "charger-1": (-11_000, "override"),
            "pv-curtailment": (0, "plan"),
        },
        {
            ("battery-1", "max_w"),
            ("charger-2", "min_w"),
            ("charger-1", "min_w"),
            ("pv-curtailment", "min_w"),
        },
        None,
    ),
    (
        "import clamp: chargers, battery charging, then flexible loads",
        plan(
            {
                "charger-1": 22_000,
                "charger-2": 11_000,
                "battery-1": 50_000,
                "load-shredder": 120_000,
                "load-printers": 30_000,
                "load-fridge": 3_000,
            }
        ),
        snap(base_w=300_000),
        [],
        None,
        {
            "charger-1": (0, "plan"),
            "charger-2": (0, "plan"),
            "battery-1": (0, "plan"),
            "load-shredder": (67_000, "plan"),
            "load-printers": (30_000, "plan"),
            "load-fridge": (3_000, "plan"),
        },
        {
            ("charger-1", "max_import_w"),
            ("charger-2", "max_import_w"),
            ("battery-1", "max_import_w"),
            ("load-shredder", "max_import_w"),
        },
        None,
    ),
    (
        "import clamp: discharge when draws are exhausted, critical load kept",
        plan({"load-fridge": 3_000, "pv-curtailment": 10_000}),
        snap(base_w=450_000),
        [],
        None,
        {
            "pv-curtailment": (0, "plan"),
            "battery-1": (-53_000, "plan"),
            "load-fridge": (3_000, "plan"),
        },
        {("pv-curtailment", "max_import_w"), ("battery-1", "max_import_w")},
        None,
    ),
    (
        "export clamp: curtail PV first",
        plan({"battery-1": -30_000}),
        snap(base_w=-120_000),
        [],
        None,
        {"pv-curtailment": (100_000, "plan"), "battery-1": (-30_000, "plan")},
        {("pv-curtailment", "max_export_w")},
        None,
    ),
    (
        "export clamp: PV known to be produced, then less discharge",
        plan({"battery-1": -100_000}),
        snap(base_w=-60_000),
        [],
        None,
        {"pv-curtailment": (60_000, "plan"), "battery-1": (-50_000, "plan")},
        {("pv-curtailment", "max_export_w"), ("battery-1", "max_export_w")},
        None,
    ),
    (
        "export clamp: PV curtailment offline, batteries charge",
        plan({}),
        snap(base_w=-200_000, offline=("pv-curtailment",)),
        [],
        None,
        {
            "battery-1": (100_000, "plan"),
            "battery-2": (50_000, "plan"),
            "charger-1": (0, "plan"),
            "pv-curtailment": (0, "offline"),
        },
        {("battery-1", "max_export_w"), ("battery-2", "max_export_w")},
        None,
    ),
    (
        "export clamp: an override yields to the site limit, no lever left",
        plan({}),
        snap(base_w=-300_000, offline=("pv-curtailment",)),
        [override("charger-1", -11_000, 300)],
        None,
        {
            "battery-1": (100_000, "plan"),
            "battery-2": (50_000, "plan"),
            "charger-1": (22_000, "override"),
            "charger-2": (11_000, "plan"),
        },
        {
            ("battery-1", "max_export_w"),
            ("battery-2", "max_export_w"),
            ("charger-1", "max_export_w"),
            ("charger-2", "max_export_w"),
        },
        "no lever left",
    ),
    (
        "battery offline: its plan moves to the other battery within limits",
        plan({"battery-1": -80_000, "battery-2": -40_000}),
        snap(offline=("battery-2",)),
        [],
        None,
        {"battery-1": (-100_000, "plan"), "battery-2": (0, "offline")},
        set(),
        "battery-2: offline, -20000 W of its plan did not fit",
    ),
    (
        "charger offline: not re-balanced, missing device is offline",
        plan({"charger-1": 11_000, "charger-2": 5_000}),
        snap(offline=("charger-1",), missing=("load-printers",)),
        [],
        None,
        {
            "charger-1": (0, "offline"),
            "charger-2": (5_000, "plan"),
            "load-printers": (0, "offline"),
        },
        set(),
        "charger-1: offline, planned 11000 W not re-balanced",
    ),
    (
        "island setpoints replace the plan",
        plan({"battery-1": 80_000, "load-shredder": 120_000}),
        snap(base_w=-200_000),
        [override("charger-1", 22_000, 300)],
        IslandActions(
            "island",
            "battery-1",
            False,
            ("load-shredder",),
            (),
            {"battery-1": -3_000, "load-fridge": 3_000, "load-shredder": 0, "charger-1": 0},
        ),
        {
            "battery-1": (-3_000, "island"),
            "load-fridge": (3_000, "island"),
            "load-shredder": (0, "island"),
            "charger-1": (0, "island"),
        },
        set(),
        None,
    ),
    (
        "after reconnection, loads not yet restored stay off",
        plan({"load-shredder": 120_000, "load-printers": 30_000}),
        snap(),
        [],
        IslandActions("grid", None, True, ("load-shredder",), ("load-printers",), {}),
        {"load-shredder": (0, "island"), "load-printers": (30_000, "plan")},
        set(),
        "held off",
    ),
]


@pytest.mark.parametrize(
    ("plan_slot", "snapshot", "overrides", "island", "expected", "clamps", "note"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_decide(plan_slot, snapshot, overrides, island, expected, clamps, note):
    decision = decide(plan_slot, snapshot, LIMITS, overrides, NOW, CFG, island=island)
    assert set(decision.setpoints) == set(LIMITS.devices)
    got = {d: (decision.setpoints[d].power_w, decision.setpoints[d].source) for d in expected}
    assert got == expected
    assert {(c.device_id, c.limit) for c in decision.clamp_details} == clamps
    assert len(decision.clamps) == len(decision.clamp_details)
    for c in decision.clamp_details:
        assert decision.setpoints[c.device_id].clamped
        assert decision.setpoints[c.device_id].power_w == c.given_w
    if note is not None:
        assert any(note in n for n in decision.notes), decision.notes


@pytest.mark.parametrize(
    ("plan_slot", "overrides", "grace_s", "device", "source", "valid_until"),
    [
        (plan({"battery-1": 1}), [], 0, "battery-1", "plan", NOW + timedelta(seconds=60)),
        (
            plan({"battery-1": 1}, start=NOW - timedelta(seconds=890)),
            [],
            30,
            "battery-1",
            "plan",
            NOW + timedelta(seconds=60),
        ),
        (
            plan({"battery-1": 1}, start=NOW - timedelta(seconds=920)),
            [],
            30,
            "battery-1",
            "plan",
            NOW + timedelta(seconds=40),
        ),
        (
            plan({"battery-1": 1}, start=NOW - timedelta(seconds=931)),
            [],
            30,
            "battery-1",
            "safe_default",
            NOW + timedelta(seconds=60),
        ),
        (
            None,
            [override("battery-1", 5, 20)],
            0,
            "battery-1",
            "override",
            NOW + timedelta(seconds=20),
        ),
        (
            None,
            [override("battery-1", 5, 600)],
            0,
            "battery-1",
            "override",
            NOW + timedelta(seconds=60),
        ),
        (None, [], 0, "charger-1", "safe_default", NOW + timedelta(seconds=60)),
    ],
    ids=[
        "plan: now + ttl",
        "plan slot ends in 10 s: still now + ttl",
        "within grace: slot end + ttl",
        "past grace: stale",
        "override ends first",
        "ttl ends first",
        "safe default",
    ],
)
def test_valid_until(plan_slot, overrides, grace_s, device, source, valid_until):
    config = PolicyConfig(setpoint_ttl_s=60, plan_grace_s=grace_s)
    sp = decide(plan_slot, snap(), LIMITS, overrides, NOW, config).setpoints[device]
    assert (sp.source, sp.valid_until) == (source, valid_until)


def test_no_grid_reading_uses_a_zero_base():
    s = snap()
    s = Snapshot(s.devices, GridState(None, at=NOW))
    assert base_load_w(s, LIMITS) is None
    decision = decide(plan({"battery-1": 100_000}), s, LIMITS, [], NOW, CFG)
    assert decision.setpoints["battery-1"].power_w == 100_000
    assert any("no grid reading" in n for n in decision.notes)


def test_non_finite_plan_value_gives_safe_default():
    decision = decide(plan({"charger-2": float("nan")}), snap(), LIMITS, [], NOW, CFG)
    assert decision.setpoints["charger-2"].source == "safe_default"


# Property: whatever the plan, overrides and telemetry, no setpoint breaks a device limit and
# the estimated site net stays within the grid limits whenever the levers allow it.

powers = st.floats(-300_000, 300_000, allow_nan=False)


@st.composite
def cycles(draw):
    ids = list(LIMITS.devices)
    limits = SiteLimits(
        draw(st.floats(0, 500_000)), draw(st.floats(0, 200_000)), dict(LIMITS.devices)
    )
    kind = draw(st.sampled_from(["fresh", "stale", "none"]))
    slot = None
    if kind != "none":
        start = NOW - timedelta(minutes=10 if kind == "fresh" else 30)
        slot = plan(draw(st.dictionaries(st.sampled_from(ids), powers)), start=start)
    overrides = [
        override(d, p, s)
        for d, p, s in draw(
            st.lists(st.tuples(st.sampled_from(ids), powers, st.integers(-600, 600)), max_size=4)
        )
    ]
    offline = draw(st.sets(st.sampled_from(ids)))
    measured = {d: draw(st.floats(-120_000, 120_000)) for d in ids}
    return limits, slot, overrides, snap(draw(powers), measured, offline), offline


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cycles())
def test_property_limits_hold(case):
    limits, slot, overrides, snapshot, offline = case
    decision = decide(slot, snapshot, limits, overrides, NOW, CFG)
    online = {d: sp for d, sp in decision.setpoints.items() if sp.source != "offline"}
    assert set(online) == set(limits.devices) - offline
    for d, sp in online.items():
        dev = limits.devices[d]
        assert dev.min_w - 1e-6 <= sp.power_w <= dev.max_w + 1e-6, (d, sp)
        assert sp.valid_until <= NOW + timedelta(seconds=CFG.setpoint_ttl_s)

    base = base_load_w(snapshot, limits)
    net = base + sum(sp.power_w for sp in online.values())
    # the reach of the levers: critical loads fixed, other loads only switched off (never on
    # to absorb export), PV curtailed up to what is known to be produced
    lo = hi = base
    for d, sp in online.items():
        dev = limits.devices[d]
        if dev.critical:
            lo, hi = lo + sp.power_w, hi + sp.power_w
        elif dev.kind == "load":
            lo, hi = lo + dev.min_w, hi + sp.power_w
        elif dev.kind == "pv":
            lo += dev.min_w
            hi += max(sp.power_w, -base, 0.0)
        else:
            lo, hi = lo + dev.min_w, hi + dev.max_w
    if lo <= limits.max_import_w + 1e-3 and hi >= -limits.max_export_w - 1e-3:
        assert -limits.max_export_w - 1e-3 <= net <= limits.max_import_w + 1e-3
