"""The plan schedules: day-ahead at 12:00 Berlin, intraday every 15 minutes, as of the tick,
one run per site."""

from datetime import UTC, datetime

import dagster as dg

from assets_defs.definitions import defs
from assets_defs.partitions import register_sites
from assets_defs.planning.schedules import day_ahead_plan_schedule, intraday_plan_schedule


def test_cron_and_time_zone():
    assert day_ahead_plan_schedule.cron_schedule == "0 12 * * *"
    assert intraday_plan_schedule.cron_schedule == "*/15 * * * *"
    assert {
        day_ahead_plan_schedule.execution_timezone,
        intraday_plan_schedule.execution_timezone,
    } == {"Europe/Berlin"}


def test_each_tick_plans_every_site_as_of_its_own_time():
    tick = datetime(2026, 11, 24, 11, 15, tzinfo=UTC)
    for schedule, kind in (
        (day_ahead_plan_schedule, "day_ahead"),
        (intraday_plan_schedule, "intraday"),
    ):
        with dg.instance_for_test() as instance:
            register_sites(instance, ["site-a", "site-b"])
            repo = defs.get_repository_def()
            with dg.build_schedule_context(
                instance=instance, scheduled_execution_time=tick, repository_def=repo
            ) as ctx:
                requests = repo.get_schedule_def(schedule.name).evaluate_tick(ctx).run_requests
        assert [r.partition_key for r in requests] == ["site-a", "site-b"]
        for request in requests:
            config = request.run_config["ops"]["site_plans"]["config"]
            assert config["kind"] == kind
            assert datetime.fromisoformat(config["as_of_utc"]) == tick
            assert request.run_key == f"{request.partition_key}:{config['as_of_utc']}"
