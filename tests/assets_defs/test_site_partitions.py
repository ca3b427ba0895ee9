"""Site as the second partition dimension: a portfolio's sites are partitions of the site
assets, each run covers one site with that site's settings, and sites never mix."""

from dataclasses import replace
from datetime import date

import dagster as dg
import pytest

from assets_defs.catalog import CHECKS
from assets_defs.partitions import (
    RANGE_END,
    RANGE_START,
    daily_partitions,
    key_parts,
    range_tags,
    run_target,
    site_daily_partitions,
    site_day_key,
    site_partitions,
)
from assets_defs.resources import SiteResource
from assets_defs.site.assets import (
    device_telemetry,
    meter_readings,
    meter_registry,
    sample_site_raw,
    site_energy_hourly,
)
from assets_defs.site.checks import site_energy_balance
from assets_defs.site.sensors import register_sites_sensor
from bench.backfill import lake_contents
from novaenergy.demo import QUIET, instance_with_sites, resources_for
from pipelines import lake

from .conftest import week_settings

DAY = date(2025, 3, 27)
OWN, OTHER = "warehouse-b", "plant-2"
LAKE_PATHS = ("lake_root", "raw_root", "go_ledger_path", "warehouse_path")
CHAIN_KEYS = {
    dg.AssetKey(k)
    for k in ("sample_site_raw", "meter_readings", "device_telemetry", "site_energy_hourly")
}
BLOCKING = {"site_energy_balance"}


@pytest.mark.parametrize(
    ("key", "parts"),
    [
        ("2025-03-27", (DAY, None)),
        ("2025-03-27|plant-2", (DAY, OTHER)),
        ("plant-2", (None, OTHER)),
        ("2025-03-27-b", (None, "2025-03-27-b")),  # a site id that starts like a date
    ],
)
def test_a_key_names_its_day_and_site(key, parts):
    assert key_parts(key) == parts


@pytest.mark.parametrize(
    ("partitions_def", "target"),
    [
        (None, {}),
        (site_partitions, {"partition_key": OTHER}),
        (daily_partitions, {"tags": {RANGE_START: "2025-03-27", RANGE_END: "2025-03-28"}}),
        (
            site_daily_partitions,
            {"tags": {RANGE_START: "2025-03-27|plant-2", RANGE_END: "2025-03-28|plant-2"}},
        ),
    ],
)
def test_a_run_targets_the_days_of_its_site_or_zone(partitions_def, target):
    assert run_target(partitions_def, DAY, date(2025, 3, 28), OTHER) == target


@pytest.fixture
def portfolio(tmp_path):
    sites = tmp_path / "sites.csv"
    sites.write_text(
        f"site_id,timezone,max_export_limit_kw,sample_seed\n{OTHER},Europe/Lisbon,30,77\n"
    )
    return replace(week_settings(tmp_path), sites_file=str(sites))


def test_the_registry_sensor_adds_each_served_site_once(portfolio):
    site = resources_for(portfolio)["site"]
    instance = dg.DagsterInstance.ephemeral()
    ctx = dg.build_sensor_context(instance=instance, resources={"site": site})
    result = register_sites_sensor(ctx)
    (request,) = result.dynamic_partitions_requests
    assert list(request.partition_keys) == [OWN, OTHER]
    instance.add_dynamic_partitions("sites", list(request.partition_keys))
    again = register_sites_sensor(
        dg.build_sensor_context(instance=instance, resources={"site": site})
    )
    assert isinstance(again, dg.SkipReason)


def test_each_site_runs_with_its_own_settings(portfolio):
    site = resources_for(portfolio)["site"]
    other = site.for_site(OTHER)
    assert (other.site_id, other.timezone, other.max_export_limit_kw, other.sample_seed) == (
        OTHER,
        "Europe/Lisbon",
        30,
        77,
    )
    assert other.zone == site.zone and site.for_site(OWN) is site
    with pytest.raises(dg.Failure, match="neither SITE_ID"):
        site.for_site("ghost")
    with pytest.raises(dg.Failure, match="SITES_FILE is empty"):
        SiteResource().for_site(OTHER)


