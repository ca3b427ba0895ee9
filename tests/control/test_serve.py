"""``novaenergy control serve`` composed on loopback: simulated SunSpec devices, no plan."""

import asyncio
import json
from datetime import timedelta

import httpx

from control.commands import COMMANDS, read_landed
from control.serve import ServeParams, SystemClock, serve_control, site_limits
from control.sim.sunspec_devices import start_sunspec_devices
from ingest.telemetry_landing import read_batches
from tests.control.test_service import stub_decide


def test_no_plan_in_the_lake_sends_the_safe_default_and_the_api_answers(tmp_path):
    async def go():
        sim = await start_sunspec_devices("127.0.0.1", 0, 0, tick_s=0.1)
        params = ServeParams(
            site_id="site-a",
            lake_root=str(tmp_path / "lake"),
            raw_root=str(tmp_path / "raw"),
            state_path=str(tmp_path / "state.json"),
            api_port=0,
            ocpp_port=0,
            ocpp_credentials=str(tmp_path / "ocpp.json"),
            sunspec_inverter_port=sim.inverter_port,
            sunspec_battery_port=sim.battery_port,
            mqtt_dir=str(tmp_path / "no-mqtt"),
            cycle_s=0.2,
            telemetry_s=0.2,
            api_token="t",
        )
        stop = asyncio.Event()
        ports = []
        task = asyncio.create_task(
            serve_control(params, stop, policy=stub_decide, on_api_started=ports.append)
        )
        try:
            while not ports:
                await asyncio.sleep(0.02)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[0]}") as http:
                for _ in range(100):
                    sent = (await http.get("/setpoints")).json()["setpoints"]
                    done = {s["device_id"] for s in sent if s["sent"]}
                    if {"battery-1", "pv-curtailment"} <= done:
                        break
                    await asyncio.sleep(0.05)
                plan = (await http.get("/plan")).json()
                devices = {d["device_id"]: d for d in (await http.get("/devices")).json()}
        finally:
            stop.set()
            await task
            await sim.stop()
        return sent, plan, devices

    sent, plan, devices = asyncio.run(asyncio.wait_for(go(), 30))
    by_id = {s["device_id"]: s for s in sent}
    assert plan["stale"] is True
    assert by_id["battery-1"]["sent"]["source"] == "safe_default"
    assert by_id["battery-1"]["sent"]["ack_status"] == "Accepted"
    assert devices["battery-1"]["online"] is True
    assert devices["charger-1"]["online"] is False  # no station connected
    today = SystemClock().now().date()
    rows = read_landed(tmp_path / "raw", COMMANDS, "site-a", [today - timedelta(days=1), today])
    battery = rows.filter(device_id="battery-1")
    assert battery.height == 1 and battery["protocol"][0] == "sunspec"
    assert json.loads(battery["payload"][0])["InOutWRte_RvrtTms"] > 0
    telemetry = read_batches(tmp_path / "raw", "site-a", [today - timedelta(days=1), today])
    assert {"pv-inverter-1", "battery-1"} <= set(telemetry["device_id"])
    assert "soc_pct" in set(telemetry.filter(device_id="battery-1")["metric"])


def test_site_limits_default_to_the_sample_site_without_a_fleet(tmp_path):
    limits = site_limits(ServeParams(lake_root=str(tmp_path)))
    assert limits.devices["charger-1"].min_w < 0 and limits.devices["charger-6"].min_w == 0
    assert limits.devices["load-3dprinters"].shed_priority == 0
    assert limits.devices["pv-curtailment"].kind == "pv"
