"""Asset checks generated from the data contract, run as Great Expectations suites.

For a lake dataset one factory call gives four checks on the run's partition window:
schema, value ranges, key uniqueness and completeness of intervals.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg
import great_expectations.expectations as gxe
import polars as pl

from assets_defs.checks.ge_runner import validate_frame
from assets_defs.partitions import window_of
from assets_defs.resources import LakeResource
from pipelines import lake
from pipelines.schemas import KEYS, SCHEMAS


@dataclass(frozen=True)
class ContractCheckSpec:
    """What to check for one dataset.

    ``ranges`` maps a column to inclusive (min, max) bounds, None for open. ``series``
    names the columns that identify one time series; completeness expects one row per
    ``interval_s`` per series per day. ``expected_series`` may count the series that
    should exist (for example from a registry), so a series with no row at all is
    caught too.
    """

    dataset: str
    ranges: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    series: tuple[str, ...] = ()
    interval_s: int = 900
    expected_series: Callable[[str, pl.DataFrame], int] | None = None


def _suites(spec: ContractCheckSpec, frame: pl.DataFrame, n_days: int, lake_root: str):
    schema = SCHEMAS[spec.dataset]
    pdf = frame.to_pandas()
    n_series = (
        spec.expected_series(lake_root, frame)
        if spec.expected_series
        else frame.select(spec.series).n_unique()
        if frame.height
        else 0
    )
    expected_rows = n_series * n_days * (86400 // spec.interval_s)
    return {
        "schema": [gxe.ExpectTableColumnsToMatchOrderedList(column_list=list(schema))]
        + [gxe.ExpectColumnValuesToNotBeNull(column=c) for c in KEYS[spec.dataset]],
        "ranges": [
            gxe.ExpectColumnValuesToBeBetween(column=c, min_value=lo, max_value=hi)
            for c, (lo, hi) in spec.ranges.items()
        ],
        "unique": [gxe.ExpectCompoundColumnsToBeUnique(column_list=KEYS[spec.dataset])],
        "complete": [gxe.ExpectTableRowCountToEqual(value=expected_rows)],
    }, pdf


def build_contract_checks(
    asset_key: dg.AssetKey | str, spec: ContractCheckSpec
) -> dg.AssetChecksDefinition:
    """Four blocking-where-it-matters checks for a daily lake asset."""
    key = dg.AssetKey(asset_key) if isinstance(asset_key, str) else asset_key
    names = {
        "schema": (
            f"{spec.dataset}_schema",
            True,
            "columns and key columns as in the data contract",
        ),
        "ranges": (f"{spec.dataset}_value_ranges", True, f"value ranges {spec.ranges}"),
        "unique": (f"{spec.dataset}_unique_key", True, f"one row per {KEYS[spec.dataset]}"),
        "complete": (
            f"{spec.dataset}_complete_intervals",
            False,
            f"one row per {spec.interval_s} s per series {spec.series} per UTC day",
        ),
    }

    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec(name, asset=key, blocking=blocking, description=desc)
            for name, blocking, desc in names.values()
        ],
        name=f"{spec.dataset}_contract_checks",
    )
    def _checks(context: dg.AssetCheckExecutionContext, lake_store: LakeResource):
        window = window_of(context.op_execution_context)
        frame = lake.read_window(lake_store.root, spec.dataset, window.start, window.end)
        suites, pdf = _suites(spec, frame, len(window.days), lake_store.root)
        for part, expectations in suites.items():
            name, _, _ = names[part]
            outcomes = validate_frame(pdf, expectations, name) if expectations else []
            failed = [o for o in outcomes if not o.success]
            yield dg.AssetCheckResult(
                asset_key=key,
                check_name=name,
                passed=not failed,
                severity=dg.AssetCheckSeverity.WARN
                if part == "complete"
                else dg.AssetCheckSeverity.ERROR,
                metadata={
                    "rows": frame.height,
                    "window": f"{window.start}..{window.end}",
                    "failed": [
                        f"{o.expectation}({o.column}): unexpected={o.unexpected_count} observed={o.observed}"
                        for o in failed
                    ],
                    "expectations": len(outcomes),
                },
            )

    return _checks
