"""The NovaEnergy Dagster code location."""

import dagster as dg

from assets_defs.catalog import ASSETS, CHECKS, JOBS, SCHEDULES, SENSORS
from assets_defs.resources import resources_from_env

defs = dg.Definitions(
    assets=ASSETS,
    asset_checks=CHECKS,
    jobs=JOBS,
    schedules=SCHEDULES,
    sensors=SENSORS,
    resources=resources_from_env(),
    # Dagster's default, made explicit: each step in its own process (multiprocess), or
    # in_process when a run's config asks for it. Partitions hold no state outside the lake,
    # so steps and runs may go in parallel on any executor (see README "Running at scale").
    executor=dg.multi_or_in_process_executor,
)