CHAIN = [sample_site_raw, meter_readings, device_telemetry, site_energy_hourly]


def land_registries(settings, instance):
    for site_id in (OWN, OTHER):
        assert dg.materialize(
            [meter_registry],
            resources=resources_for(settings),
            instance=instance,
            partition_key=site_id,
            run_config=QUIET,
        ).success


def test_two_sites_land_the_same_day_side_by_side(portfolio):
    instance = instance_with_sites([OWN, OTHER])
    land_registries(portfolio, instance)
    for site_id in (OWN, OTHER):
        assert dg.materialize(
            [*CHAIN, site_energy_balance],
            resources=resources_for(portfolio),
            instance=instance,
            partition_key=str(site_day_key(DAY, site_id)),
            run_config=QUIET,
        ).success
    own = lake.read_partition(portfolio.lake_root, "meter_readings", OWN, DAY)
    other = lake.read_partition(portfolio.lake_root, "meter_readings", OTHER, DAY)
    assert set(own["site_id"]) == {OWN} and set(other["site_id"]) == {OTHER}
    # the sites share meter ids; the other site's sample data come from its own seed
    joined = own.join(other, on=["meter_id", "ts_utc"], suffix="_other")
    assert joined.height == own.height > 0
    assert not joined["energy_wh"].equals(joined["energy_wh_other"])
    for site_id in (OWN, OTHER):
        hourly = lake.read_partition(portfolio.lake_root, "site_energy_hourly", site_id, DAY)
        assert hourly.height == 24 and set(hourly["site_id"]) == {site_id}
    materialized = instance.get_materialized_partitions(dg.AssetKey("site_energy_hourly"))
    assert materialized == {f"{DAY}|{OWN}", f"{DAY}|{OTHER}"}


def test_one_run_over_a_days_sites_equals_a_run_per_site(portfolio, tmp_path):
    """A backfill over sites × days with fewer days than sites runs each day's sites as
    one run: it must give the lake a run per site gives."""
    per_site = replace(portfolio, **{k: f"{tmp_path}/per_site/{k}" for k in LAKE_PATHS})
    both = replace(portfolio, **{k: f"{tmp_path}/both/{k}" for k in LAKE_PATHS})
    instance = instance_with_sites([OWN, OTHER])
    land_registries(per_site, instance)
    land_registries(both, instance)
    checks = [c for c in CHECKS if all(k.asset_key in CHAIN_KEYS for k in c.check_keys)]
    for site_id in (OWN, OTHER):
        result = dg.materialize(
            [*CHAIN, *checks],
            resources=resources_for(per_site),
            instance=instance,
            tags=range_tags(DAY, DAY, site_id),
            run_config=QUIET,
        )
        assert result.success
    tags = range_tags(DAY, DAY, OWN) | {RANGE_END: str(site_day_key(DAY, OTHER))}
    result = dg.materialize(
        [*CHAIN, *checks],
        resources=resources_for(both),
        instance=instance,
        tags=tags,
        run_config=QUIET,
    )
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations() if e.check_name in BLOCKING)
    meta = result.asset_materializations_for_node("meter_readings")[0].metadata
    assert meta["sites"].value == 2
    expected, got = lake_contents(per_site.lake_root), lake_contents(both.lake_root)
    assert sorted(got) == sorted(expected)
    assert any(f"site_id={OTHER}" in p for p in got)
    assert [p for p in expected if not got[p].equals(expected[p])] == []


def test_a_per_site_asset_refuses_a_run_over_two_sites(portfolio):
    result = dg.materialize(
        [meter_registry],
        resources=resources_for(portfolio),
        instance=instance_with_sites([OWN, OTHER]),
        tags={RANGE_START: OWN, RANGE_END: OTHER},
        run_config=QUIET,
        raise_on_error=False,
    )
    assert not result.success
    failure = result.failure_data_for_node("meter_registry")
    assert "covers one site" in failure.error.message
    assert lake.dataset_files(portfolio.lake_root, "meter_registry") == []
