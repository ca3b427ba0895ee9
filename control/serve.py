"""Composition of ``novaenergy control serve``: adapters, drivers, the loop and the API.

Built from plain parameters (the CLI maps settings onto :class:`ServeParams`); nothing here
reads the environment. Started: the OCPP CSMS (stations connect to it), the SunSpec clients
of the inverter and the battery (their telemetry polled and landed), the MQTT channel of the
machines, the dispatch loop and the HTTP API. A stop (signal or ``duration_s``) ends the loop
and the API, then closes the adapters. Setpoints are deliberately not released on a stop:
they lapse on the devices' own timers, and a restarted service re-sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from control import credentials
from control.api import create_app, serve_api
from control.commands import CommandRecorder
from control.devices import (
    DeviceRegistry,
    GridReader,
    MqttLoadDriver,
    OcppChargerDriver,
    SunSpecBatteryDriver,
    SunSpecInverterDriver,
)
from control.model import DeviceLimit, SiteLimits
from control.plan_source import LakePlanSource
from control.service import ControlService, Policy, ServiceConfig
from control.state import StateStore
from pipelines import lake

LOG = logging.getLogger(__name__)


class SystemClock:
    """Wall-clock UTC time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class ServeParams:
    """Everything ``novaenergy control serve`` needs; defaults match the sample site.

    Attributes
    ----------
    site_id : str
    lake_root, raw_root : str
        Lake (plans, fleet) and raw landing root (commands, events, telemetry).
    state_path : str
        The service's state file; the CSMS keeps its open transactions next to it, in
        ``<stem>.ocpp-transactions.json``.
    api_host, api_port : str, int
        Control API address (OpenAPI at /docs).
    api_token : str or None
        Bearer token for writes; None or empty: read-only API.
    device_host : str
        Where the SunSpec devices and the MQTT broker are; the CSMS listens on ``ocpp_host``.
    ocpp_host, ocpp_port : str, int
    ocpp_credentials : str
        Station passwords (JSON, created if missing).
    ocpp_max_offline_s : int
        OCPP 2.1 ``maxOfflineDuration`` [s].
    chargers, v2x_chargers : tuple of str
        Station ids served, and those allowed to discharge.
    sunspec_inverter_port, sunspec_battery_port : int
    mqtt_port : int
    mqtt_dir : str
        Folder of the broker's ``credentials.json`` (the service user's password).
    machines : tuple of (str, float)
        MQTT machines and their rated power [W].
    critical_machines : tuple of (str, float)
        MQTT machines kept powered in island mode while the battery allows, and their rated
        power [W]; listed in the order they are shed if the battery cannot carry them.
    grid_meter_port : int or None
        SunSpec grid meter (model 203, relay on model 123 ``Conn``) on ``device_host``: the
        service's grid reader and, with ``island``, its island switch. None: no meter.
    cycle_s : float
        Dispatch cycle [s].
    telemetry_s : float
        How often the SunSpec readings of the cycles are landed as telemetry [s].
    max_import_w, max_export_w : float
        Grid connection limits [W].
    plan_slot_s, plan_refresh_s : float
        Plan slot length (15 minutes; shorter only in tests) and how often the plan in force
        is re-read from the lake [s].
    curtail_hold_s : float
        How long the inverter keeps a PV curtailment once the service is gone [s]: lifting
        it would raise the export, so it outlasts a restart.
    """

    site_id: str = "warehouse-b"
    lake_root: str = "data/lake"
    raw_root: str = "data/raw"
    state_path: str = "data/control/state.json"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_token: str | None = field(default=None, repr=False)
    device_host: str = "127.0.0.1"
    ocpp_host: str = "127.0.0.1"
    ocpp_port: int = 9000
    ocpp_credentials: str = "data/ocpp/credentials.json"
    ocpp_max_offline_s: int = 900
    chargers: tuple[str, ...] = tuple(f"charger-{i}" for i in range(1, 7))
    v2x_chargers: tuple[str, ...] = tuple(f"charger-{i}" for i in range(1, 5))
    sunspec_inverter_port: int = 5020
    sunspec_battery_port: int = 5021
    mqtt_port: int = 1883
    mqtt_dir: str = "data/mqtt"
    machines: tuple[tuple[str, float], ...] = (
        ("load-shredder-2", 120_000.0),
        ("load-3dprinters", 30_000.0),
    )
    critical_machines: tuple[tuple[str, float], ...] = ()
    grid_meter_port: int | None = None
    cycle_s: float = 5.0
    telemetry_s: float = 10.0
    max_import_w: float = 400_000.0
    max_export_w: float = 50_000.0
    plan_slot_s: float = 900.0
    plan_refresh_s: float = 60.0
    curtail_hold_s: float = 3600.0


