"""The resilience tests' site: simulated devices on loopback, a plan in the lake, the control
service (as an OS process or in this one) and a watch on every limit.

Everything here is a real peer over a socket: the SunSpec inverter, grid-forming battery and
grid meter of :mod:`control.sim` on Modbus TCP, the OCPP 2.1 stations of
:mod:`control.sim.ocpp_stations` on websockets, closed into one power balance by
:class:`control.sim.site_physics.SitePhysics`. Powers are in W, positive when drawing from the
site bus; the site's net exchange is positive when importing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import polars as pl

from control import credentials
from control.commands import COMMANDS, EVENTS, read_landed
from control.mosquitto import free_port
from control.plan_source import slot_start
from control.serve import ServeParams
from control.sim.grid_meter import SimulatedGridMeter, start_grid_meter
from control.sim.ocpp_stations import Ev, SimStation, run_station
from control.sim.site_physics import SitePhysics
from control.sim.sunspec_devices import SimulatedSunSpecDevice, start_sunspec_devices
from pipelines import lake

SITE = "warehouse-b"
HOST = "127.0.0.1"
MAX_IMPORT_W = 400_000.0
MAX_EXPORT_W = 50_000.0
PV_RATED_W = 250_000.0
BATTERY_MAX_W = 100_000.0
CHARGER_MAX_W = 22_000.0
FLOAT_W = 1e-6
"""Float noise in a sum of powers [W]; anything above it breaks a limit."""
SERVICE_CHARGERS = tuple(f"charger-{i}" for i in range(1, 7))


def write_plan(lake_root: Path, plan_id: str, power_w: dict[str, float], slot: timedelta) -> None:
    """Land one plan holding ``power_w`` [W] per device over the slot in force and the next.

    Two slots, so a test that straddles a slot boundary still follows the same plan.
    """
    start = slot_start(datetime.now(UTC), slot)
    rows = [
        {
            "site_id": SITE,
            "plan_id": plan_id,
            "kind": "intraday",
            "created_at_utc": start - timedelta(seconds=1),
            "valid_from_utc": start,
            "valid_until_utc": start + 2 * slot,
            "device_id": device_id,
            "slot_start_utc": start + k * slot,
            "power_w": w,
        }
        for device_id, w in power_w.items()
        for k in range(2)
    ]
    lake.merge_days(lake_root, "setpoint_plans", pl.DataFrame(rows))


def landed(raw_root: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The ``device_commands`` and ``control_events`` rows the service landed, by time."""
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=1), today]
    commands = read_landed(raw_root, COMMANDS, SITE, days).sort("sent_at_utc")
    return commands, read_landed(raw_root, EVENTS, SITE, days).sort("ts_utc")


@dataclass(frozen=True)
class Write:
    """One control register written to a simulated SunSpec device, at ``t`` [s, monotonic]."""

    t: float
    point: str
    raw: int


def record_writes(*devices: SimulatedSunSpecDevice) -> list[Write]:
    """Every accepted register write to ``devices`` from now on, in order."""
    writes: list[Write] = []
    for device in devices:
        original = device.write_registers

        def recording(address: int, values: list[int], device=device, original=original):
            refused = original(address, values)
            if refused is None:
                for i, raw in enumerate(values):
                    _, name = device.image.point_at(address + i)
                    writes.append(Write(time.monotonic(), name, raw))
            return refused

        device.write_registers = recording  # type: ignore[method-assign]
    return writes


