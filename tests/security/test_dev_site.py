"""``novaenergy sim devices`` and ``novaenergy control serve`` as ``make dev`` runs them, on
default settings (free ports, known secrets, DEBUG logging): what they listen on, and that
no secret reaches their output or their files, failed logins included.

The site is started once for the module (bounded by ``dev_site.STARTUP_S``); each test is
bounded by ``time_limit_30s``.
"""

import asyncio
import base64

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from control.sim.machines import ConnectRefused, mqtt_client
from control.sim.machines import connect as mqtt_connect
from tests.security.dev_site import DevSite

pytestmark = pytest.mark.usefixtures("time_limit_30s")


@pytest.fixture(scope="module")
def dev_site(tmp_path_factory):
    """The running site, every device online; stopped at the end of the module."""
    site = DevSite(tmp_path_factory.mktemp("dev_site"))
    try:
        yield site.start()
    finally:
        site.stop()


def test_every_listener_of_the_site_and_the_service_is_on_loopback(dev_site):
    sim, control = dev_site.listeners["sim"], dev_site.listeners["control"]
    ports = dev_site.ports
    assert {("tcp", "127.0.0.1", ports["CONTROL_API_PORT"])} <= control
    assert {("tcp", "127.0.0.1", ports["OCPP_PORT"])} <= control
    for name in ("SUNSPEC_INVERTER_PORT", "SUNSPEC_BATTERY_PORT", "GRID_METER_PORT", "MQTT_PORT"):
        assert ("tcp", "127.0.0.1", ports[name]) in sim, name  # MQTT: the sim's mosquitto
    assert {ip for _, ip, _ in sim | control} == {"127.0.0.1"}, sim | control


def _api_write_statuses(site: DevSite) -> dict[str, int]:
    """PUT an override without, with a wrong, an empty and the right token; then DELETE."""
    body = {"power_w": 1000.0, "ttl_s": 60, "reason": "security test"}
    attempts = {
        "none": {},
        "wrong": {"Authorization": "Bearer not-the-token"},
        "empty": {"Authorization": "Bearer"},
        "right": {"Authorization": f"Bearer {site.api_token}"},
    }
    with httpx.Client(base_url=site.api_url, timeout=5) as http:
        got = {k: http.put("/overrides/battery-1", json=body, headers=h).status_code
               for k, h in attempts.items()}  # fmt: skip
        got["delete"] = http.delete("/overrides/battery-1", headers=attempts["right"]).status_code
    return got


async def _ocpp_handshake_status(url: str, station: str, user: str, password: str) -> int:
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    try:
        async with connect(
            f"{url}/{station}",
            subprotocols=["ocpp2.1"],
            additional_headers={"Authorization": f"Basic {basic}"},
            open_timeout=5,
        ):
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


def _ocpp_statuses(site: DevSite) -> list[int]:
    """Wrong password, another station's password, an unknown station."""
    pw = site.ocpp_passwords

    async def attempts():
        return [
            await _ocpp_handshake_status(site.ocpp_url, "charger-1", "charger-1", "guess"),
            await _ocpp_handshake_status(site.ocpp_url, "charger-1", "charger-1", pw["charger-2"]),
            await _ocpp_handshake_status(site.ocpp_url, "charger-9", "charger-9", pw["charger-1"]),
        ]

    return asyncio.run(asyncio.wait_for(attempts(), 20))


def _mqtt_wrong_password_is_refused(site: DevSite) -> bool:
    client = mqtt_client("security-test", "load-3dprinters", "not-the-password")
    try:
        mqtt_connect(client, "127.0.0.1", site.ports["MQTT_PORT"], clean_start=True)
    except ConnectRefused:
        return True
    client.disconnect()
    client.loop_stop()
    return False


def test_no_secret_reaches_any_output_or_file_at_debug_level(dev_site):
    assert _api_write_statuses(dev_site) == {
        "none": 401,
        "wrong": 403,
        "empty": 401,
        "right": 200,
        "delete": 200,
    }
    assert _ocpp_statuses(dev_site) == [401, 401, 404]
    assert _mqtt_wrong_password_is_refused(dev_site)
    dev_site.stop()  # shutdown logs count too

    control, sim = dev_site.output("control"), dev_site.output("sim")
    # the scan means something: DEBUG handshake headers were logged (masked), and so were
    # the refused logins
    assert "< Authorization: Basic ***" in control
    assert "> Authorization: Basic ***" in sim
    assert "refused station 'charger-1': bad credentials" in control
    assert "refused station 'charger-9': unknown station" in control
    leaks = [
        f"{what} in {path}"
        for path, text in dev_site.written_text().items()
        for form, what in dev_site.secret_forms().items()
        if form in text
    ]
    assert leaks == []
