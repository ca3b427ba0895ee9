"""The nightly vampire-load run: every day whose detection window yesterday completes.

A day's events are detected on the readings of the days around it
(:mod:`pipelines.vampire.daily`), so they are provisional until ``LOOKAHEAD_DAYS`` more
days are metered. Each night re-detects yesterday and the days still provisional, as one
run over the range per site.
"""

from datetime import timedelta

import dagster as dg

from assets_defs.partitions import PARTITIONS_START_DATE, range_tags, site_daily_partitions
from assets_defs.schedules import for_each_site, utc_yesterday
from pipelines.vampire.daily import LOOKAHEAD_DAYS

VAMPIRE_KEYS = ("vampire_load_events", "vampire_alerts")

detect_vampire_loads_job = dg.define_asset_job(
    "detect_vampire_loads_job",
    selection=dg.AssetSelection.keys(*VAMPIRE_KEYS),
    partitions_def=site_daily_partitions,
    description="Vampire-load events and alerts of a site over a range of UTC days, each "
    "day on its own detection window.",
)


@dg.schedule(
    name="detect_vampire_loads_schedule",
    job=detect_vampire_loads_job,
    cron_schedule="45 2 * * *",
    execution_timezone="Europe/Berlin",
    description="At 02:45, once yesterday's readings and grid data have landed, detect "
    f"vampire loads for yesterday and re-detect the {LOOKAHEAD_DAYS} days before it, whose "
    "events could still run on into yesterday or whose baselines learn from it; one run per "
    "site.",
)
def detect_vampire_loads_schedule(
    context: dg.ScheduleEvaluationContext,
) -> list[dg.RunRequest] | dg.SkipReason:
    """One run per site over the UTC days ``yesterday - LOOKAHEAD_DAYS .. yesterday``
    (from the first partition on)."""
    last = utc_yesterday(context)
    if isinstance(last, dg.SkipReason):
        return last
    first = max(PARTITIONS_START_DATE, last - timedelta(days=LOOKAHEAD_DAYS))
    return for_each_site(
        context,
        lambda site_id: dg.RunRequest(
            run_key=f"{site_id}:{first}...{last}", tags=range_tags(first, last, site_id)
        ),
    )