@dataclass
class SimSite:
    """The simulated site: start with :meth:`start`, point stations at a CSMS, stop.

    Parameters
    ----------
    tmp : Path
        Folder for the lake, raw landing, state and credentials.
    base_load_w : float
        Uncontrolled load behind the grid meter [W].
    available_pv_w : float
        PV the array gives now [W].
    stations : dict of str to bool
        Simulated OCPP stations and whether their EV allows V2G.
    meter_interval_s : float
        The stations' meter interval [s], also the step of their EVs.
    """

    tmp: Path
    base_load_w: float = 60_000.0
    available_pv_w: float = 200_000.0
    stations: dict[str, bool] = field(default_factory=lambda: {"charger-1": True})
    meter_interval_s: float = 0.2
    ocpp_port: int = field(default_factory=free_port)
    sims: dict[str, SimStation] = field(init=False, default_factory=dict)
    links: dict[str, asyncio.Task] = field(init=False, default_factory=dict)
    tasks: list[asyncio.Task] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.sims = {s: SimStation(s, Ev(v2g=v2g)) for s, v2g in self.stations.items()}

    async def start(self) -> None:
        """Serve the SunSpec devices and the grid meter, and run the site's power balance."""
        self.sunspec = await start_sunspec_devices(
            HOST,
            0,
            0,
            rated_w=PV_RATED_W,
            available_pv_w=self.available_pv_w,
            battery_power_w=BATTERY_MAX_W,
            tick_s=0.05,
            grid_forming=True,
        )
        self.meter = SimulatedGridMeter()
        self.meter_server, self.meter_port = await start_grid_meter(self.meter, HOST, 0)
        loads = [lambda s=s: s.power_w for s in self.sims.values()]
        physics = SitePhysics(
            self.meter, self.sunspec.battery, self.sunspec.inverter, loads, self.base_load_w
        )
        self.tasks.append(asyncio.create_task(physics.run(0.05)))
        self.passwords = credentials.load_or_create(self.tmp / "ocpp.json", SERVICE_CHARGERS)

    def connect_station(self, station_id: str) -> None:
        """Run the station against the CSMS; it retries every second while it is not up."""
        self.links[station_id] = asyncio.create_task(
            run_station(
                self.sims[station_id],
                f"ws://{HOST}:{self.ocpp_port}",
                self.passwords[station_id],
                meter_interval_s=self.meter_interval_s,
            )
        )

    def net_w(self) -> float:
        """The site's net exchange with the grid now [W], positive = import."""
        stations = sum(s.power_w for s in self.sims.values())
        return (
            self.base_load_w
            + stations
            + self.sunspec.battery.power_w
            - self.sunspec.inverter.output_w
        )

    def params(self, **overrides) -> ServeParams:
        """Parameters of an in-process control service for this site (no MQTT)."""
        base = ServeParams(
            site_id=SITE,
            lake_root=str(self.tmp / "lake"),
            raw_root=str(self.tmp / "raw"),
            state_path=str(self.tmp / "state.json"),
            api_port=0,
            ocpp_port=self.ocpp_port,
            ocpp_credentials=str(self.tmp / "ocpp.json"),
            sunspec_inverter_port=self.sunspec.inverter_port,
            sunspec_battery_port=self.sunspec.battery_port,
            mqtt_dir=str(self.tmp / "no-mqtt"),
            grid_meter_port=self.meter_port,
            max_import_w=MAX_IMPORT_W,
            max_export_w=MAX_EXPORT_W,
        )
        return ServeParams(**(base.__dict__ | overrides))

    def env(self, api_port: int, cycle_s: int, ttl_s: int) -> dict[str, str]:
        """Settings of ``novaenergy control serve`` for this site (no MQTT, no ``.env``)."""
        return os.environ | {
            "SITE_ID": SITE,
            "NOVAENERGY_LAKE_ROOT": str(self.tmp / "lake"),
            "NOVAENERGY_RAW_ROOT": str(self.tmp / "raw"),
            "DEVICE_HOST": HOST,
            "MQTT_PORT": str(free_port()),
            "MQTT_DIR": str(self.tmp / "no-mqtt"),
            "OCPP_PORT": str(self.ocpp_port),
            "OCPP_CREDENTIALS": str(self.tmp / "ocpp.json"),
            "SUNSPEC_INVERTER_PORT": str(self.sunspec.inverter_port),
            "SUNSPEC_BATTERY_PORT": str(self.sunspec.battery_port),
            "GRID_METER_PORT": str(self.meter_port),
            "CONTROL_API_PORT": str(api_port),
            "CONTROL_API_TOKEN": "",
            "CONTROL_STATE_PATH": str(self.tmp / "state.json"),
            "CONTROL_CYCLE_S": str(cycle_s),
            "CONTROL_SETPOINT_TTL_S": str(ttl_s),
            "MAX_IMPORT_LIMIT_KW": str(int(MAX_IMPORT_W / 1000)),
            "MAX_EXPORT_LIMIT_KW": str(int(MAX_EXPORT_W / 1000)),
        }

    async def stop(self) -> None:
        """Stop the stations, the balance and the device servers."""
        for task in [*self.links.values(), *self.tasks]:
            task.cancel()
        await asyncio.gather(*self.links.values(), *self.tasks, return_exceptions=True)
        await self.meter_server.shutdown()
        await self.sunspec.stop()


