"""SunSpec against peers we did not write: pysunspec2, pyModbusTCP, mbpoll; a device that stalls."""

import asyncio
import contextlib
import json
import shutil
from pathlib import Path

import pytest
import sunspec2
from pyModbusTCP.server import DataBank, ModbusServer
from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

from control.adapters import sunspec_registers as reg
from control.adapters.sunspec_client import SunSpecBattery, SunSpecClient, SunSpecInverter
from control.mosquitto import free_port
from control.sim.sunspec_devices import SunSpecImage, start_sunspec_devices

JSON_DIR = Path(sunspec2.__file__).parent / "models" / "json"


def official_length(model_id: int) -> int:
    group = json.loads((JSON_DIR / f"model_{model_id}.json").read_text())["group"]
    return sum(p["size"] for p in group["points"]) - 2


def run(coro, timeout_s=25):
    asyncio.run(asyncio.wait_for(coro, timeout_s))


def sunspec2_scan(port: int) -> SunSpecModbusClientDeviceTCP:
    device = SunSpecModbusClientDeviceTCP(slave_id=1, ipaddr="127.0.0.1", ipport=port, timeout=2)
    device.scan()
    return device


def test_pysunspec2_scans_simulator_and_its_40_pct_limit_curtails_output():
    def scan_and_curtail(inverter_port: int, battery_port: int):
        scanned = {}
        for name, port in (("inverter", inverter_port), ("battery", battery_port)):
            device = sunspec2_scan(port)
            scanned[name] = [(m.model_id, m.model_len, m.error_info) for m in device.model_list]
            device.close()
        device = sunspec2_scan(inverter_port)
        device.connect()
        try:
            controls = device.models[123][0]
            controls.WMaxLimPct.cvalue = 40  # sunspec2 applies WMaxLimPct_SF itself
            controls.WMaxLimPct.write()
            controls.WMaxLim_Ena.value = 1
            controls.WMaxLim_Ena.write()
            inverter = device.models[103][0]
            inverter.read()
            measured_w = inverter.W.cvalue
        finally:
            device.disconnect()
        return scanned, measured_w

    async def go():
        sim = await start_sunspec_devices(
            "127.0.0.1", 0, 0, rated_w=250_000, available_pv_w=200_000, tick_s=0.05
        )
        try:
            scanned, measured_w = await asyncio.to_thread(
                scan_and_curtail, sim.inverter_port, sim.battery_port
            )
            assert [m for m, _, _ in scanned["inverter"]] == [1, 103, 120, 123]
            assert [m for m, _, _ in scanned["battery"]] == [1, 103, 124, 713, 802]
            for model_id, length, error in scanned["inverter"] + scanned["battery"]:
                assert length == official_length(model_id), model_id
                assert error == "", (model_id, error)
            assert sim.inverter.output_w == pytest.approx(100_000)  # 40 % of 250 kW
            assert measured_w == pytest.approx(100_000)
        finally:
            await sim.stop()

    run(go())


def test_pymodbustcp_device_at_base_50000_is_discovered_read_and_curtailed():
    base = 50000
    image = SunSpecImage(
        base,
        [
            (reg.COMMON, {"Mn": "pyModbusTCP", "Md": "static image", "SN": "peer-1", "DA": 1}),
            # scale factors other than the simulator's: W in W, limit in 0.01 %
            (reg.INVERTER_3PH, {"W": 12_345, "W_SF": 0, "WH": 5_000_000, "WH_SF": 0, "St": 4}),
            (reg.NAMEPLATE, {"DERTyp": 4, "WRtg": 30_000, "WRtg_SF": 0}),
            (
                reg.CONTROLS,
                {
                    "Conn": 1,
                    "WMaxLimPct": 10_000,
                    "WMaxLimPct_RvrtTms": 0,
                    "WMaxLim_Ena": 0,
                    "WMaxLimPct_SF": -2,
                },
            ),
        ],
    )
    bank = DataBank()
    assert bank.set_holding_registers(base, image.registers)
    port = free_port()
    server = ModbusServer(host="127.0.0.1", port=port, no_block=True, data_bank=bank)
    server.start()

    def point(model_id, name):
        p = reg.MODELS[model_id][name]
        return reg.decode(p, bank.get_holding_registers(image.address(model_id, name), p.size))

    async def go():
        client = SunSpecClient("127.0.0.1", port, timeout_s=2)
        inverter = SunSpecInverter(client)
        assert await client.connect()
        assert client.base == base
        assert [m for m, _, _ in client.chain] == [1, 103, 120, 123]
        reading = await inverter.read()
        assert reading["power_w"] == -12_345
        assert reading["energy_wh"] == 5_000_000
        assert reading["rated_w"] == 30_000
        await inverter.set_limit_pct(40, revert_s=60)
        assert point(123, "WMaxLimPct") == 4000  # 40 % at SF -2
        assert point(123, "WMaxLimPct_RvrtTms") == 60
        assert point(123, "WMaxLim_Ena") == 1
        await inverter.set_limit_pct(0, revert_s=60)
        assert point(123, "WMaxLimPct") == 100  # clamped to 1 %
        await inverter.close()
        await client.close()

    try:
        run(go())
    finally:
        server.stop()


