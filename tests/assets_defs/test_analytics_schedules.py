"""The nightly vampire-load run covers yesterday and the days whose windows it completes."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from assets_defs.definitions import defs
from pipelines.vampire.daily import LOOKAHEAD_DAYS

BERLIN = ZoneInfo("Europe/Berlin")
START = "dagster/asset_partition_range_start"
END = "dagster/asset_partition_range_end"


def tick(at: datetime) -> dg.SkipReason | dg.RunRequest:
    repo = defs.get_repository_def()
    schedule = repo.get_schedule_def("detect_vampire_loads_schedule")
    with dg.build_schedule_context(scheduled_execution_time=at, repository_def=repo) as ctx:
        return schedule.evaluate_tick(ctx)


def test_a_night_re_detects_the_days_still_provisional_in_one_run():
    (request,) = tick(datetime(2025, 6, 20, 2, 45, tzinfo=BERLIN)).run_requests
    first = (date(2025, 6, 19) - timedelta(days=LOOKAHEAD_DAYS)).isoformat()
    assert (request.tags[START], request.tags[END]) == (first, "2025-06-19")
    assert request.run_key == f"{first}...2025-06-19"
    assert request.partition_key is None


def test_the_range_starts_no_earlier_than_the_first_partition():
    (request,) = tick(datetime(2025, 1, 4, 2, 45, tzinfo=BERLIN)).run_requests
    assert (request.tags[START], request.tags[END]) == ("2025-01-01", "2025-01-03")
    assert not tick(datetime(2025, 1, 1, 2, 45, tzinfo=BERLIN)).run_requests


def test_the_vampire_assets_left_the_single_day_job():
    land = defs.resolve_job_def("land_and_compute_day_job")
    vampire = defs.resolve_job_def("detect_vampire_loads_job")
    names = {k.to_user_string() for k in land.asset_layer.executable_asset_keys}
    assert "meter_readings" in names and "vampire_load_events" not in names
    assert {k.to_user_string() for k in vampire.asset_layer.executable_asset_keys} == {
        "vampire_load_events",
        "vampire_alerts",
    }
