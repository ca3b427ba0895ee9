"""The simulated site on loopback: SunSpec devices, MQTT machines and OCPP charge points."""

import asyncio
import json
import time

import paho.mqtt.client as mqtt
import pytest

from control import credentials
from control.adapters.mqtt_topics import TopicScheme
from control.adapters.ocpp_csms import OcppCsms
from control.adapters.sunspec_client import SunSpecClient
from control.mosquitto import free_port
from control.sim.site import CHARGERS, SimConfig, run_sim_devices

MACHINES = ("load-shredder-2", "load-3dprinters", "load-med-fridge", "load-server-room")


def _status_of_machines(cfg: SimConfig) -> dict[str, str]:
    creds = credentials.load(f"{cfg.mqtt_dir}/credentials.json")
    seen: dict[str, str] = {}
    topics = TopicScheme(cfg.site_id)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set("novaenergy-service", creds["novaenergy-service"])
    client.on_message = lambda c, u, m: seen.__setitem__(m.topic.split("/")[2], m.payload.decode())
    client.connect(cfg.mqtt_host, cfg.mqtt_port)
    client.subscribe(topics.all_of("status"), qos=1)
    client.loop_start()
    try:
        for _ in range(50):
            if set(MACHINES) <= seen.keys():
                break
            time.sleep(0.1)
    finally:
        client.loop_stop()
        client.disconnect()
    return seen


@pytest.mark.slow
def test_sim_devices_serve_every_protocol(tmp_path):
    cfg = SimConfig(
        inverter_port=free_port(),
        battery_port=free_port(),
        mqtt_port=free_port(),
        mqtt_dir=str(tmp_path / "mqtt"),
        ocpp_url="",
        ocpp_credentials=str(tmp_path / "ocpp.json"),
        meter_interval_s=1.0,
        meter_port=free_port(),
    )
    passwords = credentials.load_or_create(cfg.ocpp_credentials, CHARGERS)

    async def scenario():
        async with OcppCsms(passwords, site_id=cfg.site_id, port=0) as csms:
            run = SimConfig(**{**cfg.__dict__, "ocpp_url": csms.url().rstrip("/")})
            stop = asyncio.Event()
            sim = asyncio.create_task(run_sim_devices(run, stop))
            try:
                await csms.wait_for_count(len(CHARGERS), timeout_s=20)
                assert set(csms.chargers) == set(CHARGERS)
                inverter = SunSpecClient(cfg.host, cfg.inverter_port)
                assert await inverter.connect()
                assert {1, 103, 120, 123} <= set(inverter.models)
                await inverter.close()
                status = await asyncio.to_thread(_status_of_machines, cfg)
                assert status == {m: "online" for m in MACHINES}
                meter = SunSpecClient(cfg.host, cfg.meter_port)
                assert await meter.connect()
                assert {1, 203, 123} <= set(meter.models)
                await meter.close()
            finally:
                stop.set()
                await asyncio.wait_for(sim, 20)

    asyncio.run(asyncio.wait_for(scenario(), 60))
    assert json.loads((tmp_path / "ocpp.json").read_text()).keys() == set(CHARGERS)
