"""The nightly and midday schedules: Berlin times, in order, one run per registered site."""

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from assets_defs.definitions import defs
from assets_defs.partitions import register_sites
from assets_defs.schedules import (
    forecast_tomorrow_load_and_pv_schedule,
    land_and_compute_yesterday_schedule,
    land_grid_yesterday_schedule,
    refresh_registry_schedule,
    refresh_warehouse_schedule,
    update_scope2_and_certificate_exports_schedule,
)

BERLIN = ZoneInfo("Europe/Berlin")


def test_the_night_runs_land_first_then_refresh_then_report_in_berlin_time():
    night = [
        land_and_compute_yesterday_schedule,
        land_grid_yesterday_schedule,
        refresh_registry_schedule,
        refresh_warehouse_schedule,
        update_scope2_and_certificate_exports_schedule,
    ]
    assert [s.cron_schedule for s in night] == [
        "30 2 * * *",
        "40 2 * * *",
        "0 3 * * *",
        "5 3 * * *",
        "15 3 * * *",
    ]
    assert forecast_tomorrow_load_and_pv_schedule.cron_schedule == "5 12 * * *"
    assert {s.execution_timezone for s in [*night, forecast_tomorrow_load_and_pv_schedule]} == {
        "Europe/Berlin"
    }


def evaluate(name: str, tick: datetime, sites: list[str]):
    repo = defs.get_repository_def()
    with dg.instance_for_test() as instance:
        register_sites(instance, sites)
        with dg.build_schedule_context(
            instance=instance, scheduled_execution_time=tick, repository_def=repo
        ) as ctx:
            return repo.get_schedule_def(name).evaluate_tick(ctx)


@pytest.mark.parametrize(
    ("tick", "day"),
    [
        (datetime(2025, 1, 15, 2, 30, tzinfo=BERLIN), "2025-01-14"),  # 01:30 UTC
        (datetime(2025, 7, 1, 2, 30, tzinfo=BERLIN), "2025-06-30"),  # 00:30 UTC
    ],
)
def test_the_daily_tick_requests_the_utc_day_that_just_ended_for_every_site(tick, day):
    requests = evaluate("land_and_compute_yesterday_schedule", tick, ["site-a", "site-b"])
    assert [r.partition_key for r in requests.run_requests] == [f"{day}|site-a", f"{day}|site-b"]
    assert [r.run_key for r in requests.run_requests] == [f"site-a:{day}", f"site-b:{day}"]
    (grid,) = evaluate("land_grid_yesterday_schedule", tick, ["site-a"]).run_requests
    assert grid.partition_key == day


def test_no_request_before_the_first_partition_or_without_a_site():
    tick = datetime(2025, 1, 1, 2, 30, tzinfo=BERLIN)
    result = evaluate("land_and_compute_yesterday_schedule", tick, ["site-a"])
    assert not result.run_requests
    assert "before the first partition" in result.skip_message
    later = datetime(2025, 3, 1, 2, 30, tzinfo=BERLIN)
    result = evaluate("land_and_compute_yesterday_schedule", later, [])
    assert not result.run_requests
    assert "no site registered" in result.skip_message


def test_a_site_schedule_runs_each_site_once_per_tick():
    tick = datetime(2025, 3, 1, 12, 5, tzinfo=BERLIN)
    requests = evaluate("forecast_tomorrow_load_and_pv_schedule", tick, ["a", "b", "c"])
    assert [r.partition_key for r in requests.run_requests] == ["a", "b", "c"]
    assert len({r.run_key for r in requests.run_requests}) == 3
