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
)
