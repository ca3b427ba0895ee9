"""Planning schedules: the day-ahead plan at 12:00 local, the intraday re-plan every 15 min,
one run per site.

Each tick passes its own time as the plan's ``as_of``, so a plan sees only what was known
when it was due, and a re-run of a tick reproduces it.
"""

from assets_defs.schedules import site_job
from pipelines.planning.site_scenario import DAY_AHEAD, INTRADAY

PLAN_KEYS = ("setpoint_plans", "plan_runs")


def _plan_config(kind: str, as_of: str) -> dict:
    return {"ops": {"site_plans": {"config": {"kind": kind, "as_of_utc": as_of}}}}


def _plan(kind: str, what: str, cron: str, when: str):
    return site_job(
        f"{kind}_plan_job",
        (*PLAN_KEYS, "v2g_settlements"),
        what,
        f"{kind}_plan_schedule",
        cron,
        when,
        config=_plan_config(kind, ""),
        run_config=lambda context: _plan_config(kind, context.scheduled_execution_time.isoformat()),
    )


day_ahead_plan_job, day_ahead_plan_schedule = _plan(
    DAY_AHEAD,
    "Plan the rest of today and all of tomorrow from the day-ahead forecasts.",
    "0 12 * * *",
    "At 12:00 plan each site's setpoints from the next slot to the end of tomorrow, as of "
    "the tick time.",
)
intraday_plan_job, intraday_plan_schedule = _plan(
    INTRADAY,
    "Re-plan the remaining horizon from the latest battery and vehicle telemetry.",
    "*/15 * * * *",
    "Every 15 minutes re-plan each site's remaining horizon from the latest battery and "
    "vehicle telemetry, as of the tick time.",
)
