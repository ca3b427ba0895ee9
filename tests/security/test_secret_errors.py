"""Error messages and the CLI's output do not carry secrets: a bad setting next to set
secrets, and entsoe-py refused by ENTSO-E (a revoked key answers HTTP 401)."""

import logging

import pandas as pd
import pytest
import requests

from ingest.entsoe_documents import make_client
from novaenergy.cli import main
from novaenergy.settings import SettingsError, load_settings

API_KEY = "entsoe-key-9b0c2e"
TOKEN = "api-token-77a1d3"


def test_a_bad_setting_is_named_without_the_secrets_beside_it(tmp_path, monkeypatch, capsys):
    environ = {"ENTSOE_API_KEY": API_KEY, "CONTROL_API_TOKEN": TOKEN, "CONTROL_CYCLE_S": "x"}
    with pytest.raises(SettingsError) as bad:
        load_settings(environ=environ, dotenv=None)
    assert "CONTROL_CYCLE_S" in str(bad.value)
    monkeypatch.chdir(tmp_path)  # no .env
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    assert main(["scope2", "--site", "s", "--year", "2025", "--out", str(tmp_path)]) == 2
    printed = capsys.readouterr()
    assert "CONTROL_CYCLE_S" in printed.err
    assert API_KEY not in printed.out + printed.err and TOKEN not in printed.out + printed.err


class _Unauthorized(requests.adapters.BaseAdapter):
    """ENTSO-E's answer to a revoked or mistyped security token."""

    def send(self, request, **kwargs):
        response = requests.models.Response()
        response.status_code, response.reason = 401, "Unauthorized"
        response._content = b"<html><body><h1>401 Unauthorized</h1></body></html>"
        response.url, response.request = request.url, request
        return response

    def close(self):
        pass


def _refused_query():
    """Ask entsoe-py's client (as the grid assets build it) for a day of generation."""
    session = requests.Session()
    session.mount("https://", _Unauthorized())
    start = pd.Timestamp("2025-01-01", tz="UTC")
    return make_client(API_KEY, session=session).query_generation(
        "DE_LU", start=start, end=start + pd.Timedelta(days=1)
    )


def test_a_refused_entsoe_request_does_not_put_the_key_in_the_error():
    with pytest.raises(requests.HTTPError) as refused:
        _refused_query()
    assert API_KEY not in str(refused.value)


def test_entsoe_debug_logs_do_not_carry_the_key(caplog, monkeypatch):
    # as in `novaenergy demo` or a Dagster run: the client itself installs the redaction
    monkeypatch.setattr(logging.getLogger("entsoe.entsoe"), "filters", [])
    caplog.set_level(logging.DEBUG)
    with pytest.raises(requests.HTTPError):
        _refused_query()
    assert "securityToken" in caplog.text  # the request was logged
    assert API_KEY not in caplog.text
