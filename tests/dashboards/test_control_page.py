"""The Control page against a live control API (uvicorn on a free loopback port)."""

from streamlit.testing.v1 import AppTest

from dashboards.config import DashboardConfig
from tests.dashboards.app_under_test import open_page
from tests.dashboards.conftest import TOKEN


def control_page(url: str, token: str = TOKEN) -> AppTest:
    at = open_page(
        DashboardConfig(control_api_url=url, control_api_token=token), "control.py", timeout=20
    )
    return at


def devices_shown(at: AppTest):
    return at.dataframe[0].value.set_index("device_id")


def test_devices_health_and_events_are_shown(control_api):
    url, _ = control_api
    at = control_page(url)
    assert at.title[0].value == "Control"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Service"] == "ok" and metrics["Mode"] == "grid"
    assert metrics["Devices online"] == "3 / 3"
    devices = devices_shown(at)
    assert list(devices.index) == ["battery-1", "charger-1", "load-3dprinters"]
    assert devices.loc["charger-1", "wanted_kw"] == 7.0
    assert devices.loc["charger-1", "source"] == "plan"
    events = at.dataframe[1].value
    assert "plan_changed" in set(events["event_type"])
    assert not at.warning and not at.error


def test_switching_an_override_on_and_off_calls_the_api(control_api):
    url, service = control_api
    at = control_page(url)
    at.number_input(key="override_kw_battery-1").set_value(-3.0)
    at.number_input(key="override_minutes_battery-1").set_value(30)
    at.toggle(key="override_toggle_battery-1").set_value(True).run()
    assert not at.exception, at.exception
    held = service.overrides()["battery-1"]
    assert held.power_w == -3000.0 and held.reason == "dashboard"
    assert (held.expires_at - service.clock.now()).total_seconds() == 30 * 60
    assert devices_shown(at).loc["battery-1", "override_kw"] == -3.0
    assert at.toggle(key="override_toggle_battery-1").value is True
    assert "battery-1 held at -3.0 kW for 30 min" in at.success[0].value

    at.toggle(key="override_toggle_battery-1").set_value(False).run()
    assert service.overrides() == {}
    assert devices_shown(at)["override_kw"].isna().all()
    assert at.toggle(key="override_toggle_battery-1").value is False


def test_a_refused_override_shows_why_and_leaves_the_switch_off(control_api):
    url, service = control_api
    at = control_page(url, token="not-the-token")
    at.toggle(key="override_toggle_charger-1").set_value(True).run()
    assert not at.exception, at.exception
    assert service.overrides() == {}
    assert "invalid token" in at.error[0].value
    assert at.toggle(key="override_toggle_charger-1").value is False


def test_without_a_token_the_override_widgets_are_disabled(control_api):
    url, _ = control_api
    at = control_page(url, token="")
    assert len(at.toggle) == 3 and all(t.disabled for t in at.toggle)
    assert all(n.disabled for n in at.number_input)
    assert any("CONTROL_API_TOKEN" in c.value for c in at.caption)
    assert len(devices_shown(at)) == 3  # reads still work


def test_an_unreachable_service_shows_how_to_start_it(dead_url, time_limit_30s):
    at = control_page(dead_url)
    assert not at.error
    assert dead_url in at.warning[0].value
    assert "novaenergy control serve" in at.warning[0].value
    assert "make dev" in at.warning[0].value
    assert not at.toggle and not at.dataframe
