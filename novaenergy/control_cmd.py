"""``novaenergy control serve``: the control service with the settings of this installation."""

from __future__ import annotations

import logging

from control.island import IslandConfig
from control.policy import PolicyConfig
from control.serve import ServeParams
from control.serve import run as run_service
from control.sim.machines import CRITICAL_MACHINES
from novaenergy.settings import Settings
from pipelines.log_redaction import redact_credentials_in_logs


def serve_params(settings: Settings) -> ServeParams:
    """The service's parameters from the settings."""
    return ServeParams(
        site_id=settings.site_id,
        lake_root=settings.lake_root,
        raw_root=settings.raw_root,
        state_path=settings.control_state_path,
        api_host=settings.device_host,
        api_port=settings.control_api_port,
        api_token=settings.control_api_token or None,
        device_host=settings.device_host,
        ocpp_host=settings.device_host,
        ocpp_port=settings.ocpp_port,
        ocpp_credentials=settings.ocpp_credentials,
        sunspec_inverter_port=settings.sunspec_inverter_port,
        sunspec_battery_port=settings.sunspec_battery_port,
        mqtt_port=settings.mqtt_port,
        mqtt_dir=settings.mqtt_dir,
        cycle_s=float(settings.control_cycle_s),
        max_import_w=settings.max_import_limit_kw * 1000.0,
        max_export_w=settings.max_export_limit_kw * 1000.0,
        grid_meter_port=settings.grid_meter_port,
        critical_machines=tuple((m.device_id, m.rated_power_w) for m in CRITICAL_MACHINES)
        if settings.grid_meter_port is not None
        else (),
    )


def run(settings: Settings, duration_s: float | None = None) -> int:
    """Run the service until Ctrl-C (or ``duration_s``); returns the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    redact_credentials_in_logs()  # websockets logs the stations' Basic auth at DEBUG
    params = serve_params(settings)
    mode = "read-only" if not params.api_token else "overrides with the bearer token"
    print(
        f"control service for {params.site_id}: API http://{params.api_host}:{params.api_port}/docs "
        f"({mode}), OCPP ws://{params.ocpp_host}:{params.ocpp_port}/<station>, every "
        f"{params.cycle_s:g} s (Ctrl-C stops)"
    )
    try:
        return run_service(
            params,
            duration_s=duration_s,
            policy_config=PolicyConfig(setpoint_ttl_s=float(settings.control_setpoint_ttl_s)),
            island=IslandConfig() if params.grid_meter_port is not None else None,
        )
    except OSError as exc:
        print(f"error: cannot start the control service: {exc}")
        return 1
