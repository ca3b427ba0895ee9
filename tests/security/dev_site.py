"""The simulated site and the control service as ``make dev`` runs them, at DEBUG logging,
with known secrets.

``novaenergy sim devices`` (which starts mosquitto) and ``novaenergy control serve`` run
as subprocesses through the real CLI, in an empty folder (no ``.env``), so every setting is
its default except the ports (free ones, so that nothing clashes) and the secrets: the
ENTSO-E key, the control API token, and the MQTT and OCPP passwords, written beforehand to
the credential files the services read. The only addition to the CLI is
``logging.basicConfig(level=DEBUG)`` before it runs (its own ``basicConfig`` is then a
no-op), so that every library logs all it has.
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import polars as pl

from control import credentials
from control.mosquitto import SERVICE_USER, free_port
from control.sim.machines import CRITICAL_MACHINES, SAMPLE_MACHINES
from control.sim.site import CHARGERS
from novaenergy.settings import DEFAULTS
from tests.security.processes import listening_sockets, stop_tree

DEBUG_CLI = (
    "import logging, sys; "
    "logging.basicConfig(level=logging.DEBUG, format='%(name)s %(levelname)s %(message)s'); "
    "from novaenergy.cli import main; sys.exit(main(sys.argv[1:]))"
)
MACHINES = tuple(m.device_id for m in SAMPLE_MACHINES + CRITICAL_MACHINES)
STARTUP_S = 90.0  # two interpreters importing the stack on a busy 2-core machine


def _secret(kind: str) -> str:
    return f"{kind}-{secrets.token_hex(12)}"


@dataclass
class DevSite:
    """The two services of ``make dev`` in ``workdir``; see :meth:`start`."""

    workdir: Path
    ports: dict[str, int] = field(default_factory=dict)
    entsoe_api_key: str = field(default_factory=lambda: _secret("entsoe"))
    api_token: str = field(default_factory=lambda: _secret("api-token"))
    mqtt_passwords: dict[str, str] = field(default_factory=dict)
    ocpp_passwords: dict[str, str] = field(default_factory=dict)
    listeners: dict[str, set[tuple[str, str, int]]] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['CONTROL_API_PORT']}"

    @property
    def ocpp_url(self) -> str:
        return f"ws://127.0.0.1:{self.ports['OCPP_PORT']}"

    def environment(self) -> dict[str, str]:
        """The caller's environment without any project setting, plus ports and secrets."""
        env = {k: v for k, v in os.environ.items() if k not in DEFAULTS}
        env |= {k: str(v) for k, v in self.ports.items()}
        env |= {
            "ENTSOE_API_KEY": self.entsoe_api_key,
            "CONTROL_API_TOKEN": self.api_token,
            "PYTHONUNBUFFERED": "1",
        }
        return env

    def secret_forms(self) -> dict[str, str]:
        """Every secret as it could leak: raw, base64, and as HTTP Basic ``user:password``."""
        named = {"ENTSOE_API_KEY": ("", self.entsoe_api_key)}
        named["CONTROL_API_TOKEN"] = ("", self.api_token)
        named |= {f"MQTT password of {u}": (u, p) for u, p in self.mqtt_passwords.items()}
        named |= {f"OCPP password of {s}": (s, p) for s, p in self.ocpp_passwords.items()}
        forms = {}
        for name, (user, value) in named.items():
            forms[value] = name
            forms[base64.b64encode(value.encode()).decode()] = f"{name} (base64)"
            if user:
                basic = base64.b64encode(f"{user}:{value}".encode()).decode()
                forms[basic] = f"{name} (HTTP Basic)"
        return forms

    def start(self) -> DevSite:
        """Write the credential files, start both services and wait until every device is
        online in the service; then record the sockets each process tree listens on."""
        for name in (
            "MQTT_PORT",
            "OCPP_PORT",
            "SUNSPEC_INVERTER_PORT",
            "SUNSPEC_BATTERY_PORT",
            "GRID_METER_PORT",
            "CONTROL_API_PORT",
        ):
            self.ports[name] = free_port()
        self.mqtt_passwords = {u: _secret("mqtt") for u in (SERVICE_USER, *MACHINES)}
        self.ocpp_passwords = {c: _secret("ocpp") for c in CHARGERS}
        credentials.save(
            self.workdir / DEFAULTS["MQTT_DIR"] / "credentials.json", self.mqtt_passwords
        )
        credentials.save(self.workdir / DEFAULTS["OCPP_CREDENTIALS"], self.ocpp_passwords)
        deadline = time.monotonic() + STARTUP_S
        self._launch("sim", "devices")
        self._launch("control", "serve")
        self._wait_until_every_device_is_online(deadline)
        self.listeners = {name: listening_sockets(p.pid) for name, p in self.procs.items()}
        return self

    def _launch(self, *argv: str) -> None:
        out = (self.workdir / f"{argv[0]}.out").open("wb")
        self.procs[argv[0]] = subprocess.Popen(
            [sys.executable, "-c", DEBUG_CLI, *argv],
            cwd=self.workdir,
            env=self.environment(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()

    def _wait_until_every_device_is_online(self, deadline: float) -> None:
        offline: object = "API not up"
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                assert proc.poll() is None, f"{name} exited:\n{self.output(name)[-3000:]}"
            try:
                devices = httpx.get(f"{self.api_url}/devices", timeout=2).json()
            except httpx.HTTPError:
                time.sleep(0.3)
                continue
            offline = sorted(d["device_id"] for d in devices if not d["online"])
            if devices and not offline:
                return
            time.sleep(0.3)
        raise AssertionError(f"devices not online within {STARTUP_S} s: {offline}")

    def stop(self) -> None:
        """Stop both services (SIGTERM, as Ctrl-C would), the simulator last."""
        for name in ("control", "sim"):
            if name in self.procs:
                stop_tree(self.procs[name])

    def output(self, name: str) -> str:
        """Everything process ``name`` wrote to stdout and stderr."""
        return (self.workdir / f"{name}.out").read_text(errors="replace")

    def written_text(self) -> dict[str, str]:
        """Text of every file the services wrote, except the credential stores themselves:
        outputs, mosquitto's log, state, and the landed Parquet rows (as CSV)."""
        stores = {
            self.workdir / DEFAULTS["MQTT_DIR"] / "credentials.json",
            self.workdir / DEFAULTS["OCPP_CREDENTIALS"],
            self.workdir / DEFAULTS["MQTT_DIR"] / "passwd",  # hashed by mosquitto_passwd
        }
        texts = {}
        for path in sorted(p for p in self.workdir.rglob("*") if p.is_file()):
            if path in stores or "persistence" in path.parts:
                continue
            if path.suffix == ".parquet":
                texts[str(path)] = pl.read_parquet(path).write_csv()
            else:
                texts[str(path)] = path.read_bytes().decode(errors="replace")
        return texts
