"""The CSMS's websocket handshake under OCPP security profile 1 (HTTP Basic, user = station
id): refusals beyond those asserted in ``tests/control/adapters/test_ocpp_csms.py`` (unknown
station 404, wrong password 401, no credentials 401) and ``tests/control/test_ocpp_peers.py``
(the same with test-ocpp). The composed service refuses them too: ``test_dev_site``."""

import asyncio
import base64

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from control.adapters.ocpp_csms import OcppCsms

pytestmark = pytest.mark.usefixtures("time_limit_30s")

PASSWORDS = {"charger-1": "pw-of-charger-1", "charger-2": "pw-of-charger-2"}
OPENED = 101


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def _handshake(port: int, path: str, authorization: str | None) -> int:
    headers = {} if authorization is None else {"Authorization": authorization}
    try:
        async with connect(
            f"ws://127.0.0.1:{port}/{path}",
            subprotocols=["ocpp2.1"],
            additional_headers=headers,
            open_timeout=5,
        ):
            return OPENED
    except InvalidStatus as refused:
        return refused.response.status_code


def handshake_statuses(attempts: list[tuple[str, str | None]]) -> list[int]:
    """HTTP status of each (path, Authorization) handshake against a fresh CSMS."""

    async def body():
        async with OcppCsms(PASSWORDS, site_id="s", port=0) as csms:
            return [await _handshake(csms.port, path, auth) for path, auth in attempts]

    return asyncio.run(asyncio.wait_for(body(), 20))


def test_only_the_station_id_with_its_own_password_opens():
    cases = {
        "right": ("charger-1", basic("charger-1", "pw-of-charger-1")),
        "another station's password": ("charger-1", basic("charger-1", "pw-of-charger-2")),
        "another station's login": ("charger-1", basic("charger-2", "pw-of-charger-2")),
        "right password, other user": ("charger-1", basic("admin", "pw-of-charger-1")),
        "empty password": ("charger-1", basic("charger-1", "")),
        "password only": ("charger-1", "Basic " + base64.b64encode(b"pw-of-charger-1").decode()),
        "not base64": ("charger-1", "Basic !!not-base64!!"),
        "bearer scheme": ("charger-1", "Bearer pw-of-charger-1"),
        "password prefix": ("charger-1", basic("charger-1", "pw-of-charger-")),
        "unknown station, known login": ("charger-9", basic("charger-1", "pw-of-charger-1")),
        "empty station id": ("", basic("charger-1", "pw-of-charger-1")),
    }
    statuses = handshake_statuses(list(cases.values()))
    assert dict(zip(cases, statuses, strict=True)) == {
        "right": OPENED,
        "another station's password": 401,
        "another station's login": 401,
        "right password, other user": 401,
        "empty password": 401,
        "password only": 401,
        "not base64": 401,
        "bearer scheme": 401,
        "password prefix": 401,
        "unknown station, known login": 404,
        "empty station id": 404,
    }
