"""The nightly and midday schedules: Berlin times, in order, the daily one asks for yesterday."""

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from assets_defs.definitions import defs
from assets_defs.schedules import (
    forecast_tomorrow_load_and_pv_schedule,
    land_and_compute_yesterday_schedule,
    refresh_registry_and_warehouse_schedule,
    update_scope2_and_certificate_exports_schedule,
)

BERLIN = ZoneInfo("Europe/Berlin")


def test_the_night_runs_land_first_then_refresh_then_report_in_berlin_time():
    night = [
        land_and_compute_yesterday_schedule,
        refresh_registry_and_warehouse_schedule,
        update_scope2_and_certificate_exports_schedule,
    ]
    assert [s.cron_schedule for s in night] == ["30 2 * * *", "0 3 * * *", "15 3 * * *"]
    assert forecast_tomorrow_load_and_pv_schedule.cron_schedule == "5 12 * * *"
    assert {s.execution_timezone for s in [*night, forecast_tomorrow_load_and_pv_schedule]} == {
        "Europe/Berlin"
    }


@pytest.mark.parametrize(
    ("tick", "day"),
    [
        (datetime(2025, 1, 15, 2, 30, tzinfo=BERLIN), "2025-01-14"),  # 01:30 UTC
        (datetime(2025, 7, 1, 2, 30, tzinfo=BERLIN), "2025-06-30"),  # 00:30 UTC
    ],
)
def test_the_daily_tick_requests_the_utc_day_that_just_ended(tick, day):
    repo = defs.get_repository_def()
    schedule = repo.get_schedule_def("land_and_compute_yesterday_schedule")
    with dg.build_schedule_context(scheduled_execution_time=tick, repository_def=repo) as ctx:
        (request,) = schedule.evaluate_tick(ctx).run_requests
    assert request.partition_key == day
    assert request.run_key == day


def test_no_request_before_the_first_partition():
    repo = defs.get_repository_def()
    schedule = repo.get_schedule_def("land_and_compute_yesterday_schedule")
    tick = datetime(2025, 1, 1, 2, 30, tzinfo=BERLIN)
    with dg.build_schedule_context(scheduled_execution_time=tick, repository_def=repo) as ctx:
        result = schedule.evaluate_tick(ctx)
    assert not result.run_requests
    assert "before the first partition" in result.skip_message