def test_mbpoll_reads_suns_marker_from_simulator():
    mbpoll = shutil.which("mbpoll")
    assert mbpoll, "Debian package mbpoll is required (apt-get install mbpoll)"

    async def go():
        sim = await start_sunspec_devices("127.0.0.1", 0, 0, tick_s=0.5)
        try:
            proc = await asyncio.create_subprocess_exec(
                mbpoll,
                "-m", "tcp", "-a", "1", "-p", str(sim.inverter_port),
                "-t", "4:hex", "-0", "-r", "40000", "-c", "2", "-1", "-o", "2",
                "127.0.0.1",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(proc.communicate(), 15)
        finally:
            await sim.stop()
        return proc.returncode, out.decode(), err.decode()

    code, out, err = asyncio.run(asyncio.wait_for(go(), 25))
    assert code == 0, err
    assert "[40000]: \t0x5375" in out and "[40001]: \t0x6E53" in out, out


class StallingProxy:
    """TCP proxy in front of a device; while stalled it swallows every byte both ways."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.stalled = False
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 2)

    async def _handle(self, reader, writer) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)

        async def pump(src, dst):
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                while data := await src.read(4096):
                    if not self.stalled:
                        dst.write(data)
                        await dst.drain()
            dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))


def test_device_that_stops_answering_goes_offline_and_recovers(caplog):
    async def go():
        sim = await start_sunspec_devices("127.0.0.1", 0, 0, available_pv_w=250_000, tick_s=0.05)
        proxy = StallingProxy(sim.inverter_port)
        await proxy.start()
        client = SunSpecClient(
            "127.0.0.1", proxy.port, timeout_s=0.3, reconnect_s=0.2, name="pv-inverter-1"
        )
        inverter = SunSpecInverter(client)
        battery = SunSpecBattery(SunSpecClient("127.0.0.1", sim.battery_port, timeout_s=0.3))
        try:
            await inverter.set_limit_pct(40, revert_s=2)
            assert sim.inverter.output_w == pytest.approx(100_000)
            proxy.stalled = True
            assert await inverter.power() is None  # times out: offline, no exception
            assert not client.online
            # the service keeps going: other devices still answer, calls return promptly
            assert await battery.soc_pct() == pytest.approx(50)
            await asyncio.sleep(2.6)  # no refresh reaches the device: it reverts on its own
            assert sim.inverter.output_w == pytest.approx(250_000)
            proxy.stalled = False
            await asyncio.sleep(2.0)  # the keepalive reconnects and re-applies the setpoint
            assert client.online
            assert sim.inverter.output_w == pytest.approx(100_000)
            assert await inverter.power() == pytest.approx(-100_000)
        finally:
            await inverter.close()
            await client.close()
            await battery.client.close()
            await proxy.stop()
            await sim.stop()

    with caplog.at_level("WARNING", logger="control.adapters.sunspec_client"):
        run(go())
    offline = [r for r in caplog.records if "offline" in r.getMessage()]
    assert offline and offline[0].getMessage().startswith("pv-inverter-1: offline")
