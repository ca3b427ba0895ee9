"""The grid meter (model 203 + relay), the grid-forming battery and the site physics, on
loopback through the service's SunSpec meter reader and island switch."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sunspec2

from control.adapters import sunspec_registers as reg
from control.adapters.sunspec_client import SunSpecClient
from control.adapters.sunspec_island_model import ISLAND_MODEL_ID
from control.adapters.sunspec_meter import SunSpecGridMeter
from control.island import IslandActions, IslandConfig, grid_fault
from control.island_switch import SunSpecIslandSwitch
from control.sim.grid_forming_battery import GridFormingBattery
from control.sim.grid_meter import SimulatedGridMeter, start_grid_meter
from control.sim.site_physics import SitePhysics, scripted_blackout
from control.sim.sunspec_devices import SimulatedInverter, start_device_server

JSON_DIR = Path(sunspec2.__file__).parent / "models" / "json"


class StepClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class UtcClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def test_model_203_offsets_match_the_sunspec_json():
    group = json.loads((JSON_DIR / "model_203.json").read_text())["group"]
    offsets, offset = {}, 0
    for p in group["points"]:
        offsets[p["name"]] = (offset, p["type"], p.get("sf"))
        offset += p["size"]
    assert reg.METER_3PH_WYE.length == offset - 2 == 105
    expected = {
        "PhV": 7,
        "PhVphA": 8,
        "PhVphB": 9,
        "PhVphC": 10,
        "V_SF": 15,
        "Hz": 16,
        "Hz_SF": 17,
        "W": 18,
        "W_SF": 22,
    }
    for name, at in expected.items():
        point = reg.METER_3PH_WYE[name]
        assert (point.offset, point.type, point.sf) == offsets[name] and point.offset == at
    declared = set(expected) | {"ID", "L"}
    gaps = tuple(
        o for n, (o, t, _) in offsets.items() if n not in declared and t in {"int16", "sunssf"}
    )
    assert reg.METER_3PH_WYE.signed_gaps == gaps


def test_meter_shows_the_site_exchange_and_the_blackout():
    meter = SimulatedGridMeter()
    meter.site_w = 123_400.0
    meter.update()
    assert meter.image.get_scaled(203, "W") == 123_400.0
    assert meter.image.get_scaled(203, "Hz") == 50.0
    assert meter.image.get_scaled(203, "PhVphB") == 230.0
    meter.blackout(True)
    assert meter.image.get_scaled(203, "PhV") == 0.0 and meter.image.get_scaled(203, "W") == 0
    meter.blackout(False)
    assert meter.write_registers(meter.image.address(123, "Conn"), [0]) is None
    assert meter.islanded and meter.image.get_scaled(203, "W") == 0
    assert meter.image.get_scaled(203, "Hz") == 50.0  # grid side of the relay: grid still seen


def test_grid_forming_battery_follows_the_bus_and_integrates_soc():
    clock = StepClock()
    battery = GridFormingBattery(capacity_wh=100_000.0, soc_pct=50.0, clock=clock)
    meter = SimulatedGridMeter()
    inverter = SimulatedInverter(available_pv_w=5_000.0, clock=clock)
    physics = SitePhysics(meter, battery, inverter, [lambda: 8_000.0, lambda: 3_000.0], 60_000.0)
    physics.step()
    assert battery.power_w == 0.0  # grid-following, no setpoint: idle
    assert meter.site_w == 60_000.0 + 11_000.0 - 5_000.0
    address = battery.image.address(ISLAND_MODEL_ID, "GridForm")
    assert battery.write_registers(address, [1]) is None
    physics.step()
    assert battery.power_w == -6_000.0  # supplies the islanded bus, PV included
    assert battery.image.get(ISLAND_MODEL_ID, "GridForm_St") == 1
    clock.t = 600.0
    battery.tick()
    assert battery.soc_pct == pytest.approx(50.0 - 100 * 6_000.0 / 6 / 100_000.0)
    assert battery.write_registers(address, [2]) is not None  # out of range


def test_reader_and_switch_over_modbus():
    async def go():
        clock = StepClock()
        meter = SimulatedGridMeter(clock=clock)
        battery = GridFormingBattery(clock=clock)
        meter.site_w = 50_000.0
        meter.update()
        meter_server, meter_port = await start_grid_meter(meter, "127.0.0.1", 0)
        battery_server, battery_port = await start_device_server(battery, "127.0.0.1", 0)
        reader = SunSpecGridMeter(
            SunSpecClient("127.0.0.1", meter_port, timeout_s=0.3, reconnect_s=0.2), UtcClock()
        )
        forming = SunSpecClient("127.0.0.1", battery_port)
        switch = SunSpecIslandSwitch(reader, {"battery-1": forming})
        try:
            good = await reader()
            assert (good.power_w, good.frequency_hz, good.voltage_v) == (50_000.0, 50.0, 230.0)
            meter.blackout(True)
            dead = await reader()
            config = IslandConfig()
            assert dead.voltage_v == 0.0
            assert grid_fault(dead, dead.at, config).startswith("frequency 0.00 Hz")
            changes = await switch.apply(IslandActions("island", "battery-1", False))
            assert [(c["device_id"], c["value"]) for c in changes] == [
                ("grid-relay", 0),
                ("battery-1", 1),
            ]
            assert not meter.relay_closed and battery.grid_forming
            assert await switch.apply(IslandActions("island", "battery-1", False)) == []
            meter.blackout(True, silent=True)
            lost = await asyncio.wait_for(reader(), 5)
            assert lost is dead  # the last reading, ageing into loss of signal
            later = dead.at + timedelta(seconds=config.loss_of_signal_s + 1)
            assert grid_fault(lost, later, config).startswith("loss of signal")
            # a silent meter does not keep the battery from being told
            changes = await switch.apply(IslandActions("grid", None, True))
            assert changes[0]["device_id"] == "grid-relay" and "error" in changes[0]
            assert changes[1] == {"device_id": "battery-1", "point": "64250.GridForm", "value": 0}
            meter.blackout(False)
            await asyncio.sleep(0.3)
            changes = await switch.apply(IslandActions("grid", None, True))
            assert changes == [{"device_id": "grid-relay", "point": "123.Conn", "value": 1}]
            assert meter.relay_closed and not battery.grid_forming
        finally:
            await reader.close()
            await switch.close()
            await meter_server.shutdown()
            await battery_server.shutdown()

    asyncio.run(asyncio.wait_for(go(), 20))


def test_scripted_blackout_takes_the_grid_down_for_its_duration():
    async def go():
        meter = SimulatedGridMeter()
        task = asyncio.create_task(scripted_blackout(meter, 0.1, 0.3))
        await asyncio.sleep(0.2)
        down = meter.grid_up, meter.image.get_scaled(203, "Hz")
        await asyncio.wait_for(task, 2)
        return down, meter.grid_up

    (was_up, hz), up_after = asyncio.run(go())
    assert (was_up, hz, up_after) == (False, 0.0, True)
