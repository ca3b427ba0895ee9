"""The NovaEnergy Dagster code location."""

import dagster as dg

from assets_defs.catalog import ASSETS, CHECKS, JOBS, SCHEDULES, SENSORS
from assets_defs.resources import resources_from_env


def build_definitions(executor: dg.ExecutorDefinition) -> dg.Definitions:
    """The code location with ``executor``: every asset, check, job, schedule and sensor,
    and the resources bound to environment variables (resolved when a run starts).

    ``deploy/k8s/definitions.py`` builds the same location with the Kubernetes job executor.
    """
    return dg.Definitions(
        assets=ASSETS,
        asset_checks=CHECKS,
        jobs=JOBS,
        schedules=SCHEDULES,
        sensors=SENSORS,
        resources=resources_from_env(),
        executor=executor,
    )


# Dagster's default, made explicit: each step in its own process (multiprocess), or
# in_process when a run's config asks for it. Partitions hold no state outside the lake,
# so steps and runs may go in parallel on any executor (see README "Running at scale").
defs = build_definitions(dg.multi_or_in_process_executor)