def site_limits(
    params: ServeParams,
    battery_w: float = 100_000.0,
    charger_w: float = 22_000.0,
    pv_rated_w: float = 250_000.0,
    critical_machines: tuple[tuple[str, float], ...] | None = None,
) -> SiteLimits:
    """Device limits of the site: chargers from the lake's ``fleet_vehicles`` (a charger
    discharges only for a V2G vehicle), otherwise ``charger_w`` [W] with V2X on
    ``v2x_chargers``; the battery ±``battery_w``; machines 0..rated, the smaller shed first;
    critical machines (``params.critical_machines`` if None) 0..rated with ``critical``,
    shed after every other machine, in the order listed."""
    devices = {"battery-1": DeviceLimit("battery-1", "battery", -battery_w, battery_w)}
    vehicles = lake.read_partition(params.lake_root, "fleet_vehicles", params.site_id)
    fleet = {v["charger_id"]: v for v in vehicles.iter_rows(named=True)}
    for cid in params.chargers:
        v = fleet.get(cid)
        if v is None:
            low = -charger_w if cid in params.v2x_chargers else 0.0
            devices[cid] = DeviceLimit(cid, "charger", low, charger_w)
        else:
            low = -v["max_discharge_kw"] * 1000 if v["v2g_allowed"] else 0.0
            devices[cid] = DeviceLimit(cid, "charger", low, v["max_charge_kw"] * 1000)
    by_size = sorted(params.machines, key=lambda m: m[1])
    for priority, (device_id, rated_w) in enumerate(by_size):
        devices[device_id] = DeviceLimit(device_id, "load", 0.0, rated_w, shed_priority=priority)
    if critical_machines is None:
        critical_machines = params.critical_machines
    for k, (device_id, rated_w) in enumerate(critical_machines, start=len(by_size)):
        devices[device_id] = DeviceLimit(device_id, "load", 0.0, rated_w, True, k)
    devices["pv-curtailment"] = DeviceLimit("pv-curtailment", "pv", 0.0, pv_rated_w)
    return SiteLimits(params.max_import_w, params.max_export_w, devices)


def default_policy() -> tuple[Policy, object]:
    """``control.policy.decide`` and its default ``PolicyConfig``."""
    from control.policy import PolicyConfig, decide

    return decide, PolicyConfig()


