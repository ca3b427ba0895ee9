"""Overrides through the control API need the bearer token; without a configured token the
API is read-only. Adds to ``tests/control/test_api.py::test_writes_need_the_bearer_token``
(missing → 401, wrong → 403, ``None`` → read-only): empty and malformed credentials, near
misses, every write verb, and an empty or blank configured token, down from the settings."""

import pytest
from fastapi.testclient import TestClient

from control.api import create_app
from novaenergy.control_cmd import serve_params
from novaenergy.settings import load_settings
from tests.control.test_service import FakeClock, build, run

TOKEN = "the-right-token"
BODY = {"power_w": 1000.0, "ttl_s": 600}


@pytest.fixture
def service(tmp_path):
    """A control service on fake drivers after one cycle (devices battery-1, charger-1...)."""
    service, *_ = build(tmp_path, FakeClock())
    run(service.tick())
    return service


def _write_statuses(service, configured: str | None, authorization: str | None) -> set[int]:
    """Status codes of PUT and DELETE of an override, sent with ``authorization``."""
    c = TestClient(create_app(service, configured))
    headers = {} if authorization is None else {"Authorization": authorization}
    put = c.put("/overrides/battery-1", json=BODY, headers=headers).status_code
    delete = c.delete("/overrides/battery-1", headers=headers).status_code
    return {put, delete}


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        ("Bearer", 401),  # the scheme with no credentials
        ("Basic " + TOKEN, 401),  # the token under another scheme
        (TOKEN, 401),  # no scheme
        ("Bearer not-the-token", 403),
        ("Bearer " + TOKEN + "x", 403),  # the token as a prefix
        ("Bearer " + TOKEN[:-1], 403),  # a prefix of the token
        ("Bearer " + TOKEN.upper(), 403),
    ],
)
def test_writes_without_exactly_the_token_are_refused(service, authorization, status):
    assert _write_statuses(service, TOKEN, authorization) == {status}
    assert service.overrides() == {}


@pytest.mark.parametrize("configured", [None, "", "   "])
@pytest.mark.parametrize("authorization", [None, "Bearer", "Bearer " + TOKEN, "Bearer   " + TOKEN])
def test_without_a_configured_token_every_write_is_refused(service, configured, authorization):
    assert _write_statuses(service, configured, authorization) <= {401, 403}
    assert service.overrides() == {}


def test_an_empty_token_setting_makes_the_service_read_only(service):
    for environ in ({}, {"CONTROL_API_TOKEN": ""}):
        token = serve_params(load_settings(environ=environ, dotenv=None)).api_token
        assert token is None
        c = TestClient(create_app(service, token))
        assert c.get("/health").json()["read_only"] is True
        assert _write_statuses(service, token, "Bearer " + TOKEN) == {403}


def test_the_right_token_is_accepted(service):
    """The control case: the refusals above are not the API refusing everything."""
    c = TestClient(create_app(service, TOKEN))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert c.put("/overrides/battery-1", json=BODY, headers=auth).status_code == 200
    assert c.delete("/overrides/battery-1", headers=auth).status_code == 200
