"""Carbon page: heatmap, tomorrow's forecast, direct vs lifecycle, production vs consumption."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import polars as pl
from streamlit.testing.v1 import AppTest

from dashboards.config import DashboardConfig
from pipelines import lake
from pipelines.explore.carbon import direct_vs_lifecycle, gap_summary, intensity_hourly
from pipelines.explore.energy import data_span
from pipelines.schemas import SCHEMAS
from tests.dashboards.app_under_test import demo_config, open_page
from tests.pipelines.explore.test_energy import hours

H = timedelta(hours=1)


def run(config: DashboardConfig) -> AppTest:
    at = open_page(config, "carbon.py")
    assert not at.error, [e.value for e in at.error]
    return at


def test_demo_week(demo_week):
    settings, _ = demo_week
    cfg = demo_config(settings)
    at = run(cfg)
    assert at.title[0].value == "Carbon"
    first, last = data_span(cfg.lake_root, cfg.site_id, cfg.timezone)
    first = max(first, last - timedelta(days=13))  # the page's default period: 14 days
    intensity = intensity_hourly(cfg.lake_root, cfg.zone, first, last, cfg.timezone)
    summary = gap_summary(direct_vs_lifecycle(intensity), "direct_g_per_kwh", "lifecycle_g_per_kwh")
    assert {m.label: m.value for m in at.metric} == {
        "Mean direct": f"{summary['direct_g_per_kwh']:,.0f} g CO2/kWh",
        "Mean lifecycle": f"{summary['lifecycle_g_per_kwh']:,.0f} g CO2/kWh",
        "Gap": f"{summary['gap_g_per_kwh']:+,.0f} g CO2/kWh",
    }
    # every hour of the 14 local days, production-based; the period crosses the spring change
    assert summary["hours"] == intensity.height
    tz = ZoneInfo(cfg.timezone)
    start = datetime.combine(first, time(), tz)
    end = datetime.combine(last + timedelta(days=1), time(), tz)
    hours_in_period = (end.astimezone(UTC) - start.astimezone(UTC)) // H  # same tz: wall time
    assert intensity.height == hours_in_period == 14 * 24 - 1
    charts = at.get("plotly_chart")
    assert len(charts) == 3  # heatmap, the forecast, direct vs lifecycle
    assert '"type":"heatmap"' in charts[0].proto.spec.replace(" ", "")
    infos = " ".join(i.value for i in at.info)
    # the lake ends on the last day: its own forecast is shown in place of tomorrow's
    assert f"No forecast for {last + timedelta(days=1)} in the lake yet" in infos
    assert f"Showing the forecast for {last} instead." in infos
    assert "No consumption-based (flow-traced) intensity" in infos


def traced_lake(root) -> DashboardConfig:
    """Two days of site data (2025-06-01/02 UTC), both intensity bases, and a forecast."""
    start = datetime(2025, 6, 1, tzinfo=UTC)
    days = [date(2025, 6, 1), date(2025, 6, 2), date(2025, 6, 3)]
    lake.write_days(root, "site_energy_hourly", hours(start, 48, grid_import_kwh=1.0), ["s"], days)
    rows = [
        {
            "zone": "Z",
            "hour_utc": start + k * H,
            "basis": basis,
            "ci_direct_g_per_kwh": direct,
            "ci_lifecycle_g_per_kwh": direct + 60,
            "generation_mwh": 1.0,
            "quality": "complete",
            "factor_table_version": "v1",
        }
        for k in range(48)
        for basis, direct in (("production", 300.0), ("consumption", 330.0))
    ]
    ci = pl.DataFrame(rows, schema=SCHEMAS["grid_carbon_intensity_hourly"])
    lake.write_days(root, "grid_carbon_intensity_hourly", ci, ["Z"], days)
    # local 2025-06-03 is 06-02 22:00 to 06-03 22:00 UTC; the actual lifecycle is 360
    forecast = pl.DataFrame(
        [
            {
                "zone": "Z",
                "hour_utc": start + k * H,
                "model": "m",
                "ci_lifecycle_g_per_kwh": 370.0,
                "issued_at_utc": datetime(2025, 6, k // 24, 9, tzinfo=UTC),
            }
            for k in range(46, 70)
        ],
        schema=SCHEMAS["grid_carbon_intensity_forecast"],
    )
    lake.merge_days(root, "grid_carbon_intensity_forecast", forecast)
    return DashboardConfig(lake_root=str(root), site_id="s", zone="Z")


def test_flow_traced_values_and_tomorrows_forecast(tmp_path):
    at = run(traced_lake(tmp_path))
    got = {(m.label, m.value, m.delta) for m in at.metric}
    assert got == {
        ("Mean direct", "300 g CO2/kWh", ""),
        ("Mean lifecycle", "360 g CO2/kWh", ""),
        ("Gap", "+60 g CO2/kWh", "+20.0 %"),
        ("Mean production", "300 g CO2/kWh", ""),
        ("Mean consumption", "330 g CO2/kWh", ""),
        ("Gap", "+30 g CO2/kWh", "+10.0 %"),
    }
    assert not at.info
    captions = " ".join(c.value for c in at.caption)
    assert "Forecast for 24 hours" in captions
    assert at.subheader[1].value == "Forecast for 2025-06-03 (lifecycle)"
    assert "mean absolute error 10.0 g CO2/kWh, bias +10.0 g CO2/kWh over 2 hours" in captions
    assert len(at.get("plotly_chart")) == 4


def test_empty_lake_says_what_to_do(tmp_path):
    at = run(DashboardConfig(lake_root=str(tmp_path / "lake"), site_id="s"))
    assert "make demo" in at.info[0].value
    assert not at.metric