class TelemetryBuffer:
    """Collects the SunSpec drivers' telemetry rows and lands them every ``every_s`` [s],
    so a 5 s cycle does not make a batch file per device and cycle."""

    def __init__(self, raw_root: str, site_id: str, every_s: float) -> None:
        from ingest.telemetry_landing import TelemetryBatchWriter

        self.site_id = site_id
        self.every_s = every_s
        self.writer = TelemetryBatchWriter(raw_root, f"sunspec-{site_id}")
        self.rows: list[dict] = []

    def add(self, rows: list[dict]) -> None:
        self.rows.extend(rows)

    def flush(self) -> None:
        rows, self.rows = self.rows, []
        try:
            self.writer.write(rows)
        except OSError:  # telemetry must not take the service down
            LOG.exception("%d SunSpec telemetry rows not landed", len(rows))

    async def run(self, stop: asyncio.Event) -> None:
        """Flush every ``every_s`` until ``stop``, then once more."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every_s)
            await asyncio.to_thread(self.flush)


async def serve_control(
    params: ServeParams,
    stop: asyncio.Event,
    policy: Policy | None = None,
    policy_config: object = None,
    limits: SiteLimits | None = None,
    grid: GridReader | None = None,
    island: object = None,
    on_api_started: Callable[[int], None] | None = None,
) -> None:
    """Run the control service until ``stop`` is set.

    Parameters
    ----------
    params : ServeParams
    stop : asyncio.Event
    policy : callable, optional
        ``decide``; :func:`default_policy` if None.
    policy_config : object, optional
        The policy's ``config`` (``PolicyConfig()`` with the default policy).
    limits : SiteLimits, optional
        :func:`site_limits` if None.
    grid : async callable returning GridState, optional
        The grid meter; the SunSpec meter at ``params.grid_meter_port`` if None and that is
        set. The island state machine needs one: ``island`` (an ``IslandConfig``) is ignored
        without it, since a site with no meter would read as a lost grid. With the SunSpec
        meter, island actions also go on the wire (relay, grid-forming battery-1).
    on_api_started : callable, optional
        Called with the API's bound port.
    """
    from control.adapters.mqtt_channel import MqttChannel, MqttChannelSettings, MqttLoad
    from control.adapters.ocpp_csms import OcppCsms
    from control.adapters.sunspec_client import SunSpecBattery, SunSpecClient, SunSpecInverter
    from control.mosquitto import SERVICE_USER
    from ingest.telemetry_landing import TelemetryBatchWriter

    clock = SystemClock()
    if policy is None:
        policy, default_config = default_policy()
        policy_config = default_config if policy_config is None else policy_config
    limits = limits or site_limits(params)
    meter, switch = None, None
    if grid is None and params.grid_meter_port is not None:
        meter, switch = _grid_meter(params, clock, island is not None)
        grid = meter
    if island is not None and grid is None:
        LOG.warning("island mode needs a grid meter reader; running grid-connected only")
        island = None
    passwords = credentials.load_or_create(params.ocpp_credentials, params.chargers)
    csms = OcppCsms(
        {c: passwords[c] for c in params.chargers},
        params.site_id,
        host=params.ocpp_host,
        port=params.ocpp_port,
        raw_root=params.raw_root,
        max_offline_s=params.ocpp_max_offline_s,
        v2x_stations=params.v2x_chargers,
    )
    state_path = Path(params.state_path)
    csms.ctx.transactions.keep_in(state_path.with_name(f"{state_path.stem}.ocpp-transactions.json"))
    mqtt_password = credentials.load(Path(params.mqtt_dir) / "credentials.json").get(SERVICE_USER)
    channel = None
    if mqtt_password:
        channel = MqttChannel(
            MqttChannelSettings(
                params.site_id, SERVICE_USER, mqtt_password, params.device_host, params.mqtt_port
            ),
            TelemetryBatchWriter(params.raw_root, f"mqtt-{params.site_id}"),
        )
    else:
        LOG.warning(
            "no MQTT password for %s in %s: machines not driven", SERVICE_USER, params.mqtt_dir
        )
    inverter = SunSpecInverter(
        SunSpecClient(params.device_host, params.sunspec_inverter_port, name="pv-inverter-1")
    )
    battery = SunSpecBattery(
        SunSpecClient(params.device_host, params.sunspec_battery_port, name="battery-1")
    )
    drivers = {c: OcppChargerDriver(csms, c, clock) for c in params.chargers}
    telemetry = TelemetryBuffer(params.raw_root, params.site_id, params.telemetry_s)
    drivers["pv-curtailment"] = SunSpecInverterDriver(
        inverter,
        clock,
        rated_w=limits.devices["pv-curtailment"].max_w,
        telemetry=telemetry,
        hold_s=params.curtail_hold_s,
    )
    drivers["battery-1"] = SunSpecBatteryDriver(battery, clock, telemetry=telemetry)
    if channel is not None:
        for device_id, rated_w in params.machines + params.critical_machines:
            drivers[device_id] = MqttLoadDriver(MqttLoad(channel, device_id, rated_w), clock)
    service = ControlService(
        ServiceConfig(
            params.site_id,
            limits,
            cycle_s=params.cycle_s,
            policy_config=policy_config,
            island=island,
        ),
        clock,
        LakePlanSource(
            params.lake_root,
            params.site_id,
            timedelta(seconds=params.plan_slot_s),
            params.plan_refresh_s,
        ),
        DeviceRegistry(drivers, grid=grid, island_switch=switch),
        policy,
        CommandRecorder(params.raw_root, params.site_id, now=clock.now()),
        StateStore(params.state_path),
    )
    await csms.start()
    try:
        if channel is not None:
            channel.start(wait_s=None)  # connects in the background, retrying
        app = create_app(service, params.api_token)
        await asyncio.gather(
            service.run(stop),
            serve_api(app, params.api_host, params.api_port, stop, on_api_started),
            telemetry.run(stop),
        )
    finally:
        stop.set()
        for device in (inverter, battery):
            await device.close()
            await device.client.close()
        if meter is not None:
            await meter.close()
        if switch is not None:
            await switch.close()
        if channel is not None:
            await asyncio.to_thread(channel.stop)
        await csms.stop()


def _grid_meter(params: ServeParams, clock, with_switch: bool):
    """The SunSpec grid meter reader and, ``with_switch``, the island switch over it."""
    from control.adapters.sunspec_client import SunSpecClient
    from control.adapters.sunspec_meter import SunSpecGridMeter
    from control.island_switch import SunSpecIslandSwitch

    meter = SunSpecGridMeter(
        SunSpecClient(params.device_host, params.grid_meter_port, name="grid-meter"), clock
    )
    if not with_switch:
        return meter, None
    # its own connection to the battery: see SunSpecIslandSwitch
    forming = SunSpecClient(
        params.device_host, params.sunspec_battery_port, name="battery-1 island"
    )
    return meter, SunSpecIslandSwitch(meter, {"battery-1": forming})


def run(params: ServeParams, duration_s: float | None = None, **kwargs) -> int:
    """Run until SIGINT/SIGTERM (or ``duration_s`` [s]); returns the exit code.

    Keyword arguments go to :func:`serve_control`.
    """

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if duration_s is not None:
            loop.call_later(duration_s, stop.set)
        await serve_control(params, stop, **kwargs)

    asyncio.run(main())
    return 0
