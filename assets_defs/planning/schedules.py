"""Planning schedules: the day-ahead plan at 12:00 local, the intraday re-plan every 15 min.

Each tick passes its own time as the plan's ``as_of``, so a plan sees only what was known
when it was due, and a re-run of a tick reproduces it.
"""

import dagster as dg

from pipelines.planning.site_scenario import DAY_AHEAD, INTRADAY

PLAN_KEYS = ["setpoint_plans", "plan_runs"]


def _plan_job(kind: str, description: str):
    return dg.define_asset_job(
        f"{kind}_plan_job",
        selection=dg.AssetSelection.keys(*PLAN_KEYS, "v2g_settlements"),
        config={"ops": {"site_plans": {"config": {"kind": kind, "as_of_utc": ""}}}},
        description=description,
    )


day_ahead_plan_job = _plan_job(
    DAY_AHEAD, "Plan the rest of today and all of tomorrow from the day-ahead forecasts."
)
intraday_plan_job = _plan_job(
    INTRADAY, "Re-plan the remaining horizon from the latest battery and vehicle telemetry."
)


def _plan_schedule(job, kind: str, cron: str, description: str) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=f"{kind}_plan_schedule",
        job=job,
        cron_schedule=cron,
        execution_timezone="Europe/Berlin",
        description=description,
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        as_of = context.scheduled_execution_time.isoformat()
        return dg.RunRequest(
            run_key=f"{kind}-{as_of}",
            run_config={"ops": {"site_plans": {"config": {"kind": kind, "as_of_utc": as_of}}}},
        )

    return _schedule


day_ahead_plan_schedule = _plan_schedule(
    day_ahead_plan_job,
    DAY_AHEAD,
    "0 12 * * *",
    "At 12:00 plan the site's setpoints from the next slot to the end of tomorrow, as of "
    "the tick time.",
)
intraday_plan_schedule = _plan_schedule(
    intraday_plan_job,
    INTRADAY,
    "*/15 * * * *",
    "Every 15 minutes re-plan the remaining horizon from the latest battery and vehicle "
    "telemetry, as of the tick time.",
)
