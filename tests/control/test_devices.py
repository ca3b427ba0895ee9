"""Drivers: the setpoint's expiry on the wire, acks, reads; SunSpec ones against the simulator."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from control.adapters.mqtt_channel import SetpointError
from control.devices import (
    DeviceOffline,
    DeviceRegistry,
    FakeDriver,
    MqttLoadDriver,
    OcppChargerDriver,
    SunSpecBatteryDriver,
    SunSpecInverterDriver,
)
from control.model import Setpoint

T0 = datetime(2025, 6, 1, 12, tzinfo=UTC)


class Clock:
    def now(self):
        return T0


def run(coro, timeout_s=20):
    return asyncio.run(asyncio.wait_for(coro, timeout_s))


def sp(device_id, power_w, ttl_s=600, source="plan"):
    return Setpoint(device_id, power_w, T0 + timedelta(seconds=ttl_s), source)


def test_fake_driver_records_and_fails_on_demand():
    d = FakeDriver("x", Clock())
    ack = run(d.send(sp("x", 5.0)))
    assert ack["status"] == "Accepted" and ack["payload"]["power_w"] == 5.0
    assert run(d.read()).power_w == 5.0
    d.fail_send = True
    with pytest.raises(DeviceOffline):
        run(d.send(sp("x", 1.0)))


def test_registry_reports_an_unknown_grid_without_a_reader():
    reg = DeviceRegistry({"b": FakeDriver("b", Clock()), "a": FakeDriver("a", Clock())})
    assert reg.ids() == ["a", "b"] and "a" in reg and "z" not in reg
    assert run(reg.read_grid()).power_w is None


class FakeInverter:
    def __init__(self):
        self.client = type("C", (), {"online": True})()
        self.calls = []
        self.values = {"power_w": -60_000.0, "rated_w": 100_000.0, "limit_pct": None}

    async def set_limit_pct(self, pct, revert_s):
        self.calls.append((pct, revert_s))

    async def read(self):
        return self.values


def test_curtailment_becomes_a_limit_below_the_uncurtailed_production_with_revert_timer():
    inv = FakeInverter()
    drv = SunSpecInverterDriver(inv, Clock())
    state = run(drv.read())
    # its power is the curtailment in force (the plan's convention): none while not limiting
    assert state.device_id == "pv-curtailment" and state.online and state.power_w == 0.0
    ack = run(drv.send(sp("pv-curtailment", 20_000.0, ttl_s=900)))
    assert inv.calls == [(40.0, 900)]
    assert ack["payload"]["WMaxLimPct_RvrtTms"] == 900
    run(drv.send(sp("pv-curtailment", 0.0)))
    assert inv.calls[-1][0] == 100.0
    inv.values = {"power_w": -40_000.0, "rated_w": 100_000.0, "limit_pct": 40.0}
    state = run(drv.read())  # limited: not a measure of what the panels give
    assert drv.uncurtailed_w == 60_000.0 and state.power_w == 20_000.0


class FakeLoad:
    def __init__(self, error=None):
        self.device_id = "load-3dprinters"
        self.channel = type("Ch", (), {"presence": {"load-3dprinters": True}})()
        self.error = error
        self.calls = []

    async def set_running(self, running, valid_until):
        if self.error:
            raise self.error
        self.calls.append((running, valid_until))

    async def power(self):
        return 1200.0


def test_mqtt_load_runs_above_threshold_and_broker_refusal_is_a_rejected_ack():
    load = FakeLoad()
    drv = MqttLoadDriver(load, Clock())
    assert run(drv.send(sp(load.device_id, 30_000.0)))["payload"]["running"] is True
    run(drv.send(sp(load.device_id, 0.0)))
    assert [c[0] for c in load.calls] == [True, False]
    assert load.calls[0][1] == T0 + timedelta(seconds=600)
    state = run(drv.read())
    assert state.online and state.power_w == 1200.0
    refused = MqttLoadDriver(FakeLoad(SetpointError(load.device_id, 0x87, "no")), Clock())
    ack = run(refused.send(sp(load.device_id, 1.0)))
    assert ack["status"] == "Rejected" and ack["detail"]["reason_code"] == 0x87
    silent = MqttLoadDriver(FakeLoad(SetpointError(load.device_id, None, "no puback")), Clock())
    with pytest.raises(SetpointError):
        run(silent.send(sp(load.device_id, 1.0)))


def test_ocpp_driver_maps_the_ack_and_reads_offline_when_not_connected():
    from control.adapters.ocpp_charger import Ack

    class Charger:
        closed = asyncio.Event()

        async def set_power(self, power_w, valid_until):
            payload = {"chargingProfile": {"maxOfflineDuration": 900}}
            return Ack("SetChargingProfile", "Accepted", T0, T0, payload, ["Dynamic"])

        async def power(self):
            return 7000.0

    class Csms:
        chargers = {}
        ctx = type("Ctx", (), {"telemetry": type("T", (), {"latest": {}})()})()

    csms = Csms()
    drv = OcppChargerDriver(csms, "charger-1", Clock())
    assert run(drv.read()).online is False
    with pytest.raises(DeviceOffline):
        run(drv.send(sp("charger-1", 7000.0)))
    csms.chargers["charger-1"] = Charger()
    csms.ctx.telemetry.latest[("charger-1", "soc_pct")] = 55.0
    ack = run(drv.send(sp("charger-1", 7000.0)))
    assert ack["status"] == "Accepted" and ack["detail"]["fallbacks"] == ["Dynamic"]
    assert ack["payload"]["chargingProfile"]["maxOfflineDuration"] == 900
    state = run(drv.read())
    assert (state.online, state.power_w, state.soc_pct) == (True, 7000.0, 55.0)


def test_sunspec_drivers_against_the_simulated_devices():
    from control.adapters.sunspec_client import SunSpecBattery, SunSpecClient, SunSpecInverter
    from control.sim.sunspec_devices import start_sunspec_devices

    async def go():
        sim = await start_sunspec_devices("127.0.0.1", 0, 0, rated_w=100_000.0, tick_s=0.05)
        inverter = SunSpecInverter(SunSpecClient("127.0.0.1", sim.inverter_port))
        battery = SunSpecBattery(SunSpecClient("127.0.0.1", sim.battery_port))
        try:
            inv = SunSpecInverterDriver(inverter, Clock())
            bat = SunSpecBatteryDriver(battery, Clock())
            assert (await inv.read()).online and inv.rated_w == 100_000.0
            available = inv.uncurtailed_w
            await inv.send(sp("pv-curtailment", 30_000.0, ttl_s=300))
            limit = (await inverter.read())["limit_pct"]
            assert limit == pytest.approx((available - 30_000.0) / 1000.0, abs=0.1)
            ack = await bat.send(sp("battery-1", -20_000.0, ttl_s=300))
            assert ack["status"] == "Accepted"
            state = await bat.read()
            assert state.online and state.soc_pct is not None
        finally:
            await inverter.close()
            await battery.close()
            await inverter.client.close()
            await battery.client.close()
            await sim.stop()

    run(go())
