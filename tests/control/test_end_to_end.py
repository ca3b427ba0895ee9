"""The whole loop on loopback: plan in the lake → control service → OCPP, Modbus/SunSpec and
MQTT → simulated devices → telemetry back into the lake.

The clock is the wall clock, run fast by giving the plan 4-second slots instead of 15-minute
ones (the service reads the slot length from its parameters), so four slots take 16 s.
"""

import asyncio
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from control import credentials
from control.mosquitto import MosquittoBroker, free_port, private_run_as, site_users
from control.serve import ServeParams, serve_control
from control.sim.machines import SAMPLE_MACHINES, SimulatedMachine
from control.sim.ocpp_stations import run_station, sample_stations
from control.sim.sunspec_devices import start_sunspec_devices
from ingest.telemetry_landing import read_batches
from pipelines import lake

SITE = "warehouse-b"
SLOT_S = 4.0
# per slot [W], positive draws from the site bus
PLAN = {
    "battery-1": [20_000.0, -30_000.0, 0.0, 10_000.0],
    "charger-1": [11_000.0, -7_000.0, 11_000.0, 0.0],
    "load-shredder-2": [0.0, 120_000.0, 120_000.0, 0.0],
    "pv-curtailment": [0.0, 50_000.0, 0.0, 0.0],
}
TOLERANCE_W = 500.0


def _write_plan(lake_root, t0: datetime) -> None:
    rows = [
        {
            "site_id": SITE,
            "plan_id": "e2e-plan",
            "kind": "intraday",
            "created_at_utc": t0 - timedelta(seconds=1),
            "valid_from_utc": t0,
            "valid_until_utc": t0 + timedelta(seconds=SLOT_S * 4),
            "device_id": device,
            "slot_start_utc": t0 + timedelta(seconds=SLOT_S * k),
            "power_w": w,
        }
        for device, powers in PLAN.items()
        for k, w in enumerate(powers)
    ]
    lake.merge_days(lake_root, "setpoint_plans", pl.DataFrame(rows))


@pytest.mark.slow
def test_devices_follow_the_plan_over_every_protocol(tmp_path):
    run_as = private_run_as()
    machines_ids = [m.device_id for m in SAMPLE_MACHINES]
    broker = MosquittoBroker(tmp_path / "mqtt", site_users(SITE, machines_ids), run_as=run_as)
    broker.start()
    credentials.save(tmp_path / "mqtt" / "credentials.json", broker.credentials)
    passwords = credentials.load_or_create(tmp_path / "ocpp.json", ["charger-1"])
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    now = datetime.now(UTC)
    t0 = epoch + ((now - epoch) // timedelta(seconds=SLOT_S) + 2) * timedelta(seconds=SLOT_S)
    _write_plan(tmp_path / "lake", t0)

    async def go():
        sunspec = await start_sunspec_devices("127.0.0.1", 0, 0, tick_s=0.1)
        machines = [
            SimulatedMachine(SITE, spec, broker.credentials[spec.device_id], port=broker.port)
            for spec in SAMPLE_MACHINES
        ]
        for m in machines:
            await asyncio.to_thread(m.start, 0.2)
        params = ServeParams(
            site_id=SITE,
            lake_root=str(tmp_path / "lake"),
            raw_root=str(tmp_path / "raw"),
            state_path=str(tmp_path / "state.json"),
            api_port=0,
            ocpp_port=free_port(),
            ocpp_credentials=str(tmp_path / "ocpp.json"),
            chargers=("charger-1",),
            v2x_chargers=("charger-1",),
            sunspec_inverter_port=sunspec.inverter_port,
            sunspec_battery_port=sunspec.battery_port,
            mqtt_port=broker.port,
            mqtt_dir=str(tmp_path / "mqtt"),
            cycle_s=0.5,
            telemetry_s=0.5,
            plan_slot_s=SLOT_S,
            plan_refresh_s=0.5,
        )
        stop = asyncio.Event()
        service = asyncio.create_task(serve_control(params, stop))
        (station,) = sample_stations(["charger-1"], v2g_stations=["charger-1"])
        station_task = asyncio.create_task(
            run_station(
                station,
                f"ws://127.0.0.1:{params.ocpp_port}",
                passwords["charger-1"],
                meter_interval_s=0.5,
            )
        )
        observed = []
        try:
            for k in range(4):
                # sample late in each slot, after a few control cycles
                at = t0 + timedelta(seconds=SLOT_S * k + SLOT_S - 1.0)
                await asyncio.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds()))
                observed.append(
                    {
                        "battery-1": sunspec.battery.power_w,
                        "charger-1": station.power_w,
                        "load-shredder-2": machines[0].power_w(),
                        "shredder-running": machines[0].running,
                        "pv-output": sunspec.inverter.output_w,
                        "pv-available": sunspec.inverter.available_pv_w,
                    }
                )
        finally:
            stop.set()
            await asyncio.wait_for(service, 20)
            station_task.cancel()
            await asyncio.gather(station_task, return_exceptions=True)
            for m in machines:
                await asyncio.to_thread(m.stop)
            await sunspec.stop()
        return observed

    try:
        observed = asyncio.run(asyncio.wait_for(go(), 90))
    finally:
        broker.stop()
    shredder = SAMPLE_MACHINES[0]
    for k, seen in enumerate(observed):
        assert seen["battery-1"] == pytest.approx(PLAN["battery-1"][k], abs=TOLERANCE_W), (k, seen)
        assert seen["charger-1"] == pytest.approx(PLAN["charger-1"][k], abs=TOLERANCE_W), (k, seen)
        running = PLAN["load-shredder-2"][k] > 0
        assert seen["shredder-running"] is running, (k, seen)
        if running:  # a running line draws 85-95 % of its rating
            assert 0.85 * shredder.rated_power_w <= seen["load-shredder-2"], (k, seen)
        else:
            assert seen["load-shredder-2"] == shredder.standby_w, (k, seen)
        curtailed = seen["pv-available"] - seen["pv-output"]
        assert curtailed == pytest.approx(PLAN["pv-curtailment"][k], abs=2_000.0), (k, seen)

    days = [t0.date() - timedelta(days=1), t0.date(), t0.date() + timedelta(days=1)]
    telemetry = read_batches(tmp_path / "raw", SITE, days)
    assert {"battery-1", "pv-inverter-1", "charger-1", "load-shredder-2"} <= set(
        telemetry["device_id"]
    )
