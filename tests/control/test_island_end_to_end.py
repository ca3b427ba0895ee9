"""An evening-peak blackout on loopback: simulated grid meter, battery, inverter and the four
MQTT machines on their real protocols, driven by the control service in island mode.

The grid fails at the meter (0 V, 0 Hz); within one control cycle the service islands the
site: the relay opens, the battery forms the grid and carries the critical loads, the other
machines are shed in priority order. When the grid is back it reconnects after the resync
delay and restores the loads one by one, highest priority first.
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import polars as pl
import pytest

from control import credentials
from control.commands import COMMANDS, EVENTS, landed_files, read_landed
from control.island import IslandConfig
from control.mosquitto import MosquittoBroker, free_port, private_run_as, site_users
from control.serve import ServeParams, serve_control, site_limits
from control.sim.grid_meter import SimulatedGridMeter, start_grid_meter
from control.sim.machines import CRITICAL_MACHINES, SAMPLE_MACHINES, SimulatedMachine
from control.sim.site_physics import SitePhysics
from control.sim.sunspec_devices import start_sunspec_devices
from pipelines import lake

SITE = "warehouse-b"
CYCLE_S = 0.5
RESYNC_S = 3.0
RESTORE_STEP_S = 1.0
SPECS = SAMPLE_MACHINES + CRITICAL_MACHINES
NON_CRITICAL = [m.device_id for m in SAMPLE_MACHINES]
CRITICAL = [m.device_id for m in CRITICAL_MACHINES]
SHED_ORDER = ["load-3dprinters", "load-shredder-2"]  # the smaller machine goes first
RESTORE_ORDER = SHED_ORDER[::-1]


def _write_plan(lake_root, t0: datetime) -> None:
    plan = {"battery-1": 0.0, "load-shredder-2": 120_000.0, "load-3dprinters": 30_000.0}
    rows = [
        {
            "site_id": SITE,
            "plan_id": "evening-peak",
            "kind": "intraday",
            "created_at_utc": t0 - timedelta(seconds=1),
            "valid_from_utc": t0,
            "valid_until_utc": t0 + timedelta(minutes=4),
            "device_id": device,
            "slot_start_utc": t0 + timedelta(minutes=k),
            "power_w": w,
        }
        for device, w in plan.items()
        for k in range(4)
    ]
    lake.merge_days(lake_root, "setpoint_plans", pl.DataFrame(rows))


async def _until(check, timeout_s: float, step_s: float = 0.1):
    """Wait until ``check()`` is truthy; returns its value (fails after ``timeout_s`` [s])."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not (value := await check()):
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(step_s)
    return value


def _detail(event: dict) -> dict:
    import json

    return json.loads(event["detail"])


