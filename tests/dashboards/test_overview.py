"""Overview page on the demo week: the as-of day's KPIs are what the explore functions say."""

from streamlit.testing.v1 import AppTest

from dashboards.config import DashboardConfig
from pipelines.explore.alerts import alert_counts
from pipelines.explore.carbon import intensity_hourly, latest_intensity, month_to_date_co2
from pipelines.explore.energy import data_span, grid_peak_kw, overview_kpis, site_energy_daily
from tests.dashboards.app_under_test import demo_config, open_page


def run(config: DashboardConfig) -> AppTest:
    at = open_page(config, "overview.py")
    return at


def test_kpis_of_the_newest_day(demo_week):
    settings, _ = demo_week
    cfg = demo_config(settings)
    at = run(cfg)
    assert at.title[0].value == "Overview"
    day = data_span(cfg.lake_root, cfg.site_id, cfg.timezone)[1]
    kpis = overview_kpis(site_energy_daily(cfg.lake_root, cfg.site_id, cfg.timezone, day, day))
    now = latest_intensity(intensity_hourly(cfg.lake_root, cfg.zone, day, day, cfg.timezone))
    co2 = month_to_date_co2(cfg.lake_root, cfg.site_id, cfg.zone, day, cfg.timezone)
    peak = grid_peak_kw(cfg.lake_root, cfg.site_id, day, cfg.timezone)
    assert kpis["consumption_mwh"] > 1 and co2["kg_co2"] > 0 and peak["interval_s"] == 900
    values = {m.label: m.value for m in at.metric}
    assert values == {
        "Energy used [MWh]": f"{kpis['consumption_mwh']:,.2f}",
        "PV share [%]": f"{kpis['pv_share_pct']:.1f}",
        "Grid CO2 [g/kWh]": f"{now['ci_g_per_kwh']:,.0f}",
        "CO2 this month [kg]": f"{co2['kg_co2']:,.0f}",  # the demo week starts 26 March
        "Peak demand [kW]": f"{peak['peak_kw']:,.0f}",
    }
    counts = alert_counts(cfg.lake_root, cfg.site_id, day, cfg.timezone)
    badges = [m.value for m in at.markdown if "-badge[" in m.value]
    assert len(badges) == 3
    n = counts["vampire_alerts"]
    assert f"{n['day']} vampire-load alerts today, {n['week']} in 7 days" in badges[0]
    links = [(link.label, link.proto.page) for link in at.get("page_link")]
    assert [label for label, _ in links] == [
        "details: Anomalies",
        "details: Anomalies",
        "details: Fleet and V2G",
    ]
    assert [page.rsplit("/", 1)[-1] for _, page in links] == ["anomalies", "anomalies", "fleet"]
    assert len(at.get("plotly_chart")) == 1


def test_an_earlier_day_from_the_sidebar(demo_week):
    settings, _ = demo_week
    cfg = demo_config(settings)
    at = run(cfg)
    first, _ = data_span(cfg.lake_root, cfg.site_id, cfg.timezone)
    day = first.replace(day=first.day + 1)
    at.sidebar.date_input(key="as_of_day").set_value(day).run()
    assert not at.exception
    kpis = overview_kpis(site_energy_daily(cfg.lake_root, cfg.site_id, cfg.timezone, day, day))
    assert at.metric[0].value == f"{kpis['consumption_mwh']:,.2f}"


def test_empty_lake_says_what_to_do(tmp_path):
    at = run(DashboardConfig(lake_root=str(tmp_path / "lake"), site_id="s"))
    assert at.title[0].value == "Overview"
    assert "make demo" in at.info[0].value
    assert not at.metric
