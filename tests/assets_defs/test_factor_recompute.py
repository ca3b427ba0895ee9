"""A factor-table change recomputes the intensity history through Dagster."""

import shutil
from dataclasses import replace
from datetime import timedelta

import dagster as dg
import polars as pl

from assets_defs.grid.assets import grid_carbon_intensity_hourly
from assets_defs.grid.checks import grid_carbon_intensity_checks
from novaenergy.demo import QUIET, resources_for
from pipelines import lake


def test_opting_into_overrides_recomputes_and_names_the_new_version(week, tmp_path):
    settings, *_ = week
    root = tmp_path / "lake"
    shutil.copytree(settings.lake_root, root)
    before = lake.scan(root, "grid_carbon_intensity_hourly").collect()
    changed = replace(settings, lake_root=str(root), emission_factor_overrides="de-v1")
    result = dg.materialize(
        [grid_carbon_intensity_hourly, grid_carbon_intensity_checks],
        resources=resources_for(changed),
        run_config=QUIET,
        tags={
            "dagster/asset_partition_range_start": settings.sample_start.isoformat(),
            "dagster/asset_partition_range_end": (
                settings.sample_end - timedelta(days=1)
            ).isoformat(),
        },
    )
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    after = lake.scan(root, "grid_carbon_intensity_hourly").collect()
    assert set(before["factor_table_version"]) == {"default-v1"}
    assert set(after["factor_table_version"]) == {"default-v1+overrides-de-v1"}
    joined = before.join(after, on=["zone", "hour_utc", "basis"], suffix="_new")
    assert joined.height == before.height
    # DE 2025 coal (1112.69) and gas (502.97) lifecycle factors exceed the defaults (820, 490)
    assert (joined["ci_lifecycle_g_per_kwh_new"] > joined["ci_lifecycle_g_per_kwh"]).all()
    materialization = result.asset_materializations_for_node("grid_carbon_intensity_hourly")[0]
    assert materialization.tags["dagster/data_version"] == "default-v1+overrides-de-v1"
    assert pl.Series(after["quality"]).eq("complete").all()
