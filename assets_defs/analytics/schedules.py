"""The nightly vampire-load run: every day whose detection window yesterday completes.

A day's events are detected on the readings of the days around it
(:mod:`pipelines.vampire.daily`), so they are provisional until ``LOOKAHEAD_DAYS`` more
days are metered. Each night re-detects yesterday and the days still provisional, as one
run over the range.
"""

from datetime import timedelta

import dagster as dg

from assets_defs.partitions import PARTITIONS_START_DATE, daily_partitions, range_tags
from assets_defs.schedules import utc_yesterday
from pipelines.vampire.daily import LOOKAHEAD_DAYS

VAMPIRE_KEYS = ("vampire_load_events", "vampire_alerts")

detect_vampire_loads_job = dg.define_asset_job(
    "detect_vampire_loads_job",
    selection=dg.AssetSelection.keys(*VAMPIRE_KEYS),
    partitions_def=daily_partitions,
    description="Vampire-load events and alerts over a range of UTC days, each day on its "
    "own detection window.",
)


@dg.schedule(
    name="detect_vampire_loads_schedule",
    job=detect_vampire_loads_job,
    cron_schedule="45 2 * * *",
    execution_timezone="Europe/Berlin",
    description="At 02:45, once yesterday's readings have landed, detect vampire loads for "
    f"yesterday and re-detect the {LOOKAHEAD_DAYS} days before it, whose events could still "
    "run on into yesterday or whose baselines learn from it.",
)
def detect_vampire_loads_schedule(
    context: dg.ScheduleEvaluationContext,
) -> dg.RunRequest | dg.SkipReason:
    """One run over the UTC days ``yesterday - LOOKAHEAD_DAYS .. yesterday`` (from the
    first partition on)."""
    last = utc_yesterday(context)
    if isinstance(last, dg.SkipReason):
        return last
    first = max(PARTITIONS_START_DATE, last - timedelta(days=LOOKAHEAD_DAYS))
    return dg.RunRequest(run_key=f"{first}...{last}", tags=range_tags(first, last))
