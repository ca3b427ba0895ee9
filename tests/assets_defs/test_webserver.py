"""End to end: ``dagster-webserver`` on loopback serves the code location to the UI.

The server loads ``workspace.yaml`` as ``make dev`` does, with a throwaway DAGSTER_HOME;
the test asks its GraphQL API what the UI shows: every asset with its group, description
and owner, every check, schedule and sensor with a description.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from assets_defs.catalog import ASSETS, CHECKS, OWNERS, SCHEDULES, SENSORS
from control.mosquitto import free_port
from pipelines.schemas import SCHEMAS

ROOT = Path(__file__).resolve().parents[2]
WEBSERVER = Path(sys.executable).parent / "dagster-webserver"
LOCATION = "novaenergy"
STARTUP_S = 120  # the code location imports pandas, polars, sklearn, pvlib, ...
QUERY_TIMEOUT_S = 60

REPOSITORY_QUERY = """
query Repository($selector: RepositorySelector!) {
  repositoryOrError(repositorySelector: $selector) {
    __typename
    ... on PythonError { message }
    ... on Repository {
      assetNodes {
        assetKey { path }
        groupName
        description
        kinds
        owners {
          ... on TeamAssetOwner { team }
          ... on UserAssetOwner { email }
        }
        metadataEntries { label }
        assetChecksOrError {
          __typename
          ... on AssetChecks { checks { name description } }
        }
      }
      schedules { name cronSchedule executionTimezone description }
      sensors { name description }
    }
  }
}
"""


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server and the code server it started (one process group)."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


def _repository(url: str, deadline: float) -> dict:
    """The repository as the UI sees it, once its code location has loaded."""
    variables = {
        "selector": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__"}
    }
    while True:
        response = httpx.post(
            f"{url}/graphql",
            json={"query": REPOSITORY_QUERY, "variables": variables},
            timeout=QUERY_TIMEOUT_S,
        )
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        repo = body["data"]["repositoryOrError"]
        if repo["__typename"] == "Repository":
            return repo
        # still loading the location; a PythonError means it failed to load
        assert repo["__typename"] == "RepositoryNotFoundError", repo
        assert time.monotonic() < deadline, f"code location not loaded: {repo}"
        time.sleep(1)


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    """The repository served by ``dagster-webserver`` on a free loopback port."""
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "DAGSTER_DISABLE_TELEMETRY": "1"}
    port = free_port()
    log = home / "webserver.log"
    cmd = [WEBSERVER, "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "webserver not up:\n" + log.read_text()
            try:
                if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        yield _repository(url, deadline)
    finally:
        _stop(proc)


def _expected_specs():
    return {spec.key.to_user_string(): spec for asset in ASSETS for spec in asset.specs}


def _nodes(repository) -> dict[str, dict]:
    return {"/".join(n["assetKey"]["path"]): n for n in repository["assetNodes"]}


def test_every_asset_is_listed_in_its_group_with_description_owner_and_kinds(repository):
    nodes = _nodes(repository)
    expected = _expected_specs()
    assert len(expected) == 27
    assert set(nodes) == set(expected)
    for key, spec in expected.items():
        node = nodes[key]
        assert node["groupName"] == spec.group_name, key
        assert node["description"], key
        # the UI shows "team:site-operations" as the team "site-operations"
        assert node["owners"] == [{"team": OWNERS[spec.group_name].removeprefix("team:")}], key
        assert node["kinds"], key
    groups = {n["groupName"] for n in nodes.values()}
    assert groups == {
        "site",
        "grid",
        "certificates",
        "analytics",
        "planning",
        "control",
        "warehouse",
    }


def test_lake_datasets_show_their_contract_columns(repository):
    with_columns = {
        key
        for key, node in _nodes(repository).items()
        if "dagster/column_schema" in {e["label"] for e in node["metadataEntries"]}
    }
    assert with_columns == set(_expected_specs()) & set(SCHEMAS)
    assert {"meter_readings", "site_energy_hourly", "setpoint_plans"} <= with_columns


def test_every_check_is_listed_on_its_asset_with_a_description(repository):
    listed = set()
    for key, node in _nodes(repository).items():
        checks = node["assetChecksOrError"]
        assert checks["__typename"] == "AssetChecks", checks
        for check in checks["checks"]:
            assert check["description"], (key, check["name"])
            listed.add((key, check["name"]))
    expected = {
        (spec.asset_key.to_user_string(), spec.name)
        for checks in CHECKS
        for spec in checks.check_specs
    }
    assert len(expected) == 64
    assert listed == expected


def test_every_schedule_and_sensor_is_listed_with_what_it_does(repository):
    schedules = {s["name"]: s for s in repository["schedules"]}
    assert set(schedules) == {s.name for s in SCHEDULES}
    assert schedules["land_and_compute_yesterday_schedule"]["cronSchedule"] == "30 2 * * *"
    assert schedules["intraday_plan_schedule"]["cronSchedule"] == "*/15 * * * *"
    for name, schedule in schedules.items():
        assert schedule["executionTimezone"] == "Europe/Berlin", name
        assert schedule["description"], name
    sensors = {s["name"]: s for s in repository["sensors"]}
    assert (
        set(sensors)
        == {
            "register_sites_sensor",
            "land_dropped_meter_files_sensor",
            "ingest_telemetry_batches_sensor",
        }
        == {s.name for s in SENSORS}
    )
    assert all(s["description"] for s in sensors.values())
