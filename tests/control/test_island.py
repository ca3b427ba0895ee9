"""Island state machine: detection, shedding, the reserve, resync and the way back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control.island import (
    GRID,
    ISLAND,
    RESYNC,
    IslandConfig,
    IslandState,
    grid_fault,
    step,
)
from control.model import DeviceLimit, DeviceState, GridState, SiteLimits, Snapshot

T0 = datetime(2025, 1, 15, 17, 30, tzinfo=UTC)
CFG = IslandConfig()
LIMITS = SiteLimits(
    max_import_w=400_000,
    max_export_w=50_000,
    devices={
        d.device_id: d
        for d in (
            DeviceLimit("battery-1", "battery", -100_000, 100_000),
            DeviceLimit("charger-1", "charger", -11_000, 22_000),
            DeviceLimit("pv-curtailment", "pv", 0, float("inf")),
            # ids deliberately out of priority order
            DeviceLimit("load-a-hvac", "load", 0, 40_000, shed_priority=3),
            DeviceLimit("load-b-printers", "load", 0, 30_000, shed_priority=2),
            DeviceLimit("load-c-shredder", "load", 0, 120_000, shed_priority=1),
            DeviceLimit("load-fridge", "load", 0, 3_000, critical=True, shed_priority=10),
            DeviceLimit("load-server", "load", 0, 8_000, critical=True, shed_priority=9),
        )
    },
)
NON_CRITICAL_SHED_ORDER = ["load-c-shredder", "load-b-printers", "load-a-hvac"]


def good_grid(at: datetime, **kw) -> GridState:
    return GridState(
        **{"power_w": 20_000.0, "frequency_hz": 50.0, "voltage_v": 230.0, "at": at} | kw
    )


def bad_grid(at: datetime) -> GridState:
    return GridState(power_w=None, frequency_hz=None, voltage_v=0.0, at=at)


def snap(grid: GridState, soc: float | None = 60.0, battery_online: bool = True) -> Snapshot:
    devices = {d: DeviceState(d, True, 0.0, at=grid.at) for d in LIMITS.devices}
    devices["battery-1"] = DeviceState("battery-1", battery_online, 0.0, soc, grid.at)
    return Snapshot(devices, grid)


@pytest.mark.parametrize(
    ("grid", "expected"),
    [
        (good_grid(T0), None),
        (good_grid(T0, frequency_hz=49.5), None),
        (good_grid(T0, frequency_hz=50.5), None),
        (good_grid(T0, frequency_hz=49.4), "frequency"),
        (good_grid(T0, frequency_hz=50.6), "frequency"),
        (good_grid(T0, voltage_v=206.0), "voltage"),
        (good_grid(T0, voltage_v=254.0), "voltage"),
        (good_grid(T0, voltage_v=0.0), "voltage"),
        (good_grid(T0 - timedelta(seconds=5)), None),
        (good_grid(T0 - timedelta(seconds=6)), "loss of signal"),
        (good_grid(None), "loss of signal"),
        (good_grid(T0, grid_ok_signal=False), "grid-status signal"),
        (good_grid(T0, grid_ok_signal=True), None),
        (good_grid(T0, grid_ok_signal=True, frequency_hz=48.0), "frequency"),
        (good_grid(T0, frequency_hz=None, voltage_v=None), None),
    ],
    ids=[
        "nominal",
        "f at min",
        "f at max",
        "f low",
        "f high",
        "v low",
        "v high",
        "v zero",
        "meter 5 s old",
        "meter 6 s old",
        "no reading",
        "signal down",
        "signal up",
        "signal up but f out",
        "meter without f and v",
    ],
)
def test_grid_fault_detection(grid, expected):
    fault = grid_fault(grid, T0, CFG)
    assert (fault is None) if expected is None else (expected in fault)


@pytest.mark.parametrize(
    "grid",
    [
        good_grid(T0, frequency_hz=47.0),
        good_grid(T0, voltage_v=150.0),
        good_grid(T0 - timedelta(seconds=30)),
        good_grid(T0, grid_ok_signal=False),
    ],
    ids=["frequency", "voltage", "loss of signal", "explicit signal"],
)
def test_fault_islands_within_one_cycle(grid):
    state, events, actions = step(IslandState(), snap(grid), LIMITS, T0, CFG)
    assert state.mode == ISLAND and actions.mode == ISLAND
    assert actions.grid_forming == "battery-1" and actions.connect_grid is False
    assert [(e.kind, e.from_, e.to) for e in events][0] == ("transition", GRID, ISLAND)
    assert [e.device_id for e in events if e.kind == "shed"] == NON_CRITICAL_SHED_ORDER
    assert list(actions.loads_off) == NON_CRITICAL_SHED_ORDER
    # the battery covers both critical loads (no power reading: their max) and runs them
    assert actions.setpoints["battery-1"] == -11_000
    assert actions.setpoints["load-fridge"] == 3_000 and actions.setpoints["load-server"] == 8_000
    assert all(actions.setpoints[d] == 0 for d in NON_CRITICAL_SHED_ORDER)
    assert actions.setpoints["charger-1"] == 0 and actions.setpoints["pv-curtailment"] == 0
    assert events[0].details["shed"] == NON_CRITICAL_SHED_ORDER
    assert set(events[0].as_dict()) >= {"at", "from", "to", "reason", "details"}


@pytest.mark.parametrize(
    ("soc", "battery_min_w", "battery_online", "kept", "reason"),
    [
        (60.0, -100_000, True, {"load-fridge", "load-server"}, None),
        (30.1, -100_000, True, {"load-fridge", "load-server"}, None),
        (None, -100_000, True, {"load-fridge", "load-server"}, None),
        (30.0, -100_000, True, set(), "reserve"),
        (12.0, -100_000, True, set(), "reserve"),
        (60.0, -5_000, True, {"load-fridge"}, "discharge limit"),
        (60.0, -100_000, False, set(), "no battery online"),
    ],
    ids=[
        "well above",
        "just above",
        "soc unknown",
        "at reserve",
        "below",
        "battery too weak for both",
        "battery offline",
    ],
)
def test_critical_loads_and_reserve(soc, battery_min_w, battery_online, kept, reason):
    devices = dict(LIMITS.devices)
    devices["battery-1"] = DeviceLimit("battery-1", "battery", battery_min_w, 100_000)
    limits = SiteLimits(LIMITS.max_import_w, LIMITS.max_export_w, devices)
    s = snap(bad_grid(T0), soc=soc, battery_online=battery_online)
    _, events, actions = step(IslandState(), s, limits, T0, CFG)
    critical = {"load-fridge", "load-server"}
    assert critical - set(actions.loads_off) == kept
    shed_critical = [e for e in events if e.kind == "shed" and e.device_id in critical]
    assert {e.device_id for e in shed_critical} == critical - kept
    assert all(reason in e.reason for e in shed_critical)
    # critical loads are shed after every non-critical one
    assert list(actions.loads_off[:3]) == NON_CRITICAL_SHED_ORDER


@pytest.mark.parametrize(
    ("socs", "critical_on"),
    [
        ([60, 50, 40, 31], [True, True, True, True]),
        ([60, 30, 32, 34.9, 35.1], [True, False, False, False, True]),
        ([31, 29, 36, 29], [True, False, True, False]),
    ],
    ids=["drains above reserve", "hysteresis before coming back", "flaps with soc"],
)
def test_reserve_with_hysteresis_over_cycles(socs, critical_on):
    state = IslandState()
    seen = []
    for i, soc in enumerate(socs):
        now = T0 + timedelta(seconds=i)
        state, _, actions = step(state, snap(bad_grid(now), soc=soc), LIMITS, now, CFG)
        seen.append("load-fridge" not in actions.loads_off)
    assert seen == critical_on


def _run(sequence, config, soc=60.0):
    """(offset [s], grid good?) rows → the mode after each step, and every event."""
    state, modes, events, actions_seen = IslandState(), [], [], []
    for offset, good in sequence:
        now = T0 + timedelta(seconds=offset)
        grid = good_grid(now) if good else bad_grid(now)
        state, ev, actions = step(state, snap(grid, soc=soc), LIMITS, now, config)
        modes.append(state.mode)
        events += ev
        actions_seen.append(actions)
    return modes, events, actions_seen


@pytest.mark.parametrize(
    ("sequence", "modes"),
    [
        (
            [(0, False), (10, True), (30, True), (39, True), (40, True), (41, True)],
            [ISLAND, RESYNC, RESYNC, RESYNC, GRID, GRID],
        ),
        (
            [(0, False), (10, True), (35, False), (40, True), (65, True), (70, True)],
            [ISLAND, RESYNC, ISLAND, RESYNC, RESYNC, GRID],
        ),
        (
            [(0, False), (5, True), (6, False), (7, True), (8, False), (9, True), (39, True)],
            [ISLAND, RESYNC, ISLAND, RESYNC, ISLAND, RESYNC, GRID],
        ),
        ([(0, True), (1, True)], [GRID, GRID]),
    ],
    ids=["steady return", "one flap restarts the delay", "flapping grid", "never lost"],
)
def test_resync_delay(sequence, modes):
    got, events, actions = _run(sequence, CFG)
    assert got == modes
    for a, mode in zip(actions, modes, strict=True):
        assert a.connect_grid == (mode == GRID)
        assert (a.grid_forming is None) == (mode == GRID)


@pytest.mark.parametrize(
    ("restore_step_s", "soc", "restored_at"),
    [
        (
            0,
            60.0,
            {31: ["load-a-hvac", "load-b-printers", "load-c-shredder"]},
        ),
        (
            10,
            60.0,
            {31: ["load-a-hvac"], 41: ["load-b-printers"], 51: ["load-c-shredder"]},
        ),
        (
            10,
            20.0,
            {
                31: ["load-fridge"],
                41: ["load-server"],
                51: ["load-a-hvac"],
                61: ["load-b-printers"],
                71: ["load-c-shredder"],
            },
        ),
    ],
    ids=["all at once", "one per step", "critical ones first after a drained battery"],
)
def test_clean_return_restores_in_order(restore_step_s, soc, restored_at):
    config = IslandConfig(resync_delay_s=30, restore_step_s=restore_step_s)
    sequence = [(0, False), (1, True)] + [(t, True) for t in range(5, 81, 1)]
    modes, events, actions = _run(sequence, config, soc=soc)
    transitions = [(e.from_, e.to) for e in events if e.kind == "transition"]
    assert transitions == [(GRID, ISLAND), (ISLAND, RESYNC), (RESYNC, GRID)]
    reconnect = next(e for e in events if e.kind == "transition" and e.to == GRID)
    assert reconnect.at == T0 + timedelta(seconds=31)
    restores = {}
    for e in events:
        if e.kind == "restore":
            restores.setdefault(int((e.at - T0).total_seconds()), []).append(e.device_id)
    assert restores == restored_at
    assert actions[-1].loads_off == () and modes[-1] == GRID


def test_grid_lost_again_while_restoring_keeps_order():
    config = IslandConfig(resync_delay_s=0, restore_step_s=10)
    state = IslandState()
    for offset, good in [(0, False), (1, True), (2, True), (3, False)]:
        now = T0 + timedelta(seconds=offset)
        grid = good_grid(now) if good else bad_grid(now)
        state, events, actions = step(state, snap(grid), LIMITS, now, config)
    assert state.mode == ISLAND
    # hvac came back at 2 s and is shed again after the two still off
    assert list(actions.loads_off) == ["load-c-shredder", "load-b-printers", "load-a-hvac"]
    assert [e.device_id for e in events if e.kind == "shed"] == ["load-a-hvac"]


# Property: whatever the grid, SoC and battery, island setpoints stay within device limits and
# critical loads stay on exactly while the battery is above its reserve and strong enough.


@settings(max_examples=200, deadline=None)
@given(
    soc=st.one_of(st.none(), st.floats(0, 100)),
    battery_min_w=st.floats(-200_000, 0),
    battery_online=st.booleans(),
    fault=st.sampled_from(["frequency", "voltage", "silent", "signal"]),
)
def test_property_island_setpoints_within_limits(soc, battery_min_w, battery_online, fault):
    devices = dict(LIMITS.devices)
    devices["battery-1"] = DeviceLimit("battery-1", "battery", battery_min_w, 100_000)
    limits = SiteLimits(LIMITS.max_import_w, LIMITS.max_export_w, devices)
    grid = {
        "frequency": good_grid(T0, frequency_hz=51.0),
        "voltage": good_grid(T0, voltage_v=100.0),
        "silent": good_grid(T0 - timedelta(minutes=1)),
        "signal": good_grid(T0, grid_ok_signal=False),
    }[fault]
    _, _, actions = step(IslandState(), snap(grid, soc, battery_online), limits, T0, CFG)
    assert set(actions.setpoints) == set(limits.devices)
    for d, p in actions.setpoints.items():
        assert limits.devices[d].min_w <= p <= limits.devices[d].max_w
    critical_on = [d for d in ("load-fridge", "load-server") if d not in actions.loads_off]
    above = soc is None or soc > CFG.reserve_soc_pct
    if not battery_online or not above:
        assert critical_on == []
    elif -battery_min_w >= 11_000:
        assert critical_on == ["load-fridge", "load-server"]
    covered = sum(limits.devices[d].max_w for d in critical_on)
    assert covered <= -battery_min_w
    if battery_online:
        assert actions.setpoints["battery-1"] == -covered
