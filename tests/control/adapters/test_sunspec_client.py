"""SunSpec client against the project's simulated devices on loopback."""

import asyncio
import contextlib
from datetime import UTC, datetime

import polars as pl
import pytest

from control.adapters import sunspec_registers as reg
from control.adapters.sunspec_client import (
    DeviceUnavailable,
    SunSpecBattery,
    SunSpecClient,
    SunSpecError,
    SunSpecInverter,
    poll_telemetry,
)
from control.mosquitto import free_port
from control.sim.sunspec_devices import (
    SimulatedBattery,
    SimulatedInverter,
    SimulatedSunSpecDevice,
    SunSpecImage,
    start_device_server,
)
from ingest.telemetry_landing import TelemetryBatchWriter, batch_files


def run(coro, timeout_s=20):
    asyncio.run(asyncio.wait_for(coro, timeout_s))


@contextlib.asynccontextmanager
async def serving(device, tick_s=0.05):
    server, port = await start_device_server(device, "127.0.0.1", 0)

    async def tick():
        while True:
            await asyncio.sleep(tick_s)
            device.tick()

    ticker = asyncio.create_task(tick())
    try:
        yield port
    finally:
        ticker.cancel()
        await server.shutdown()


def record_writes(device):
    """Wrap the simulator's write handling to log (model id, point, raw value) per request."""
    writes = []
    original = device.write_registers

    def logged(address, values):
        model_id, name = device.image.point_at(address)
        writes.append((model_id, name, reg.decode(device.image.models[model_id][name], values)))
        return original(address, values)

    device.write_registers = logged
    return writes


@pytest.mark.parametrize("base", [40000, 0, 50000])
def test_discovers_model_chain_at_each_base(base):
    async def go():
        async with serving(SimulatedInverter(base=base)) as port:
            client = SunSpecClient("127.0.0.1", port, timeout_s=1)
            assert await client.connect()
            assert client.base == base
            assert [(m, length) for m, _, length in client.chain] == [
                (1, 66),
                (103, 50),
                (120, 26),
                (123, 24),
            ]
            assert client.models[1] == base + 2
            common = await client.read_model(1)
            assert reg.read_raw(reg.COMMON, common, "SN") == "pv-inverter-1"
            await client.close()

    run(go())


def test_device_without_sunspec_map_is_an_error():
    async def go():
        async with serving(SimulatedInverter(base=1000)) as port:
            with pytest.raises(SunSpecError):
                await SunSpecClient("127.0.0.1", port, timeout_s=1).connect()

    run(go())


def test_inverter_reads_power_energy_and_rating():
    async def go():
        sim = SimulatedInverter(rated_w=250_000, available_pv_w=180_000)
        async with serving(sim) as port:
            inverter = SunSpecInverter(SunSpecClient("127.0.0.1", port))
            assert await inverter.power() == pytest.approx(-180_000)  # production feeds the bus
            reading = await inverter.read()
            assert reading["rated_w"] == pytest.approx(250_000)
            assert reading["energy_wh"] >= 1
            assert reading["limit_pct"] is None
            await inverter.client.close()

    run(go())


@pytest.mark.parametrize(
    ("pct", "expected_raw"), [(40, 400), (0, 10), (-5, 10), (150, 1000), (33.33, 333)]
)
def test_curtailment_clamps_and_writes_value_before_enable(pct, expected_raw):
    async def go():
        sim = SimulatedInverter(rated_w=250_000, available_pv_w=250_000)
        writes = record_writes(sim)
        async with serving(sim) as port:
            inverter = SunSpecInverter(SunSpecClient("127.0.0.1", port))
            await inverter.set_limit_pct(pct, revert_s=0)
            assert writes == [
                (123, "WMaxLimPct_RvrtTms", 0),
                (123, "WMaxLimPct", expected_raw),
                (123, "WMaxLim_Ena", 1),
            ]
            assert sim.output_w == pytest.approx(expected_raw / 1000 * 250_000)
            assert (await inverter.read())["limit_pct"] == pytest.approx(expected_raw / 10)
            await inverter.release()
            assert sim.output_w == 250_000
            await inverter.client.close()

    run(go())


def test_keepalive_refreshes_at_half_the_revert_period():
    async def go():
        sim = SimulatedInverter(rated_w=250_000, available_pv_w=250_000)
        writes = record_writes(sim)
        async with serving(sim) as port:
            inverter = SunSpecInverter(SunSpecClient("127.0.0.1", port))
            await inverter.set_limit_pct(50, revert_s=1)
            await asyncio.sleep(2.2)
            assert sim.output_w == pytest.approx(125_000)  # held past twice the revert time
            refreshes = [w for w in writes if w[1] == "WMaxLimPct"]
            assert 3 <= len(refreshes) <= 6  # at 0, 0.5, 1.0, 1.5, 2.0 s
            assert [w for w in writes if w[1] == "WMaxLimPct_RvrtTms"] == [
                (123, "WMaxLimPct_RvrtTms", 1)
            ]
            await inverter.close()  # controller gone: the device reverts on its own
            await asyncio.sleep(1.5)
            assert sim.output_w == 250_000
            await inverter.client.close()

    run(go())


