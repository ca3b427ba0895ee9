from datetime import date, time

from streamlit.testing.v1 import AppTest

from dashboards.config import DashboardConfig
from pipelines.explore.certificates import ledger_events
from tests.dashboards.app_under_test import demo_config, open_page


def run(config: DashboardConfig) -> AppTest:
    at = open_page(config, "certificates.py")
    return at


def test_charts_and_ledger_search_on_the_demo_week(demo_week):
    settings, _ = demo_week
    config = demo_config(settings)
    at = run(config)
    assert at.title[0].value == "Certificates"
    assert len(at.get("plotly_chart")) == 2  # monthly activity, hourly matching
    assert [m.label for m in at.metric] == ["Hourly CFE score", "Annual-style match", "Consumption"]

    events = ledger_events(config.lake_root, config.zone)
    split = events.filter(events["event_type"] == "split").row(0, named=True)
    parent = split["parent_bundle_id"]
    at.text_input(key="certificates_bundle").set_value(str(parent)).run()
    assert not at.exception
    found = at.dataframe[0].value
    assert parent in found["bundle_id"].tolist()
    assert split["bundle_id"] in found["bundle_id"].tolist()  # split children come along
    assert "issue" in found["event_type"].tolist()

    at.text_input(key="certificates_bundle").set_value("abc").run()
    assert at.warning

    hour = split["production_hour_utc"].astimezone(config.tz)
    at.date_input(key="certificates_day").set_value(hour.date()).run()
    at.time_input(key="certificates_hour").set_value(time(hour.hour)).run()
    assert not at.exception
    by_hour = at.dataframe[-1].value
    assert set(by_hour["bundle_id"]) >= {parent, split["bundle_id"]}


def test_empty_lake_says_what_to_do(tmp_path):
    at = run(DashboardConfig(lake_root=str(tmp_path / "lake"), reports_dir=str(tmp_path)))
    assert at.title[0].value == "Certificates"
    assert any("No certificate ledger" in i.value for i in at.info)
    assert not at.get("plotly_chart")
    at.date_input(key="certificates_day").set_value(date(2025, 1, 1)).run()
    assert not at.exception
    assert any("No ledger events" in i.value for i in at.info)