def powers(site: SimSite) -> dict[str, float]:
    """Each driven device's power now, as the simulators show it [W]; for
    ``pv-curtailment`` the PV not produced."""
    return {
        "battery-1": site.sunspec.battery.power_w,
        "pv-curtailment": site.available_pv_w - site.sunspec.inverter.output_w,
        **{s: st.power_w for s, st in site.sims.items()},
    }


def follows(site: SimSite, plan: dict[str, float], tolerance_w: float = 500.0) -> bool:
    """Whether every device in ``plan`` runs at its planned power [W] now."""
    now = powers(site)
    return all(abs(now[d] - w) <= tolerance_w for d, w in plan.items())


@dataclass(frozen=True)
class Sample:
    """What the simulators showed at ``t`` [s, monotonic]: powers [W] and the net [W]."""

    t: float
    net_w: float
    battery_w: float
    pv_output_w: float
    stations_w: dict[str, float]


class LimitWatch:
    """Samples the simulated site every ``every_s`` [s] and lists each limit it broke.

    Limits: the grid connection (``-MAX_EXPORT_W <= net <= MAX_IMPORT_W``), the battery's
    rating, the inverter's rating and each station's EV (no discharge without V2G).
    """

    def __init__(self, site: SimSite, every_s: float = 0.02) -> None:
        self.site = site
        self.every_s = every_s
        self.samples: list[Sample] = []
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        site = self.site
        while True:
            self.samples.append(
                Sample(
                    time.monotonic(),
                    site.net_w(),
                    site.sunspec.battery.power_w,
                    site.sunspec.inverter.output_w,
                    {s: st.power_w for s, st in site.sims.items()},
                )
            )
            await asyncio.sleep(self.every_s)

    def violations(self) -> list[str]:
        """Every sample that broke a limit, as text (empty when none did)."""
        out = []
        for s in self.samples:
            checks = [
                (-MAX_EXPORT_W - FLOAT_W <= s.net_w <= MAX_IMPORT_W + FLOAT_W, f"net {s.net_w} W"),
                (abs(s.battery_w) <= BATTERY_MAX_W, f"battery {s.battery_w} W"),
                (0 <= s.pv_output_w <= PV_RATED_W, f"PV {s.pv_output_w} W"),
            ]
            for sid, w in s.stations_w.items():
                low = -CHARGER_MAX_W if self.site.stations[sid] else 0.0
                checks.append((low <= w <= CHARGER_MAX_W, f"{sid} {w} W"))
            out += [f"t={s.t:.2f}: {what}" for ok, what in checks if not ok]
        return out

    def between(self, t0: float, t1: float) -> list[Sample]:
        """The samples taken from ``t0`` to ``t1`` [s, monotonic]."""
        return [s for s in self.samples if t0 <= s.t <= t1]


async def until(predicate: Callable[[], bool], timeout_s: float, every_s: float = 0.05) -> float:
    """Wait until ``predicate()`` holds; its time [s, monotonic]. TimeoutError after
    ``timeout_s`` [s]."""
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(every_s)
    return time.monotonic()


