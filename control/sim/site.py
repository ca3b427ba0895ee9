"""The simulated sample site on real protocols: ``novaenergy sim devices``.

- a SunSpec inverter and battery (Modbus TCP, pymodbus SimDevice) at 5020 and 5021; the
  battery can form the grid (``control.sim.grid_forming_battery``);
- a SunSpec grid meter with the grid relay at 5022 (``control.sim.grid_meter``), whose
  power is the site's net exchange from the site physics loop (``control.sim.site_physics``),
  with an optional scripted blackout;
- the MQTT machines (shredder line 2, 3D printers) and the critical loads (medical
  refrigeration, server room) on mosquitto, started here from a generated config unless a
  broker is already running;
- OCPP 2.1 charge points ``charger-1`` .. ``charger-6`` with their trucks (1-4 allow V2G),
  connecting to the CSMS of the control service and reconnecting until it is there.

Everything binds to or connects over loopback unless configured otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass
from pathlib import Path

from control import credentials
from control.mosquitto import MosquittoBroker, private_run_as, site_users
from control.sim.grid_meter import SimulatedGridMeter, start_grid_meter
from control.sim.machines import CRITICAL_MACHINES, SAMPLE_MACHINES, SimulatedMachine
from control.sim.ocpp_stations import run_stations, sample_stations
from control.sim.site_physics import SitePhysics, scripted_blackout
from control.sim.sunspec_devices import start_sunspec_devices

LOG = logging.getLogger(__name__)
CHARGERS = tuple(f"charger-{i}" for i in range(1, 7))
V2G_CHARGERS = CHARGERS[:4]  # trucks 5 and 6 are leased and may not discharge


@dataclass(frozen=True)
class SimConfig:
    """Where the simulated devices listen and what they connect to.

    ``meter_port`` None runs no grid meter (and no physics loop); ``blackout_s`` is an
    optional scripted blackout, (start offset [s], duration [s]) from the start; the
    critical machines run unless ``critical_machines`` is False.
    """

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
    meter_port: int | None = 5022
    base_load_w: float = 60_000.0
    blackout_s: tuple[float, float] | None = None
    critical_machines: bool = True


def _listening(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _machine_specs(cfg: SimConfig):
    return SAMPLE_MACHINES + (CRITICAL_MACHINES if cfg.critical_machines else ())


def ensure_broker(cfg: SimConfig) -> tuple[MosquittoBroker | None, dict[str, str]]:
    """The broker's credentials, starting mosquitto if nothing listens on its port.

    Returns the broker this call started (None if one was running) and user → password.
    """
    creds_path = Path(cfg.mqtt_dir) / "credentials.json"
    if _listening(cfg.mqtt_host, cfg.mqtt_port):
        return None, credentials.load(creds_path)
    machines = [m.device_id for m in _machine_specs(cfg)]
    users = site_users(cfg.site_id, machines, passwords=credentials.load(creds_path))
    run_as = private_run_as()
    broker = MosquittoBroker(
        Path(cfg.mqtt_dir), users, port=cfg.mqtt_port, host=cfg.mqtt_host, run_as=run_as
    )
    credentials.save(creds_path, broker.credentials)
    broker.start()
    return broker, broker.credentials


async def run_sim_devices(cfg: SimConfig, stop: asyncio.Event) -> None:
    """Run every simulated device of the site until ``stop`` is set."""
    sunspec = await start_sunspec_devices(
        cfg.host, cfg.inverter_port, cfg.battery_port, tick_s=cfg.tick_s, grid_forming=True
    )
    broker, creds = await asyncio.to_thread(ensure_broker, cfg)
    machines = []
    tasks: list[asyncio.Task] = []
    meter_server = None
    try:
        for spec in _machine_specs(cfg):
            if spec.device_id not in creds:  # a broker started before the critical loads existed
                LOG.warning("no broker user for %s: not simulated", spec.device_id)
                continue
            machine = SimulatedMachine(
                cfg.site_id, spec, creds[spec.device_id], cfg.mqtt_host, cfg.mqtt_port
            )
            machines.append(await asyncio.to_thread(machine.start, cfg.tick_s))
        stations = sample_stations(CHARGERS, v2g_stations=V2G_CHARGERS)
        if cfg.meter_port is not None:
            meter = SimulatedGridMeter()
            meter_server, _ = await start_grid_meter(meter, cfg.host, cfg.meter_port)
            loads = [m.power_w for m in machines] + [lambda s=s: s.power_w for s in stations]
            physics = SitePhysics(meter, sunspec.battery, sunspec.inverter, loads, cfg.base_load_w)
            tasks.append(asyncio.create_task(physics.run(cfg.tick_s)))
            if cfg.blackout_s is not None:
                tasks.append(asyncio.create_task(scripted_blackout(meter, *cfg.blackout_s)))
        passwords = credentials.load_or_create(cfg.ocpp_credentials, CHARGERS)
        LOG.info(
            "simulated site: SunSpec %s:%s/%s (grid meter %s), MQTT %s:%s, OCPP stations -> %s",
            cfg.host,
            sunspec.inverter_port,
            sunspec.battery_port,
            cfg.meter_port,
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
            stations=stations,
        )
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if meter_server is not None:
            await meter_server.shutdown()
        for machine in machines:
            await asyncio.to_thread(machine.stop)
        if broker is not None:
            await asyncio.to_thread(broker.stop)
        await sunspec.stop()
