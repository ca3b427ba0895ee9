from datetime import UTC, datetime

import polars as pl
from streamlit.testing.v1 import AppTest

from dashboards.config import DashboardConfig
from pipelines import lake
from pipelines.vampire.alerts import vampire_alerts
from tests.dashboards.app_under_test import demo_config, open_page
from tests.pipelines.explore.test_anomalies import readings, registry, write_readings


def run(config: DashboardConfig) -> AppTest:
    at = open_page(config, "anomalies.py")
    return at


def test_demo_lake_alerts_with_their_waste_and_quality(demo_week):
    settings, _ = demo_week
    alerts = lake.scan(settings.lake_root, "vampire_alerts").collect()
    assert alerts.height >= 1  # the demo lake has the detector's 14 days of history
    at = run(demo_config(settings))
    assert at.title[0].value == "Anomalies"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Alerts"] == str(alerts.height)
    assert metrics["Wasted energy"] == f"{alerts['excess_kwh'].sum():,.0f} kWh"
    assert metrics["Cost"] == f"{alerts['excess_cost_eur'].sum():,.2f} EUR"
    assert len(at.get("plotly_chart")) >= 1  # the drill-down of the chosen alert
    assert metrics["Failed"] == "0"
    assert metrics["Pass rate"] == "100.0 %"
    rates = at.dataframe[1].value
    assert "meter_readings" in rates["dataset"].tolist()
    assert (rates["pass rate [%]"] == 100.0).all()


def test_alerts_with_a_drill_down(tmp_path):
    """Three load meters over three weeks; the press left on (+2 kW) one night."""
    start = datetime(2025, 1, 6, tzinfo=UTC)
    event = (datetime(2025, 1, 14, 21, tzinfo=UTC), datetime(2025, 1, 15, 5, tzinfo=UTC))
    lake.write_partition(tmp_path, "meter_registry", registry(["hall", "press", "pump"]), "s")
    write_readings(
        tmp_path,
        pl.concat(
            [
                readings("press", start, 21, 1000.0, (*event, 2000.0)),
                readings("hall", start, 21, 3000.0),
                readings("pump", start, 21, 500.0),
            ]
        ),
    )
    events = pl.DataFrame(
        {
            "site_id": "s",
            "meter_id": "press",
            "start_utc": [event[0]],
            "end_utc": [event[1]],
            "excess_kwh": 16.0,
            "excess_cost_eur": 2.0,
            "excess_co2_kg": 6.0,
            "mean_excess_power_w": 2000.0,
            "score": 2.0,
        }
    )
    day = [event[0].date()]
    lake.write_days(tmp_path, "vampire_load_events", events, ["s"], day)
    alerts = vampire_alerts(events, registry(["press"]), "Europe/Berlin")
    lake.write_days(tmp_path, "vampire_alerts", alerts, ["s"], day)
    at = run(DashboardConfig(lake_root=str(tmp_path), reports_dir=str(tmp_path), site_id="s"))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Alerts"] == "1" and metrics["Wasted energy"] == "16 kWh"
    assert len(at.get("plotly_chart")) == 1
    assert any("recomputed from the readings: 16.0 kWh" in c.value for c in at.caption)


def test_empty_lake_says_what_to_do(tmp_path):
    at = run(DashboardConfig(lake_root=str(tmp_path / "lake"), reports_dir=str(tmp_path)))
    assert at.title[0].value == "Anomalies"
    texts = [i.value for i in at.info]
    assert any("No data in the lake yet" in t for t in texts)
    assert any("No data-quality results" in t for t in texts)
