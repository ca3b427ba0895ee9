"""Energy flows page on the demo week: the Sankey carries the period's balance, which closes."""

import json
from datetime import timedelta

from streamlit.testing.v1 import AppTest

from dashboards.config import DashboardConfig
from pipelines.explore.energy import data_span, energy_balance, sankey_links, site_energy_hourly
from tests.dashboards.app_under_test import demo_config, open_page


def run(config: DashboardConfig) -> AppTest:
    at = open_page(config, "energy_flows.py")
    return at


def test_sankey_of_the_last_week(demo_week):
    settings, _ = demo_week
    cfg = demo_config(settings)
    at = run(cfg)
    assert at.title[0].value == "Energy flows"
    first, last = data_span(cfg.lake_root, cfg.site_id, cfg.timezone)
    first = max(first, last - timedelta(days=6))
    balance = energy_balance(
        site_energy_hourly(cfg.lake_root, cfg.site_id, first, last, cfg.timezone)
    )
    assert abs(balance["imbalance_kwh"]) < 0.01
    values = {m.label: m.value for m in at.metric}
    assert values == {
        "Into the site": f"{balance['in_kwh']:,.0f} kWh",
        "Out of the site": f"{balance['out_kwh']:,.0f} kWh",
        "Balance (in − out)": "0.0 kWh",  # closed, and never shown as -0.0
    }
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(charts) == 2
    sankey = charts[0]["data"][0]
    assert sankey["type"] == "sankey"
    links = sankey_links(balance)
    assert sankey["link"]["value"] == links["kwh"].to_list()
    assert "Grid import" in sankey["node"]["label"] and "Loads" in sankey["node"]["label"]
    assert {trace["type"] for trace in charts[1]["data"]} == {"bar"}


def test_empty_lake_says_what_to_do(tmp_path):
    at = run(DashboardConfig(lake_root=str(tmp_path / "lake"), site_id="s"))
    assert "make demo" in at.info[0].value
    assert not at.get("plotly_chart")
