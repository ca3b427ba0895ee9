"""A deterministic evening-peak blackout over the pure island machine and policy.

A tiny physics model closes the loop: devices draw what they were told, the battery's SoC
integrates its power, and while islanded the grid-forming battery supplies every powered
load. The site's uncontrolled base load sits on the part of the site the island does not
back up, so it is dark during the blackout. ``run`` returns one ``Tick`` per control cycle;
``tests/control/test_island_blackout.py`` (``make test-island``) asserts on the timeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from control.island import GRID, IslandActions, IslandConfig, IslandEvent, IslandState, step
from control.model import (
    DeviceLimit,
    DeviceState,
    GridState,
    PlanSlot,
    Setpoint,
    SiteLimits,
    Snapshot,
)
from control.policy import PolicyConfig, decide

SITE = SiteLimits(
    max_import_w=250_000,
    max_export_w=50_000,
    devices={
        d.device_id: d
        for d in (
            DeviceLimit("battery-1", "battery", -100_000, 100_000),
            DeviceLimit("charger-1", "charger", -11_000, 22_000),
            DeviceLimit("charger-2", "charger", 0, 22_000),
            DeviceLimit("load-shredder-2", "load", 0, 120_000, shed_priority=1),
            DeviceLimit("load-3dprinters", "load", 0, 30_000, shed_priority=2),
            DeviceLimit("load-hvac", "load", 0, 40_000, shed_priority=3),
            DeviceLimit("load-medical-fridge", "load", 0, 3_000, critical=True, shed_priority=10),
            DeviceLimit("load-server-room", "load", 0, 8_000, critical=True, shed_priority=9),
            DeviceLimit("pv-curtailment", "pv", 0, float("inf")),
        )
    },
)
LOADS = tuple(d for d, lim in SITE.devices.items() if lim.kind == "load")
CRITICAL = tuple(d for d in LOADS if SITE.devices[d].critical)


@dataclass(frozen=True)
class Scenario:
    """The evening the timeline plays.

    Attributes
    ----------
    start : datetime
        First cycle (UTC); 16:30 UTC is 17:30 in Central Europe in winter, the evening peak.
    duration_s, cycle_s : int
        Length of the run and of a control cycle [s].
    outages : tuple of (int, int)
        Grid down from, until [s after start]; a short second outage is a flapping return.
    soc0_pct : float
        Battery SoC at start [%].
    capacity_wh : float
        Battery energy [Wh].
    battery_plan_w : float
        The plan's battery power through the evening [W] (negative: shave the peak).
    base_load_w : float
        Uncontrollable site load on the grid side of the island [W].
    """

    start: datetime = datetime(2025, 1, 15, 16, 30, tzinfo=UTC)
    duration_s: int = 3600
    cycle_s: int = 2
    outages: tuple[tuple[int, int], ...] = ((600, 1800), (1812, 1820))
    soc0_pct: float = 70.0
    capacity_wh: float = 200_000.0
    battery_plan_w: float = -60_000.0
    base_load_w: float = 40_000.0
    island: IslandConfig = field(
        default_factory=lambda: IslandConfig(
            resync_delay_s=30, restore_step_s=10, reserve_soc_pct=30
        )
    )
    policy: PolicyConfig = field(default_factory=lambda: PolicyConfig(setpoint_ttl_s=10))


@dataclass(frozen=True)
class Tick:
    """One control cycle: what was measured, decided and then physically happened."""

    at: datetime
    grid_up: bool
    soc_pct: float
    """SoC the cycle measured [%]."""
    mode: str
    actions: IslandActions
    events: list[IslandEvent]
    setpoints: dict[str, Setpoint]
    powered: dict[str, bool]
    """Whether each load had power during the cycle."""
    grid_w: float
    """Net grid import during the cycle [W]; 0 while islanded."""


def plan_for(scenario: Scenario, now: datetime) -> PlanSlot:
    """The 15-minute plan slot containing ``now``: every machine runs, EVs charge."""
    start = now - timedelta(minutes=now.minute % 15, seconds=now.second)
    power_w = {d: SITE.devices[d].max_w for d in LOADS}
    power_w |= {"battery-1": scenario.battery_plan_w, "charger-1": 11_000, "charger-2": 11_000}
    power_w["pv-curtailment"] = 0.0
    return PlanSlot(f"plan-{start:%H%M}", start, start + timedelta(minutes=15), power_w)


def _grid_up(scenario: Scenario, offset_s: int) -> bool:
    return not any(a <= offset_s < b for a, b in scenario.outages)


def run(scenario: Scenario) -> list[Tick]:
    """Play the scenario; one ``Tick`` per cycle."""
    soc = scenario.soc0_pct
    power = dict.fromkeys(SITE.devices, 0.0)  # what each device drew in the last cycle [W]
    state = IslandState()
    ticks: list[Tick] = []
    for offset in range(0, scenario.duration_s, scenario.cycle_s):
        now = scenario.start + timedelta(seconds=offset)
        up = _grid_up(scenario, offset)
        devices = {
            d: DeviceState(d, True, power[d], soc if d == "battery-1" else None, now)
            for d in SITE.devices
        }
        if up:
            grid = GridState(scenario.base_load_w + sum(power.values()), 50.0, 230.0, now)
        else:
            grid = GridState(None, None, 0.0, now)
        snapshot = Snapshot(devices, grid)

        state, events, actions = step(state, snapshot, SITE, now, scenario.island)
        decision = decide(
            plan_for(scenario, now), snapshot, SITE, [], now, scenario.policy, island=actions
        )

        # physics for this cycle
        connected = actions.connect_grid and up
        for d, sp in decision.setpoints.items():
            power[d] = sp.power_w
        if actions.mode != GRID:
            # the grid-forming battery balances the island bus; PV is dark in the evening
            island_load = sum(p for d, p in power.items() if d != "battery-1" and p > 0)
            power["battery-1"] = -island_load
        powered = {d: power[d] > 0 and (connected or actions.mode != GRID) for d in LOADS}
        grid_w = scenario.base_load_w + sum(power.values()) if connected else 0.0
        ticks.append(
            Tick(now, up, soc, state.mode, actions, events, decision.setpoints, powered, grid_w)
        )
        soc += power["battery-1"] * scenario.cycle_s / 3600 / scenario.capacity_wh * 100
        soc = min(max(soc, 0.0), 100.0)
    return ticks