def test_battery_charge_discharge_through_storctl_and_rates():
    async def go():
        sim = SimulatedBattery(capacity_wh=1_000, max_power_w=100_000, soc_pct=50)
        writes = record_writes(sim)
        async with serving(sim) as port:
            battery = SunSpecBattery(SunSpecClient("127.0.0.1", port))
            assert await battery.soc_pct() == pytest.approx(50)
            await battery.set_power(40_000, revert_s=0)
            assert writes == [
                (124, "InOutWRte_RvrtTms", 0),
                (124, "InWRte", 4000),
                (124, "OutWRte", -4000),
                (124, "StorCtl_Mod", 3),
            ]
            assert sim.power_w == pytest.approx(40_000)
            assert await battery.power() == pytest.approx(40_000)
            await asyncio.sleep(0.5)
            assert await battery.soc_pct() > 50
            writes.clear()
            await battery.set_power(-250_000, revert_s=0)  # capped at WChaMax
            assert [w[1:] for w in writes] == [
                ("OutWRte", 10000),
                ("InWRte", -10000),
                ("StorCtl_Mod", 3),
            ]
            assert sim.power_w == pytest.approx(-100_000)
            reading = await battery.read()
            assert reading["power_w"] == pytest.approx(-100_000)
            assert reading["max_power_w"] == pytest.approx(100_000)
            await battery.release()
            assert sim.power_w == 0
            await battery.client.close()

    run(go())


def test_battery_setpoint_held_by_keepalive_and_reverts_without_it():
    async def go():
        sim = SimulatedBattery()
        async with serving(sim) as port:
            battery = SunSpecBattery(SunSpecClient("127.0.0.1", port))
            await battery.set_power(-20_000, revert_s=1)
            await asyncio.sleep(1.6)
            assert sim.power_w == pytest.approx(-20_000)
            await battery.close()
            await asyncio.sleep(1.5)
            assert sim.power_w == 0 and sim.image.get(124, "StorCtl_Mod") == 0
            await battery.client.close()

    run(go())


def test_unimplemented_values_read_as_missing():
    async def go():
        image = SunSpecImage(
            40000,
            [
                (reg.COMMON, {"Mn": "X"}),
                (reg.INVERTER_3PH, {"W": None, "W_SF": 0, "WH": 0, "WH_SF": 0}),
                (reg.STORAGE, {"ChaState": 0xFFFF, "ChaState_SF": 0}),
            ],
        )
        async with serving(SimulatedSunSpecDevice(image, {}, clock=lambda: 0.0)) as port:
            client = SunSpecClient("127.0.0.1", port)
            inverter, battery = SunSpecInverter(client), SunSpecBattery(client)
            assert await inverter.power() is None
            reading = await inverter.read()
            assert reading["power_w"] is None and reading["energy_wh"] is None
            assert await battery.soc_pct() is None
            with pytest.raises(SunSpecError):
                await battery.set_power(1000, 0)  # WChaMax unimplemented
            with pytest.raises(SunSpecError):
                await inverter.set_limit_pct(50, 0)  # no model 123
            await client.close()

    run(go())


def test_unreachable_device_is_offline_not_a_crash():
    async def go():
        client = SunSpecClient("127.0.0.1", free_port(), timeout_s=0.5, reconnect_s=0)
        inverter, battery = SunSpecInverter(client), SunSpecBattery(client)
        assert not await client.connect()
        assert not client.online
        assert await inverter.power() is None
        assert await battery.soc_pct() is None
        with pytest.raises(DeviceUnavailable):
            await inverter.set_limit_pct(50, revert_s=0)
        rows = await poll_telemetry("site-1", {"pv-inverter-1": inverter})
        assert [(r["metric"], r["value"]) for r in rows] == [("online", 0.0)]

    run(go())


def test_poll_telemetry_rows_land_as_a_batch(tmp_path):
    async def go():
        inv_sim, bat_sim = SimulatedInverter(available_pv_w=150_000), SimulatedBattery(soc_pct=42)
        async with serving(inv_sim) as inv_port, serving(bat_sim) as bat_port:
            devices = {
                "pv-inverter-1": SunSpecInverter(SunSpecClient("127.0.0.1", inv_port)),
                "battery-1": SunSpecBattery(SunSpecClient("127.0.0.1", bat_port)),
            }
            ts = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
            rows = await poll_telemetry("site-1", devices, ts)
            for device in devices.values():
                await device.client.close()
        return rows

    rows = asyncio.run(asyncio.wait_for(go(), 20))
    values = {(r["device_id"], r["metric"]): (r["value"], r["unit"]) for r in rows}
    assert values[("pv-inverter-1", "power_w")] == (pytest.approx(-150_000), "W")
    assert values[("pv-inverter-1", "online")] == (1.0, "bool")
    assert values[("battery-1", "soc_pct")] == (pytest.approx(42), "%")
    assert values[("battery-1", "power_w")] == (0.0, "W")
    files = TelemetryBatchWriter(tmp_path, "sunspec-test").write(rows)
    assert files == batch_files(tmp_path, "site-1", datetime(2025, 6, 1).date())
    assert pl.read_parquet(files[0]).height == len(rows)


def test_adapters_have_the_port_methods():
    from control.ports import Battery, Inverter

    for adapter, port in ((SunSpecInverter, Inverter), (SunSpecBattery, Battery)):
        for name in ("set_limit_pct", "power") if port is Inverter else ("set_power", "soc_pct"):
            assert asyncio.iscoroutinefunction(getattr(adapter, name))
