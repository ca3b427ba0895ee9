from datetime import UTC, date, datetime, timedelta

import polars as pl
from streamlit.testing.v1 import AppTest

from dashboards.config import DashboardConfig
from pipelines import lake
from pipelines.explore.energy import overview_kpis, site_energy_daily
from pipelines.schemas import SCHEMAS
from tests.dashboards.app_under_test import APP


def hourly(day: date, consumption: float, pv: float, export: float) -> pl.DataFrame:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    rows = []
    for h in range(24):
        rows.append(
            {
                "site_id": "s",
                "hour_utc": start + timedelta(hours=h),
                "consumption_kwh": consumption,
                "pv_production_kwh": pv,
                "pv_self_consumed_kwh": pv - export,
                "grid_import_kwh": consumption - (pv - export),
                "grid_export_kwh": export,
                "battery_charge_kwh": 0.0,
                "battery_discharge_kwh": 0.0,
                "ev_charge_kwh": 0.0,
                "ev_discharge_kwh": 0.0,
                "intervals_expected": 20,
                "intervals_present": 20,
                "quality": "complete",
            }
        )
    return pl.DataFrame(rows, schema=SCHEMAS["site_energy_hourly"])


def one_day_lake(root) -> None:
    """A day of 10 kWh use and 4 kWh PV (1 kWh exported) every hour."""
    day = date(2025, 6, 1)
    lake.write_days(root, "site_energy_hourly", hourly(day, 10.0, 4.0, 1.0), ["s"], [day])


def test_kpis_from_daily_totals(tmp_path):
    one_day_lake(tmp_path)
    daily = site_energy_daily(tmp_path, "s")
    kpis = overview_kpis(daily)
    assert kpis["consumption_mwh"] == 0.24
    assert round(kpis["pv_share_pct"], 6) == 30.0  # 3 kWh self-consumed of 10 kWh used each hour


def test_overview_page_renders_kpis(tmp_path):
    one_day_lake(tmp_path)
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["config"] = DashboardConfig(
        lake_root=str(tmp_path), site_id="s", timezone="UTC"
    )
    at.run()
    assert not at.exception
    labels = [m.label for m in at.metric]
    assert labels == [
        "Energy used [kWh]",
        "PV share [%]",
        "Grid CO2 [g/kWh]",
        "CO2 this month [kg]",
        "Peak demand [kW]",
    ]
    assert at.metric[0].value == "240"
    assert at.metric[1].value == "30.0"
    assert at.metric[2].value == "no data"  # the lake has no grid intensity
    assert at.metric[3].value == "0"
    assert at.metric[4].value == "7"  # 7 kWh grid import every hour, no meter readings


def test_overview_page_says_what_to_do_on_an_empty_lake(tmp_path):
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["config"] = DashboardConfig(lake_root=str(tmp_path / "empty"), site_id="s")
    at.run()
    assert not at.exception
    assert "make demo" in at.info[0].value