@pytest.mark.slow
def test_blackout_islands_the_site_and_reconnects(tmp_path):
    run_as = private_run_as()
    ids = [m.device_id for m in SPECS]
    broker = MosquittoBroker(tmp_path / "mqtt", site_users(SITE, ids), run_as=run_as)
    broker.start()
    credentials.save(tmp_path / "mqtt" / "credentials.json", broker.credentials)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    t0 = epoch + (datetime.now(UTC) - epoch) // timedelta(minutes=1) * timedelta(minutes=1)
    _write_plan(tmp_path / "lake", t0)
    island = IslandConfig(
        resync_delay_s=RESYNC_S, restore_step_s=RESTORE_STEP_S, reserve_soc_pct=30.0
    )

    async def go():
        sunspec = await start_sunspec_devices(
            "127.0.0.1", 0, 0, tick_s=0.1, available_pv_w=0.0, soc_pct=60.0, grid_forming=True
        )
        meter = SimulatedGridMeter()
        meter_server, meter_port = await start_grid_meter(meter, "127.0.0.1", 0)
        machines = {
            spec.device_id: SimulatedMachine(
                SITE, spec, broker.credentials[spec.device_id], port=broker.port
            )
            for spec in SPECS
        }
        for m in machines.values():
            await asyncio.to_thread(m.start, 0.2)
        physics = SitePhysics(
            meter, sunspec.battery, sunspec.inverter, [m.power_w for m in machines.values()]
        )
        physics_task = asyncio.create_task(physics.run(0.1))
        params = ServeParams(
            site_id=SITE,
            lake_root=str(tmp_path / "lake"),
            raw_root=str(tmp_path / "raw"),
            state_path=str(tmp_path / "state.json"),
            api_port=0,
            ocpp_port=free_port(),
            ocpp_credentials=str(tmp_path / "ocpp.json"),
            chargers=(),
            v2x_chargers=(),
            sunspec_inverter_port=sunspec.inverter_port,
            sunspec_battery_port=sunspec.battery_port,
            grid_meter_port=meter_port,
            mqtt_port=broker.port,
            mqtt_dir=str(tmp_path / "mqtt"),
            machines=tuple((m.device_id, m.rated_power_w) for m in SAMPLE_MACHINES),
            critical_machines=tuple((m.device_id, m.rated_power_w) for m in CRITICAL_MACHINES),
            cycle_s=CYCLE_S,
            telemetry_s=1.0,
            plan_slot_s=60.0,
            plan_refresh_s=1.0,
        )
        stop = asyncio.Event()
        ports: list[int] = []
        service = asyncio.create_task(
            serve_control(params, stop, island=island, on_api_started=ports.append)
        )
        seen: dict = {}
        try:
            await _until(_async(lambda: ports), 10)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[0]}") as http:

                async def mode() -> str:
                    return (await http.get("/island")).json()["mode"]

                # evening peak on the grid: every machine runs, the battery follows the grid
                await _until(_async(lambda: all(m.running for m in machines.values())), 15)
                assert await mode() == "grid"
                assert meter.relay_closed and not sunspec.battery.grid_forming
                seen["import_w"] = meter.site_w

                blackout_at = datetime.now(UTC)
                meter.blackout(True)
                await _until(lambda: _is(mode(), "island"), 5, 0.05)
                await _until(_async(lambda: not any(machines[d].running for d in NON_CRITICAL)), 5)
                await asyncio.sleep(4 * CYCLE_S)  # the island settles and holds
                seen["island"] = {
                    "running": {d: m.running for d, m in machines.items()},
                    "relay_closed": meter.relay_closed,
                    "forming": sunspec.battery.grid_forming,
                    "battery_w": sunspec.battery.power_w,
                    "bus_w": physics.bus_w,
                    "soc_pct": sunspec.battery.soc_pct,
                    "events": (await http.get("/island")).json()["events"],
                }

                back_at = datetime.now(UTC)
                meter.blackout(False)
                await _until(lambda: _is(mode(), "grid"), RESYNC_S + 5, 0.05)
                await _until(_async(lambda: all(m.running for m in machines.values())), 8)
                seen["after"] = {
                    "relay_closed": meter.relay_closed,
                    "forming": sunspec.battery.grid_forming,
                }
                seen["blackout_at"], seen["back_at"] = blackout_at, back_at
        finally:
            stop.set()
            physics_task.cancel()
            cleanup = [asyncio.wait_for(service, 20)]
            cleanup += [asyncio.wait_for(asyncio.to_thread(m.stop), 10) for m in machines.values()]
            await asyncio.gather(*cleanup, return_exceptions=True)
            await meter_server.shutdown()
            await sunspec.stop()
        return seen

    try:
        seen = _run_bounded(go(), 60)
    finally:
        broker.stop()

    assert seen["import_w"] > 150_000  # base load + both machines + critical loads
    island_seen = seen["island"]
    assert island_seen["running"] == {d: d in CRITICAL for d in ids}
    assert not island_seen["relay_closed"] and island_seen["forming"]
    # the forming battery supplies the islanded bus: critical loads plus standby of the rest
    assert island_seen["battery_w"] == pytest.approx(-island_seen["bus_w"], abs=1.0)
    critical_w = sum(0.85 * m.rated_power_w for m in CRITICAL_MACHINES)
    assert -island_seen["battery_w"] >= critical_w
    assert island_seen["soc_pct"] > island.reserve_soc_pct
    assert seen["after"] == {"relay_closed": True, "forming": False}

    days = sorted({seen["blackout_at"].date() + timedelta(days=k) for k in (-1, 0, 1)})
    assert landed_files(tmp_path / "raw", EVENTS, SITE, seen["blackout_at"].date())
    events = read_landed(tmp_path / "raw", EVENTS, SITE, days).sort("ts_utc")
    rows = events.to_dicts()
    transitions = [
        (_detail(e)["from"], _detail(e)["to"], e["ts_utc"])
        for e in rows
        if e["event_type"] == "island_transition"
    ]
    assert [t[:2] for t in transitions] == [
        ("grid", "island"),
        ("island", "resync"),
        ("resync", "grid"),
    ]
    # detected within one control cycle (plus the cycle's own I/O)
    assert (transitions[0][2] - seen["blackout_at"]).total_seconds() <= CYCLE_S + 0.5
    reconnect_s = (transitions[2][2] - seen["back_at"]).total_seconds()
    assert RESYNC_S <= reconnect_s <= RESYNC_S + 2 * CYCLE_S + 0.5
    # events of one cycle share a timestamp: the order is in the transition and the API
    (enter,) = [
        e
        for e in rows
        if e["event_type"] == "island_transition"
        and "island" == _detail(e)["to"]
        and _detail(e)["from"] == "grid"
    ]
    assert _detail(enter)["details"]["shed"] == SHED_ORDER
    assert _detail(enter)["details"]["kept"] == CRITICAL[::-1]  # highest priority first
    assert _detail(enter)["details"]["grid_forming"] == "battery-1"
    api_shed = [
        e["device_id"] for e in island_seen["events"][::-1] if e["event_type"] == "island_shed"
    ]
    assert api_shed == SHED_ORDER
    shed = {e["device_id"]: e["ts_utc"] for e in rows if e["event_type"] == "island_shed"}
    assert set(shed) == set(SHED_ORDER) and set(shed.values()) == {transitions[0][2]}
    restore = [(e["device_id"], e["ts_utc"]) for e in rows if e["event_type"] == "island_restore"]
    assert [d for d, _ in restore] == RESTORE_ORDER
    assert (restore[1][1] - restore[0][1]).total_seconds() >= RESTORE_STEP_S
    switches = {
        (e["device_id"], _detail(e)["value"]): e["ts_utc"]
        for e in rows
        if e["event_type"] == "island_switch" and e["ts_utc"] > seen["blackout_at"]
    }
    # relay opened and battery forming in the islanding cycle, the reverse on reconnection
    assert switches == {
        ("grid-relay", 0): transitions[0][2],
        ("battery-1", 1): transitions[0][2],
        ("grid-relay", 1): transitions[2][2],
        ("battery-1", 0): transitions[2][2],
    }
    assert not [e for e in rows if e["event_type"] == "island_switch_error"]
    api_kinds = {e["event_type"] for e in island_seen["events"]}
    assert {"island_transition", "island_shed", "island_switch"} <= api_kinds

    commands = read_landed(tmp_path / "raw", COMMANDS, SITE, days)
    assert len(commands) > 0
    limits = site_limits(
        ServeParams(
            lake_root=str(tmp_path / "lake"),
            chargers=(),
            v2x_chargers=(),
            critical_machines=tuple((m.device_id, m.rated_power_w) for m in CRITICAL_MACHINES),
        )
    )
    for row in commands.iter_rows(named=True):
        limit = limits.devices[row["device_id"]]
        assert limit.min_w <= row["power_w"] <= limit.max_w, row
    # the critical loads were never told to stop
    critical_cmds = commands.filter(pl.col("device_id").is_in(CRITICAL))
    assert critical_cmds.height >= 2 and (critical_cmds["power_w"] > 0).all()
    island_cmds = commands.filter(pl.col("setpoint_source") == "island")
    assert set(island_cmds["device_id"]) >= set(NON_CRITICAL) | {"battery-1"}


def _run_bounded(coro, timeout_s: float):
    """``asyncio.run`` whose end does not wait for stuck worker threads (an MQTT client
    thread that never returns would otherwise hold the test forever)."""
    loop = asyncio.new_event_loop()
    executor = ThreadPoolExecutor(max_workers=16)
    loop.set_default_executor(executor)
    try:
        return loop.run_until_complete(asyncio.wait_for(coro, timeout_s))
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
        loop.close()


def _async(fn):
    async def check():
        return fn()

    return check


async def _is(awaitable, value) -> bool:
    return await awaitable == value
