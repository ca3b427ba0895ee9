"""Every listener's address defaults to loopback, and only the ``DEVICE_HOST`` setting (or an
explicit argument) moves it; the dev servers that ``make`` starts get loopback too.

The running services are checked in ``test_dev_site`` (sockets of the real processes) and
``test_streamlit``; this module checks the defaults they are built from.
"""

import inspect
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from control.adapters.ocpp_csms import OcppCsms
from control.api import serve_api
from control.mosquitto import MosquittoBroker, config_text
from control.serve import ServeParams
from control.sim.grid_meter import start_grid_meter
from control.sim.site import SimConfig
from control.sim.sunspec_devices import serve_sunspec_devices, start_sunspec_devices
from novaenergy.control_cmd import serve_params
from novaenergy.settings import load_settings
from novaenergy.sim_cmd import sim_config

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"


@pytest.mark.parametrize(
    "listener",
    [
        serve_api,
        OcppCsms,
        start_sunspec_devices,
        serve_sunspec_devices,
        start_grid_meter,
        MosquittoBroker,
    ],
    ids=lambda f: f.__name__,
)
def test_each_listener_binds_to_loopback_unless_given_a_host(listener):
    assert inspect.signature(listener).parameters["host"].default == LOOPBACK


def test_the_mosquitto_config_has_one_listener_on_the_given_address(tmp_path):
    lines = config_text(tmp_path, 1883, LOOPBACK, None, 1000).splitlines()
    assert [line for line in lines if line.startswith(("listener", "port", "bind"))] == [
        f"listener 1883 {LOOPBACK}"
    ]


def test_service_and_simulator_defaults_are_loopback():
    params, sim = ServeParams(), SimConfig()
    assert (params.api_host, params.ocpp_host, params.device_host) == (LOOPBACK,) * 3
    assert (sim.host, sim.mqtt_host) == (LOOPBACK, LOOPBACK)
    assert sim.ocpp_url.startswith(f"ws://{LOOPBACK}:")


def _hosts(environ: dict[str, str]) -> set[str]:
    """Every address the CLI's services bind to or connect over, from these settings."""
    settings = load_settings(environ=environ, dotenv=None)
    params, sim = serve_params(settings), sim_config(settings)
    return {
        params.api_host,
        params.ocpp_host,
        params.device_host,
        sim.host,
        sim.mqtt_host,
        re.match(r"ws://([^:/]+):", sim.ocpp_url).group(1),
    }


def test_default_settings_put_every_service_on_loopback():
    assert _hosts({}) == {LOOPBACK}
    example = load_settings(environ={}, dotenv=ROOT / ".env.example")
    assert example.device_host == LOOPBACK


def test_listening_elsewhere_takes_the_device_host_setting():
    assert _hosts({"DEVICE_HOST": "192.0.2.10"}) == {"192.0.2.10"}


def _recipe(target: str) -> str:
    """The recipe lines of a Makefile target, joined."""
    text = (ROOT / "Makefile").read_text()
    match = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", text, re.MULTILINE)
    assert match, f"no {target} target in the Makefile"
    return match.group(1)


def test_make_dev_starts_dagster_on_loopback_and_leaves_streamlit_to_its_config():
    dev = _recipe("dev")
    assert re.search(r"\bdagster dev -w workspace\.yaml -h 127\.0\.0\.1 -p \d+", dev), dev
    assert "streamlit run dashboards/app.py" in dev
    assert "server.address" not in dev  # .streamlit/config.toml decides (tested below)
    assert "DEVICE_HOST" not in dev  # the services get the settings' loopback default


def test_the_dagster_workspace_names_no_code_server_on_the_network():
    """``python_module`` locations are served by code servers ``dagster dev`` starts itself
    (on a local socket); a ``grpc_server`` entry would point at a host."""
    locations = yaml.safe_load((ROOT / "workspace.yaml").read_text())["load_from"]
    assert all(set(entry) <= {"python_module", "python_file"} for entry in locations)


def test_make_notebooks_starts_jupyter_on_loopback():
    assert "--ServerApp.ip=127.0.0.1" in _recipe("notebooks")


def test_streamlit_config_binds_loopback():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == LOOPBACK
