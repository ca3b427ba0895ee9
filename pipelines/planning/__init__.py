"""Site planning: setpoint plans for battery, EVs, flexible jobs and PV curtailment (issue 6)."""

from pipelines.planning.plan import PlanResult, solve_scenario, to_setpoint_plans
from pipelines.planning.scenario import Scenario, ScenarioError, load_scenario, parse_scenario

__all__ = [
    "PlanResult",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "parse_scenario",
    "solve_scenario",
    "to_setpoint_plans",
]
