"""The service puts the island actions on the wire through the registry's island switch,
before the setpoints, and records each write; site limits know the critical machines."""

import json

from control.devices import DeviceRegistry, FakeDriver
from control.island import IslandConfig
from control.model import GridState
from control.policy import PolicyConfig, decide
from control.serve import ServeParams, site_limits
from tests.control.test_service import LIMITS, T0, FakeClock, build, events, run


class FakeSwitch:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.seen: list[tuple] = []

    async def apply(self, actions) -> list[dict]:
        self.seen.append((actions.mode, actions.grid_forming, actions.connect_grid))
        if self.fail:
            raise ConnectionError("meter gone")
        if actions.connect_grid:
            return []
        return [{"device_id": "grid-relay", "point": "123.Conn", "value": 0}]


def test_switch_gets_the_actions_every_cycle_and_writes_are_events(tmp_path):
    clock = FakeClock()
    grid = {"state": GridState(power_w=1000.0, frequency_hz=50.0, at=T0)}

    async def read_grid():
        return grid["state"]

    drivers = {d: FakeDriver(d, clock, soc_pct=80.0) for d in LIMITS.devices}
    service, _, _ = build(
        tmp_path,
        clock,
        drivers=drivers,
        island=IslandConfig(resync_delay_s=10),
        grid=read_grid,
        policy_config=PolicyConfig(),
    )
    service.policy = decide
    switch = FakeSwitch()
    service.registry.island_switch = switch
    run(service.tick())
    clock.advance(5)
    grid["state"] = GridState(power_w=0.0, frequency_hz=47.0, at=clock.now())
    run(service.tick())
    assert switch.seen == [("grid", None, True), ("island", "battery-1", False)]
    (row,) = events(tmp_path).filter(event_type="island_switch").to_dicts()
    assert row["device_id"] == "grid-relay" and json.loads(row["detail"])["value"] == 0

    switch.fail = True
    clock.advance(1)
    run(service.tick())
    assert service.state.mode == "island"  # the cycle went on: setpoints still sent
    assert drivers["load-3dprinters"].sent[-1].source == "island"
    assert events(tmp_path).filter(event_type="island_switch_error").height == 1


def test_registry_without_switch_applies_nothing():
    assert run(DeviceRegistry({}).apply_island(object())) == []


def test_site_limits_mark_the_critical_machines(tmp_path):
    critical = (("load-server-room", 8_000.0), ("load-med-fridge", 3_000.0))
    plain = site_limits(ServeParams(lake_root=str(tmp_path)))
    assert not any(d.critical for d in plain.devices.values())
    for limits in (
        site_limits(ServeParams(lake_root=str(tmp_path), critical_machines=critical)),
        site_limits(ServeParams(lake_root=str(tmp_path)), critical_machines=critical),
    ):
        server, fridge = limits.devices["load-server-room"], limits.devices["load-med-fridge"]
        assert server.critical and fridge.critical and (server.max_w, fridge.max_w) == (8e3, 3e3)
        others = [d.shed_priority for d in limits.devices.values() if d.kind == "load"]
        assert fridge.shed_priority == max(others) and server.shed_priority == max(others) - 1