async def api_get(api: str, path: str) -> dict | list | None:
    """The control API's answer at ``api + path``; None while it does not answer."""
    try:
        async with httpx.AsyncClient(base_url=api, timeout=1.0) as http:
            return (await http.get(path)).json()
    except httpx.HTTPError:
        return None


class InProcessService:
    """:func:`control.serve.serve_control` in this event loop, as ``novaenergy control serve``
    composes it (default policy, island mode over the grid meter), API on a free port.

    Parameters
    ----------
    params : ServeParams
    ttl_s : float
        Lifetime of a setpoint [s].
    """

    def __init__(self, params: ServeParams, ttl_s: float) -> None:
        self.params = params
        self.ttl_s = ttl_s
        self.stop_event = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.api = ""

    async def start(self) -> None:
        """Start and return once the API answers."""
        from control.island import IslandConfig
        from control.policy import PolicyConfig
        from control.serve import serve_control

        ports: list[int] = []
        self.task = asyncio.create_task(
            serve_control(
                self.params,
                self.stop_event,
                policy_config=PolicyConfig(setpoint_ttl_s=self.ttl_s),
                island=IslandConfig(),
                on_api_started=ports.append,
            )
        )
        await until(lambda: bool(ports) or self.task.done(), 20)
        self.api = f"http://{HOST}:{ports[0]}"

    async def get(self, path: str) -> dict | list | None:
        """The API's answer at ``path``; None while it does not answer."""
        return await api_get(self.api, path)

    async def stop(self) -> None:
        """Stop the loop, the API and the adapters."""
        self.stop_event.set()
        if self.task is not None:
            await asyncio.wait_for(self.task, 20)


PRELOAD = """
import sys
# the slow imports, done before the go: the CLI's and those control.serve makes lazily
import control.adapters.mqtt_channel, control.adapters.ocpp_csms, control.adapters.sunspec_meter
import control.island_switch, ingest.telemetry_landing, novaenergy.control_cmd
print("imported", flush=True)
sys.stdin.readline()
from novaenergy.cli import main
sys.exit(main(["control", "serve"]))
"""


class ServiceProcess:
    """``novaenergy control serve`` as its own OS process, started in two steps.

    :meth:`launch` spawns it and lets it import its modules (seconds on a busy machine);
    :meth:`start` then runs ``novaenergy.cli.main(["control", "serve"])``, which reads the
    settings, the state file and the lake afresh, as a supervisor's restart would. So a
    restart's downtime is the test's choice, not the import time.

    Parameters
    ----------
    env : dict
        Its environment (the settings; see :meth:`SimSite.env`).
    cwd : Path
        Its working folder (holding no ``.env``).
    log_path : Path
        Where its stdout and stderr go.
    """

    def __init__(self, env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self.env = env
        self.cwd = cwd
        self.log_path = log_path
        self.api = f"http://{HOST}:{env['CONTROL_API_PORT']}"
        self.proc: asyncio.subprocess.Process | None = None

    async def launch(self) -> None:
        """Spawn the process; it imports, then waits for :meth:`start`."""
        with open(self.log_path, "wb") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                PRELOAD,
                env=self.env,
                cwd=self.cwd,
                stdin=asyncio.subprocess.PIPE,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )

    async def imported(self, timeout_s: float) -> None:
        """Wait until the process has imported its modules [s]."""
        await until(lambda: self.log_path.read_text().startswith("imported"), timeout_s)

    async def start(self) -> None:
        """Run the service now."""
        self.proc.stdin.write(b"go\n")
        await self.proc.stdin.drain()

    async def get(self, path: str) -> dict | list | None:
        """The API's answer at ``path``; None while it does not answer."""
        return await api_get(self.api, path)

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a power cut or an OOM kill."""
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        """SIGTERM and wait (SIGKILL after 10 s); nothing if it is not running."""
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            await self.kill()
