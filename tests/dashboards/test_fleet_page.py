"""The Fleet and V2G page on the one-week demo lake."""

from datetime import UTC, date, datetime

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from dashboards.config import DashboardConfig
from pipelines import lake
from pipelines.schemas import SCHEMAS
from tests.dashboards.app_under_test import demo_config, open_page


def fleet_page(config) -> AppTest:
    at = open_page(config, "fleet.py")
    return at


def test_demo_week_has_a_fleet_and_v2g_settlements(demo_week):
    settings, _ = demo_week
    vehicles = lake.read_partition(settings.lake_root, "fleet_vehicles", settings.site_id)
    settled = lake.read_partition(settings.lake_root, "v2g_settlements", settings.site_id)
    assert vehicles.height > 0 and vehicles["v2g_allowed"].any()
    assert settled.filter(pl.col("discharged_kwh") > 0).height > 0


def test_fleet_page_lists_every_vehicle_and_charts_one(demo_week):
    settings, _ = demo_week
    vehicles = lake.read_partition(settings.lake_root, "fleet_vehicles", settings.site_id)
    settled = lake.read_partition(settings.lake_root, "v2g_settlements", settings.site_id)
    at = fleet_page(demo_config(settings))
    assert at.title[0].value == "Fleet and V2G"
    assert not at.error and not at.info
    table = at.dataframe[0].value
    assert len(table) == vehicles.height
    assert sorted(table["vehicle_id"]) == sorted(vehicles["vehicle_id"])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Plugged in"].endswith(f"/ {vehicles.height}")
    # the week's settlements all fall in the shown days (the plan reaches the day after)
    planned = settled.filter(basis="planned")["discharged_kwh"].sum()
    assert metrics["V2G planned"].startswith(f"{planned:,.0f} kWh")
    assert table["planned_kwh"].sum() == pytest.approx(planned, abs=1e-6)
    assert len(at.dataframe[1].value) == settled.select("day", "vehicle_id").n_unique()
    assert len(at.get("plotly_chart")) == 1

    at.selectbox(key="fleet_vehicle").set_value(vehicles["vehicle_id"][-1]).run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 1


def test_fleet_page_without_a_fleet_says_what_to_do(tmp_path):
    day = date(2025, 6, 1)
    hours = [datetime(2025, 6, 1, h, tzinfo=UTC) for h in range(24)]
    energy = (
        pl.DataFrame({"site_id": "s", "hour_utc": hours, "quality": "complete"})
        .with_columns(
            pl.lit(1.0).alias(c)
            for c, t in SCHEMAS["site_energy_hourly"].items()
            if t == pl.Float64
        )
        .with_columns(pl.lit(4).alias("intervals_expected"), pl.lit(4).alias("intervals_present"))
    )
    lake.write_days(tmp_path, "site_energy_hourly", energy, ["s"], [day])
    at = fleet_page(DashboardConfig(lake_root=str(tmp_path), site_id="s", timezone="UTC"))
    assert at.title[0].value == "Fleet and V2G"
    assert "fleet_vehicles" in at.info[0].value and "make demo" in at.info[0].value
    assert not at.dataframe
