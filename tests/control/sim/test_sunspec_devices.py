"""Simulated SunSpec inverter and battery: curtailment, revert timers, SoC integration, Modbus."""

import asyncio

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.constants import ExcCodes

from control.sim.sunspec_devices import (
    SimulatedBattery,
    SimulatedInverter,
    start_sunspec_devices,
)


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def write(device, model_id, name, raw):
    return device.write_registers(device.image.address(model_id, name), [raw & 0xFFFF])


def test_inverter_follows_limit_only_when_enabled():
    inv = SimulatedInverter(rated_w=250_000, available_pv_w=200_000, clock=FakeClock())
    assert inv.output_w == 200_000
    assert write(inv, 123, "WMaxLimPct", 400) is None  # 40.0 % at SF -1
    assert inv.output_w == 200_000  # not enabled yet
    assert write(inv, 123, "WMaxLim_Ena", 1) is None
    assert inv.output_w == pytest.approx(100_000)
    assert inv.image.get_scaled(103, "W") == pytest.approx(100_000)
    assert inv.image.get(103, "St") == 5  # throttled
    inv.available_pv_w = 50_000  # cloud: the limit no longer binds
    inv.tick()
    assert inv.output_w == 50_000 and inv.image.get(103, "St") == 4


def test_inverter_reverts_after_timer_unless_refreshed():
    clock = FakeClock()
    inv = SimulatedInverter(rated_w=250_000, available_pv_w=250_000, clock=clock)
    write(inv, 123, "WMaxLimPct_RvrtTms", 10)
    write(inv, 123, "WMaxLimPct", 200)
    write(inv, 123, "WMaxLim_Ena", 1)
    clock.t += 6
    inv.tick()
    assert inv.output_w == pytest.approx(50_000)
    write(inv, 123, "WMaxLimPct", 200)  # refresh restarts the timer
    clock.t += 6
    inv.tick()
    assert inv.output_w == pytest.approx(50_000)
    clock.t += 5
    inv.tick()
    assert inv.output_w == 250_000 and inv.image.get(123, "WMaxLim_Ena") == 0


def test_inverter_refuses_measurements_and_out_of_range_values():
    inv = SimulatedInverter(clock=FakeClock())
    assert write(inv, 103, "W", 1) == ExcCodes.ILLEGAL_ADDRESS
    assert write(inv, 120, "WRtg", 1) == ExcCodes.ILLEGAL_ADDRESS
    assert write(inv, 123, "WMaxLimPct", 1001) == ExcCodes.ILLEGAL_VALUE
    assert write(inv, 123, "WMaxLim_Ena", 2) == ExcCodes.ILLEGAL_VALUE
    assert inv.image.get(123, "WMaxLimPct") == 1000


def test_inverter_integrates_energy():
    clock = FakeClock()
    inv = SimulatedInverter(rated_w=250_000, available_pv_w=100_000, clock=clock)
    start = inv.image.get(103, "WH")
    clock.t += 36
    inv.tick()
    assert inv.image.get(103, "WH") - start == pytest.approx(1000, abs=1)


def battery(clock, **kw):
    return SimulatedBattery(capacity_wh=200_000, max_power_w=100_000, clock=clock, **kw)


def command(bat, in_raw, out_raw, mode=3):
    assert write(bat, 124, "InWRte", in_raw) is None
    assert write(bat, 124, "OutWRte", out_raw) is None
    assert write(bat, 124, "StorCtl_Mod", mode) is None


def test_battery_idles_until_commanded_then_integrates_soc():
    clock = FakeClock()
    bat = battery(clock, soc_pct=50)
    assert bat.power_w == 0 and bat.image.get(124, "ChaSt") == 6
    command(bat, 5000, -5000)  # charge at 50 % of 100 kW
    assert bat.power_w == pytest.approx(50_000)
    assert bat.image.get_scaled(103, "W") == pytest.approx(-50_000)  # SunSpec: export positive
    clock.t += 144  # 50 kW × 144 s = 2 kWh = 1 % of 200 kWh
    bat.tick()
    assert bat.soc_pct == pytest.approx(51.0)
    assert bat.image.get_scaled(124, "ChaState") == pytest.approx(51.0)
    assert bat.image.get_scaled(713, "SoC") == pytest.approx(51.0)
    assert bat.image.get_scaled(802, "SoC") == pytest.approx(51.0)
    command(bat, -2500, 2500)  # discharge at 25 %
    assert bat.power_w == pytest.approx(-25_000) and bat.image.get(124, "ChaSt") == 3


def test_battery_respects_soc_bounds():
    clock = FakeClock()
    bat = battery(clock, soc_pct=94.9, soc_max_pct=95, soc_min_pct=10)
    command(bat, 10000, -10000)
    clock.t += 3600
    bat.tick()
    assert bat.soc_pct == 95 and bat.power_w == 0 and bat.image.get(124, "ChaSt") == 5
    bat = battery(clock, soc_pct=10.1, soc_min_pct=10)
    command(bat, -10000, 10000)
    clock.t += 3600
    bat.tick()
    assert bat.soc_pct == 10 and bat.power_w == 0 and bat.image.get(124, "ChaSt") == 2


def test_battery_releases_control_when_revert_timer_expires():
    clock = FakeClock()
    bat = battery(clock)
    write(bat, 124, "InOutWRte_RvrtTms", 4)
    command(bat, 3000, -3000)
    clock.t += 3
    bat.tick()
    assert bat.power_w == pytest.approx(30_000)
    clock.t += 2
    bat.tick()
    assert bat.image.get(124, "StorCtl_Mod") == 0 and bat.power_w == 0


def test_battery_single_register_writes_in_any_order_stay_bounded():
    bat = battery(FakeClock())
    command(bat, 5000, -5000)
    # an independent client moves one bound at a time; every intermediate state is valid
    assert write(bat, 124, "InWRte", -2000) is None  # window [50 %, -20 %] is empty
    assert -100_000 <= bat.power_w <= 100_000
    assert write(bat, 124, "OutWRte", 2000) is None
    assert bat.power_w == pytest.approx(-20_000)
    assert write(bat, 124, "InWRte", 10001) == ExcCodes.ILLEGAL_VALUE


def test_servers_over_modbus_independent_clients():
    async def run():
        servers = await start_sunspec_devices("127.0.0.1", 0, 0, tick_s=0.05)
        a = AsyncModbusTcpClient("127.0.0.1", port=servers.inverter_port, timeout=2)
        b = AsyncModbusTcpClient("127.0.0.1", port=servers.inverter_port, timeout=2)
        c = AsyncModbusTcpClient("127.0.0.1", port=servers.battery_port, timeout=2)
        try:
            assert await a.connect() and await b.connect() and await c.connect()
            marker = await a.read_holding_registers(40000, count=4)
            assert marker.registers == [0x5375, 0x6E53, 1, 66]
            assert (await a.read_holding_registers(0, count=2)).isError()
            image = servers.inverter.image
            await a.write_register(image.address(123, "WMaxLimPct"), 400)
            await b.write_register(image.address(123, "WMaxLim_Ena"), 1)
            w = await b.read_holding_registers(image.address(103, "W"), count=2)
            assert w.registers == [10_000, 1]  # 10,000 × 10^1 W
            refused = await a.write_register(image.address(103, "W"), 0)
            assert refused.isError() and refused.exception_code == ExcCodes.ILLEGAL_ADDRESS
            bat = await c.read_holding_registers(40000, count=2)
            assert bat.registers == [0x5375, 0x6E53]
        finally:
            for client in (a, b, c):
                client.close()
            await servers.stop()

    asyncio.run(asyncio.wait_for(run(), 20))
