"""The grid assets run entsoe-py's client on recorded documents when so configured."""

from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl

from assets_defs.grid.assets import (
    grid_carbon_intensity_hourly,
    grid_crossborder_flows,
    grid_generation_mix,
)
from assets_defs.resources import EntsoeResource, SiteResource, build_resources
from ingest.entsoe_documents import read_generation_xml
from pipelines import lake
from pipelines.carbon_intensity import production_intensity
from pipelines.emission_factors import load_factor_table

SE4 = Path(__file__).resolve().parents[1] / "data" / "entsoe" / "SE4_generation_A75_2025-10-20.xml"


def test_recorded_a75_flows_through_the_grid_assets(tmp_path):
    site = SiteResource(grid_region="EU_ENTSOE_SE_4")
    resources = build_resources(
        str(tmp_path / "lake"),
        str(tmp_path / "raw"),
        str(tmp_path / "drop"),
        str(tmp_path / "w.duckdb"),
        site,
    )
    resources["entsoe"] = EntsoeResource(recordings={"A75": str(SE4)})
    result = dg.materialize(
        [grid_generation_mix, grid_crossborder_flows, grid_carbon_intensity_hourly],
        resources=resources,
        tags={
            "dagster/asset_partition_range_start": "2025-10-21",
            "dagster/asset_partition_range_end": "2025-10-22",
        },
    )
    assert result.success
    mix = lake.read_window(
        tmp_path / "lake", "grid_generation_mix", date(2025, 10, 21), date(2025, 10, 23)
    )
    assert set(mix["source"]) == {"entsoe"}
    assert {"SE_4", "DE_LU", "PL"} <= set(mix["zone"])  # the zone and its neighbours
    ci = lake.read_window(
        tmp_path / "lake",
        "grid_carbon_intensity_hourly",
        date(2025, 10, 21),
        date(2025, 10, 23),
        ["SE_4"],
    )
    assert ci.height == 48 and set(ci["basis"]) == {
        "production"
    }  # no flows were recorded: no consumption rows
    version, factors = load_factor_table()
    expected = production_intensity(read_generation_xml(SE4, "SE_4"), factors, version)
    joined = ci.join(expected, on="hour_utc", suffix="_direct")
    assert joined.height == 48
    assert (
        joined["ci_lifecycle_g_per_kwh"] - joined["ci_lifecycle_g_per_kwh_direct"]
    ).abs().max() < 1e-9
    assert lake.read_window(
        tmp_path / "lake", "grid_crossborder_flows", date(2025, 10, 21), date(2025, 10, 23)
    ).is_empty()
    assert pl.Series(ci["factor_table_version"]).unique().to_list() == ["default-v1"]
