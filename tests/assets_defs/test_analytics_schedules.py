"""The nightly vampire-load run covers yesterday and the days whose windows it completes,
one run per site."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from assets_defs.definitions import defs
from assets_defs.partitions import register_sites
from pipelines.vampire.daily import LOOKAHEAD_DAYS

BERLIN = ZoneInfo("Europe/Berlin")
START = "dagster/asset_partition_range_start"
END = "dagster/asset_partition_range_end"


def tick(at: datetime, sites=("warehouse-b",)):
    repo = defs.get_repository_def()
    schedule = repo.get_schedule_def("detect_vampire_loads_schedule")
    with dg.instance_for_test() as instance:
        register_sites(instance, list(sites))
        with dg.build_schedule_context(
            instance=instance, scheduled_execution_time=at, repository_def=repo
        ) as ctx:
            return schedule.evaluate_tick(ctx)


def test_a_night_re_detects_the_days_still_provisional_in_one_run_per_site():
    requests = tick(datetime(2025, 6, 20, 2, 45, tzinfo=BERLIN), ("a", "b")).run_requests
    first = (date(2025, 6, 19) - timedelta(days=LOOKAHEAD_DAYS)).isoformat()
    assert [(r.tags[START], r.tags[END]) for r in requests] == [
        (f"{first}|a", "2025-06-19|a"),
        (f"{first}|b", "2025-06-19|b"),
    ]
    assert requests[0].run_key == f"a:{first}...2025-06-19"
    assert requests[0].partition_key is None


def test_the_range_starts_no_earlier_than_the_first_partition():
    (request,) = tick(datetime(2025, 1, 4, 2, 45, tzinfo=BERLIN)).run_requests
    assert (request.tags[START], request.tags[END]) == (
        "2025-01-01|warehouse-b",
        "2025-01-03|warehouse-b",
    )
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
