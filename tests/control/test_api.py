"""The HTTP API over a service on fake drivers (TestClient), and one real uvicorn on port 0."""

import asyncio
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from control.api import create_app, serve_api
from tests.control.test_service import T0, FakeClock, build, run

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def setup(tmp_path):
    clock = FakeClock()
    service, drivers, source = build(tmp_path, clock)
    run(service.tick())
    return service, clock, drivers, source


def client(service, token=TOKEN):
    return TestClient(create_app(service, token))


def test_read_endpoints(setup):
    service, clock, *_ = setup
    clock.advance(5)
    run(service.tick())  # reads the devices after the first setpoints
    c = client(service)
    health = c.get("/health").json()
    assert health["status"] == "ok" and health["mode"] == "grid" and health["plan_id"] == "p1"
    assert health["devices_online"] == 3 and health["read_only"] is False
    devices = c.get("/devices").json()
    assert [d["device_id"] for d in devices] == ["battery-1", "charger-1", "load-3dprinters"]
    assert devices[0]["online"] is True and devices[0]["power_w"] == 5000.0
    assert c.get("/devices/battery-1").json()["protocol"] == "fake"
    assert c.get("/devices/nope").status_code == 404
    sp = {s["device_id"]: s for s in c.get("/setpoints").json()["setpoints"]}
    assert sp["charger-1"]["wanted"]["power_w"] == 7000.0
    assert sp["charger-1"]["sent"]["ack_status"] == "Accepted"
    plan = c.get("/plan").json()
    assert (
        plan["stale"] is False and plan["plan_id"] == "p1" and plan["power_w"]["battery-1"] == 5000
    )
    assert c.get("/events").json()[0]["event_type"] in {"service_start", "plan_changed"}
    assert c.get("/island").json()["mode"] == "grid"
    assert c.get("/overrides").json() == []


def test_stale_plan_is_visible(setup):
    service, _, _, source = setup
    source.plan = None
    run(service.tick())
    assert client(service).get("/plan").json() == {"stale": True, "plan_id": None}


def test_writes_need_the_bearer_token(setup):
    service, *_ = setup
    body = {"power_w": 1000.0, "ttl_s": 600}
    c = client(service)
    missing = c.put("/overrides/battery-1", json=body)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    wrong = c.put("/overrides/battery-1", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    assert c.delete("/overrides/battery-1").status_code == 401
    read_only = client(service, token=None)
    assert read_only.put("/overrides/battery-1", json=body, headers=AUTH).status_code == 403
    assert read_only.get("/health").json()["read_only"] is True
    assert service.overrides() == {}


def test_override_with_token_is_applied_and_its_expiry_respected(setup):
    service, clock, drivers, _ = setup
    c = client(service)
    r = c.put(
        "/overrides/battery-1", json={"power_w": -3000.0, "ttl_s": 60, "reason": "x"}, headers=AUTH
    )
    assert r.status_code == 200, r.text
    assert r.json()["expires_at"].startswith((T0 + timedelta(seconds=60)).isoformat()[:19])
    assert c.get("/overrides/battery-1").json()["power_w"] == -3000.0
    run(service.tick())
    assert drivers["battery-1"].sent[-1].source == "override"
    clock.advance(61)
    assert c.get("/overrides/battery-1").status_code == 404
    run(service.tick())
    assert drivers["battery-1"].sent[-1].source == "plan"
    kinds = [e["event_type"] for e in c.get("/events").json()]
    assert "override_expired" in kinds and "override_set" in kinds


def test_override_validation_and_delete(setup):
    service, clock, *_ = setup
    c = client(service)
    past = (T0 - timedelta(seconds=1)).isoformat()
    assert (
        c.put(
            "/overrides/battery-1", json={"power_w": 1, "expires_at": past}, headers=AUTH
        ).status_code
        == 422
    )
    assert c.put("/overrides/battery-1", json={"power_w": 1}, headers=AUTH).status_code == 422
    naive = "2025-06-01T13:00:00"
    assert (
        c.put(
            "/overrides/battery-1", json={"power_w": 1, "expires_at": naive}, headers=AUTH
        ).status_code
        == 422
    )
    too_big = {"power_w": 1e9, "ttl_s": 60}
    assert c.put("/overrides/battery-1", json=too_big, headers=AUTH).status_code == 422
    assert (
        c.put("/overrides/nope", json={"power_w": 1, "ttl_s": 60}, headers=AUTH).status_code == 404
    )
    until = (T0 + timedelta(minutes=5)).isoformat()
    ok = c.put("/overrides/charger-1", json={"power_w": 0, "expires_at": until}, headers=AUTH)
    assert ok.status_code == 200
    assert c.delete("/overrides/charger-1", headers=AUTH).status_code == 200
    assert c.delete("/overrides/charger-1", headers=AUTH).status_code == 404


def test_openapi_docs_are_served(setup):
    service, *_ = setup
    c = client(service)
    assert c.get("/docs").status_code == 200
    paths = c.get("/openapi.json").json()["paths"]
    assert {
        "/health",
        "/devices",
        "/setpoints",
        "/plan",
        "/events",
        "/overrides/{device_id}",
    } <= set(paths)


def test_serve_api_listens_on_loopback_and_stops(setup):
    service, *_ = setup

    async def go():
        stop = asyncio.Event()
        ports = []
        task = asyncio.create_task(
            serve_api(create_app(service, TOKEN), "127.0.0.1", 0, stop, ports.append)
        )
        while not ports:
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[0]}") as http:
            assert (await http.get("/health")).json()["site_id"] == "site-a"
        stop.set()
        await task

    run(go(), timeout_s=10)
