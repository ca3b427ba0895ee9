"""``pipelines.log_redaction.redact_credentials_in_logs`` masks what the libraries log at DEBUG:
websockets' handshake headers (HTTP Basic of OCPP stations), entsoe-py's request
parameters and urllib3's request lines (ENTSO-E's ``securityToken``)."""

import asyncio
import base64
import http.server
import logging
import threading

import pytest
import requests
from websockets.asyncio.client import connect

from control.adapters.ocpp_csms import OcppCsms
from pipelines.log_redaction import (
    CREDENTIAL_LOGGERS,
    RedactCredentials,
    redact_credentials_in_logs,
)
from tests.security.test_secret_errors import API_KEY, _refused_query

pytestmark = pytest.mark.usefixtures("time_limit_30s")


@pytest.fixture
def redacted(monkeypatch, caplog):
    """Redaction installed as the CLI does (undone afterwards); every record captured."""
    for name in CREDENTIAL_LOGGERS:
        monkeypatch.setattr(logging.getLogger(name), "filters", [])
    redact_credentials_in_logs()
    redact_credentials_in_logs()  # idempotent
    assert all(
        sum(isinstance(f, RedactCredentials) for f in logging.getLogger(n).filters) == 1
        for n in CREDENTIAL_LOGGERS
    )
    caplog.set_level(logging.DEBUG)
    for name in CREDENTIAL_LOGGERS:  # whatever levels earlier tests left on them
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def test_websockets_handshake_headers_are_masked_on_both_sides(redacted):
    basic = base64.b64encode(b"charger-1:station-password-5e1").decode()

    async def handshake():
        async with OcppCsms({"charger-1": "station-password-5e1"}, site_id="s", port=0) as csms:
            headers = {"Authorization": f"Basic {basic}"}
            async with connect(csms.url("charger-1"), subprotocols=["ocpp2.1"],
                               additional_headers=headers, open_timeout=5):  # fmt: skip
                pass

    asyncio.run(asyncio.wait_for(handshake(), 20))
    assert "> Authorization: Basic ***" in redacted.text  # client
    assert "< Authorization: Basic ***" in redacted.text  # server
    assert basic not in redacted.text


def test_entsoe_request_parameters_are_masked(redacted):
    with pytest.raises(requests.HTTPError):
        _refused_query()
    assert "'securityToken': '***'" in redacted.text
    assert API_KEY not in redacted.text


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_urllib3_request_lines_are_masked(redacted):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/api?documentType=A75&securityToken={API_KEY}"
        assert requests.get(url, timeout=5).status_code == 200
    finally:
        server.shutdown()
        server.server_close()
    assert "securityToken=***" in redacted.text
    assert API_KEY not in redacted.text
