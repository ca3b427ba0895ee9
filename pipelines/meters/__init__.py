"""Meter readings: validate an export's rows, quarantine the bad ones, merge, roll up.

The public functions, all pure (no I/O):

- :func:`validate_meter_rows` turns the rows of one export (see
  :mod:`ingest.meter_files` for the format) into ``meter_readings`` rows, quarantined
  rows with reasons and a count of ignored duplicates, as a :class:`MeterBatch`;
- :func:`merge_readings` merges a batch into a stored partition (:class:`MergeResult`);
- :func:`hourly_energy` sums readings into hours.

Modules: :mod:`~pipelines.meters.parse` (column parsers), :mod:`~pipelines.meters.registry`
(meter lookup), :mod:`~pipelines.meters.cumulative` (register differences),
:mod:`~pipelines.meters.validate` and :mod:`~pipelines.meters.store`.
"""

from pipelines.meters.store import MergeResult, hourly_energy, merge_readings
from pipelines.meters.validate import (
    BASELINE_REASON,
    CAPACITY_MARGIN,
    CONFLICT_REASON,
    STAT_KEYS,
    MeterBatch,
    validate_meter_rows,
)

__all__ = [
    "BASELINE_REASON",
    "CAPACITY_MARGIN",
    "CONFLICT_REASON",
    "STAT_KEYS",
    "MeterBatch",
    "MergeResult",
    "hourly_energy",
    "merge_readings",
    "validate_meter_rows",
]
