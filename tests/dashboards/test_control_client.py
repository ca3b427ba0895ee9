"""The dashboard's control API client against a real control API served by uvicorn."""

from datetime import timedelta

import pytest

from control.api import create_app
from dashboards import control_client as cc
from tests.control.test_service import PLAN, T0
from tests.dashboards.conftest import TOKEN, serving


def test_reads(control_api):
    url, _ = control_api
    health = cc.health(url)
    assert health["status"] == "ok" and health["site_id"] == "site-a"
    assert health["devices_online"] == 3 and health["read_only"] is False
    devices = cc.devices(url)
    assert devices["device_id"].to_list() == ["battery-1", "charger-1", "load-3dprinters"]
    assert devices["power_kw"].to_list() == [w / 1000 for w in PLAN.values()]
    assert devices["online"].all()
    assert devices["read_at_utc"].to_list() == [T0 + timedelta(seconds=5)] * 3
    wanted, clamps = cc.setpoints(url)
    assert dict(zip(wanted["device_id"], wanted["wanted_kw"], strict=True)) == {
        "battery-1": 5.0,
        "charger-1": 7.0,
        "load-3dprinters": 30.0,
    }
    assert set(wanted["source"]) == {"plan"} and set(wanted["ack_status"]) == {"Accepted"}
    assert clamps == []
    assert cc.plan(url)["plan_id"] == "p1" and cc.island(url)["mode"] == "grid"
    events = cc.events(url, limit=2)
    assert events.height == 2 and events["ts_utc"].dtype == cc.UTC_TS
    assert cc.overrides(url).is_empty()


def test_snapshot_joins_devices_setpoints_and_overrides(control_api):
    url, service = control_api
    service.set_override("charger-1", -4000.0, T0 + timedelta(minutes=30), "test")
    snap = cc.snapshot(url)
    assert snap.health["plan_id"] == "p1" and snap.plan["stale"] is False
    row = snap.devices.filter(device_id="charger-1").row(0, named=True)
    assert (row["power_kw"], row["wanted_kw"], row["override_kw"]) == (7.0, 7.0, -4.0)
    assert row["expires_at_utc"] == T0 + timedelta(minutes=30)
    assert snap.devices.filter(device_id="battery-1")["override_kw"].to_list() == [None]
    assert snap.events["event_type"][0] == "override_set"


def test_override_with_the_token_is_set_and_cleared(control_api):
    url, service = control_api
    got = cc.set_override(url, TOKEN, "battery-1", -3000.0, ttl_s=600, reason="peak")
    assert got["power_kw"] == -3.0 and got["reason"] == "peak"
    assert got["expires_at_utc"] == T0 + timedelta(seconds=5 + 600)  # from the clock's now
    assert service.overrides()["battery-1"].power_w == -3000.0
    assert cc.overrides(url)["device_id"].to_list() == ["battery-1"]
    until = T0 + timedelta(hours=1)
    cc.set_override(url, TOKEN, "charger-1", 0.0, expires_at=until)
    assert service.overrides()["charger-1"].expires_at == until
    assert cc.clear_override(url, TOKEN, "battery-1")["device_id"] == "battery-1"
    assert set(service.overrides()) == {"charger-1"}


@pytest.mark.parametrize(("token", "status"), [("", 401), ("wrong-token", 403)])
def test_override_without_or_with_a_wrong_token_is_refused(control_api, token, status):
    url, service = control_api
    with pytest.raises(cc.ControlApiError) as refused:
        cc.set_override(url, token, "battery-1", 1000.0, ttl_s=60)
    assert refused.value.status_code == status
    with pytest.raises(cc.ControlApiError) as refused:
        cc.clear_override(url, token, "battery-1")
    assert refused.value.status_code == status
    assert service.overrides() == {}


def test_override_outside_the_limits_says_why(control_api):
    url, _ = control_api
    with pytest.raises(cc.ControlApiError) as refused:
        cc.set_override(url, TOKEN, "charger-1", 50_000.0, ttl_s=60)
    assert refused.value.status_code == 422 and "outside" in refused.value.detail


def test_read_only_api_refuses_every_override(control_service, time_limit_30s):
    with serving(create_app(control_service, None)) as url:
        assert cc.health(url)["read_only"] is True
        with pytest.raises(cc.ControlApiError) as refused:
            cc.set_override(url, TOKEN, "battery-1", 1000.0, ttl_s=60)
    assert refused.value.status_code == 403


def test_unreachable_service_raises_control_unreachable(dead_url, time_limit_30s):
    with pytest.raises(cc.ControlUnreachable) as down:
        cc.snapshot(dead_url)
    assert dead_url in str(down.value)
