"""The simulated sample site on real protocols: ``novaenergy sim devices``.

- a SunSpec inverter and battery (Modbus TCP, pymodbus SimDevice) at 5020 and 5021;
- the MQTT machines (shredder line 2, 3D printers) on mosquitto, started here from a
  generated config unless a broker is already running;
- OCPP 2.1 charge points ``charger-1`` .. ``charger-6`` with their trucks (1-4 allow V2G),
  connecting to the CSMS of the control service and reconnecting until it is there.

Everything binds to or connects over loopback unless configured otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from control import credentials
from control.mosquitto import MosquittoBroker, site_users
from control.sim.machines import SAMPLE_MACHINES, SimulatedMachine
from control.sim.ocpp_stations import run_stations
from control.sim.sunspec_devices import start_sunspec_devices

LOG = logging.getLogger(__name__)
CHARGERS = tuple(f"charger-{i}" for i in range(1, 7))
V2G_CHARGERS = CHARGERS[:4]  # trucks 5 and 6 are leased and may not discharge


@dataclass(frozen=True)
class SimConfig:
    """Where the simulated devices listen and what they connect to."""

    site_id: str = "warehouse-b"
    host: str = "127.0.0.1"
    inverter_port: int = 5020
    battery_port: int = 5021
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    mqtt_dir: str = "data/mqtt"
    ocpp_url: str = "ws://127.0.0.1:9000"
    ocpp_credentials: str = "data/ocpp/credentials.json"
    tick_s: float = 1.0
    meter_interval_s: float = 10.0


def _listening(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def ensure_broker(cfg: SimConfig) -> tuple[MosquittoBroker | None, dict[str, str]]:
    """The broker's credentials, starting mosquitto if nothing listens on its port.

    Returns the broker this call started (None if one was running) and user → password.
    """
    creds_path = Path(cfg.mqtt_dir) / "credentials.json"
    if _listening(cfg.mqtt_host, cfg.mqtt_port):
        return None, credentials.load(creds_path)
    machines = [m.device_id for m in SAMPLE_MACHINES]
    users = site_users(cfg.site_id, machines, passwords=credentials.load(creds_path))
    # as root, mosquitto drops to its own user, which may not enter the repository's folders
    run_as = "root" if os.geteuid() == 0 else None
    broker = MosquittoBroker(
        Path(cfg.mqtt_dir), users, port=cfg.mqtt_port, host=cfg.mqtt_host, run_as=run_as
    )
    credentials.save(creds_path, broker.credentials)
    broker.start()
    return broker, broker.credentials


async def run_sim_devices(cfg: SimConfig, stop: asyncio.Event) -> None:
    """Run every simulated device of the site until ``stop`` is set."""
    sunspec = await start_sunspec_devices(
        cfg.host, cfg.inverter_port, cfg.battery_port, tick_s=cfg.tick_s
    )
    broker, creds = await asyncio.to_thread(ensure_broker, cfg)
    machines = []
    try:
        for spec in SAMPLE_MACHINES:
            machine = SimulatedMachine(
                cfg.site_id, spec, creds[spec.device_id], cfg.mqtt_host, cfg.mqtt_port
            )
            machines.append(await asyncio.to_thread(machine.start, cfg.tick_s))
        passwords = credentials.load_or_create(cfg.ocpp_credentials, CHARGERS)
        LOG.info(
            "simulated site: SunSpec %s:%s/%s, MQTT %s:%s, OCPP stations -> %s",
            cfg.host,
            sunspec.inverter_port,
            sunspec.battery_port,
            cfg.mqtt_host,
            cfg.mqtt_port,
            cfg.ocpp_url,
        )
        await run_stations(
            cfg.ocpp_url,
            CHARGERS,
            passwords,
            v2g_stations=V2G_CHARGERS,
            meter_interval_s=cfg.meter_interval_s,
            stop=stop,
        )
    finally:
        for machine in machines:
            await asyncio.to_thread(machine.stop)
        if broker is not None:
            await asyncio.to_thread(broker.stop)
        await sunspec.stop()
