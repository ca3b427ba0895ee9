"""Vampire loads: machinery left running at night, over weekends or on public holidays.

Public API::

    detect_vampire_loads(readings, site_id=None, timezone="Europe/Berlin", ...)
        -> vampire_load_events rows
    detect_by_day(readings, days, ...) -> DailyEvents (each day on its own window)
    vampire_alerts(events, meters=None, timezone="Europe/Berlin") -> vampire_alerts rows
    score_events(detected, labels, min_overlap=0.5) -> EventScores

Run it on consumption meters (sub-meters of machines, buildings, halls). Net grid
connection meters and generation meters follow PV, batteries and EV charging, and their
off-hours swings are events but not vampire loads.

Modules: :mod:`~pipelines.vampire.offhours` (local-time calendar),
:mod:`~pipelines.vampire.readings` (input checks), :mod:`~pipelines.vampire.grid`
(readings on the quarter-hour grid), :mod:`~pipelines.vampire.baseline` (expected
off-hours power), :mod:`~pipelines.vampire.detect` (events),
:mod:`~pipelines.vampire.daily` (events day by day, independent of batching),
:mod:`~pipelines.vampire.pricing` (cost and CO2), :mod:`~pipelines.vampire.alerts`
(messages) and :mod:`~pipelines.vampire.evaluate` (event-level accuracy).
"""

from pipelines.vampire.alerts import vampire_alerts
from pipelines.vampire.daily import DailyEvents, detect_by_day
from pipelines.vampire.detect import DetectionParams, detect_vampire_loads
from pipelines.vampire.evaluate import EventScores, score_events
from pipelines.vampire.offhours import is_off_hours, off_hours_calendar
from pipelines.vampire.readings import VampireInputError

__all__ = [
    "DailyEvents",
    "DetectionParams",
    "EventScores",
    "VampireInputError",
    "detect_by_day",
    "detect_vampire_loads",
    "is_off_hours",
    "off_hours_calendar",
    "score_events",
    "vampire_alerts",
]
