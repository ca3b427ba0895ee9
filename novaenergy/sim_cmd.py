"""``novaenergy sim devices``: run the simulated sample site until Ctrl-C (or ``--duration``)."""

from __future__ import annotations

import asyncio
import logging
import signal

from control.sim.site import SimConfig, run_sim_devices
from novaenergy.settings import Settings
from pipelines.log_redaction import redact_credentials_in_logs


def sim_config(settings: Settings) -> SimConfig:
    """The simulator's addresses from the settings."""
    host = settings.device_host
    return SimConfig(
        site_id=settings.site_id,
        host=host,
        inverter_port=settings.sunspec_inverter_port,
        battery_port=settings.sunspec_battery_port,
        mqtt_host=host,
        mqtt_port=settings.mqtt_port,
        mqtt_dir=settings.mqtt_dir,
        ocpp_url=f"ws://{host}:{settings.ocpp_port}",
        ocpp_credentials=settings.ocpp_credentials,
        meter_port=settings.grid_meter_port,
    )


async def _main(cfg: SimConfig, duration_s: float | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if duration_s is not None:
        loop.call_later(duration_s, stop.set)
    await run_sim_devices(cfg, stop)


def run(settings: Settings, duration_s: float | None = None) -> int:
    """Run the simulated devices; returns the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    redact_credentials_in_logs()  # websockets logs the stations' Basic auth at DEBUG
    cfg = sim_config(settings)
    print(
        f"simulated site {cfg.site_id}: SunSpec inverter {cfg.host}:{cfg.inverter_port}, battery "
        f"{cfg.host}:{cfg.battery_port}; MQTT machines on {cfg.mqtt_host}:{cfg.mqtt_port}; OCPP "
        f"charge points -> {cfg.ocpp_url} (Ctrl-C stops)"
    )
    asyncio.run(_main(cfg, duration_s))
    return 0
