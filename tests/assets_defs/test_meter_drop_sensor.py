"""The drop-folder sensor lands a bad export: counts add up and bad rows are quarantined."""

from pathlib import Path

import dagster as dg
import polars as pl

from assets_defs.site.assets import meter_registry
from assets_defs.site.sensors import land_dropped_meter_files_job, land_dropped_meter_files_sensor
from novaenergy.demo import instance_with_sites, resources_for
from pipelines import lake

from .conftest import week_settings

EXPORT = """meter_id,ts_utc,energy_wh
load-hvac,2025-03-27T10:00:00Z,1200.5
load-hvac,2025-03-27T10:15:00Z,1180.0
load-hvac,2025-03-27T10:15:00Z,1180.0
load-hvac,2025-03-27T10:30:00Z,-5
load-hvac,2025-03-27T10:45:00Z,lots
no-such-meter,2025-03-27T10:45:00Z,10
"""


def test_sensor_lands_dropped_file_and_quarantines_bad_rows(tmp_path):
    settings = week_settings(tmp_path)
    resources = resources_for(settings)
    instance = instance_with_sites([settings.site_id])
    assert dg.materialize(
        [meter_registry], resources=resources, instance=instance, partition_key=settings.site_id
    ).success
    drop = Path(settings.drop_dir)
    drop.mkdir(parents=True)
    (drop / "hvac_export.csv").write_text(EXPORT)

    ctx = dg.build_sensor_context(resources={"lake_store": resources["lake_store"]})
    request = land_dropped_meter_files_sensor(ctx)
    assert isinstance(request, dg.RunRequest)
    again = land_dropped_meter_files_sensor(
        dg.build_sensor_context(
            cursor=ctx.cursor, resources={"lake_store": resources["lake_store"]}
        )
    )
    assert isinstance(again, dg.SkipReason)  # nothing new since the cursor

    result = land_dropped_meter_files_job.execute_in_process(
        run_config=request.run_config, resources=resources, instance=instance
    )
    assert result.success
    materialized = [
        e.event_specific_data.materialization.partition
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
    ]
    assert materialized == [f"2025-03-27|{settings.site_id}"]

    readings = lake.scan(settings.lake_root, "meter_readings").collect()
    quarantine = lake.scan(settings.lake_root, "meter_quarantine").collect()
    assert readings.height == 2
    assert quarantine.height == 3
    reasons = " | ".join(quarantine["reason"].to_list())
    assert "negative" in reasons and "unknown meter" in reasons and "lots" in reasons
    # 6 rows in = 2 accepted + 3 quarantined + 1 duplicate ignored
    obs = [
        e.event_specific_data.asset_observation.metadata
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_OBSERVATION
    ]
    counts = {
        k: obs[0][k].value for k in ("rows_in", "accepted", "quarantined", "duplicates_ignored")
    }
    assert counts == {"rows_in": 6, "accepted": 2, "quarantined": 3, "duplicates_ignored": 1}
    assert pl.Series(quarantine["source"]).str.starts_with("hvac_export.csv#").all()
