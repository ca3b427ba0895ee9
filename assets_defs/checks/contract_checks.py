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
    caught too. ``daily=False`` is for small unpartitioned datasets: the whole dataset is
    checked and there is no interval completeness.
    """

    dataset: str
    ranges: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    series: tuple[str, ...] = ()
    interval_s: int = 900
    expected_series: Callable[[str, pl.DataFrame], int] | None = None
    daily: bool = True


def _suites(spec: ContractCheckSpec, frame: pl.DataFrame, n_days: int, lake_root: str) -> dict:
    schema = SCHEMAS[spec.dataset]
    if spec.daily:
        n_series = (
            spec.expected_series(lake_root, frame)
            if spec.expected_series
            else frame.select(spec.series).n_unique()
            if frame.height
            else 0
        )
        complete = gxe.ExpectTableRowCountToEqual(
            value=n_series * n_days * (86400 // spec.interval_s)
        )
    else:
        complete = gxe.ExpectTableRowCountToBeBetween(min_value=1)
    return {
        "schema": [gxe.ExpectTableColumnsToMatchOrderedList(column_list=list(schema))]
        + [gxe.ExpectColumnValuesToNotBeNull(column=c) for c in KEYS[spec.dataset]],
        "ranges": [
            gxe.ExpectColumnValuesToBeBetween(column=c, min_value=lo, max_value=hi)
            for c, (lo, hi) in spec.ranges.items()
        ],
        "unique": [gxe.ExpectCompoundColumnsToBeUnique(column_list=KEYS[spec.dataset])],
        "complete": [complete],
    }


def _check_names(spec: ContractCheckSpec) -> dict[str, tuple[str, bool, str]]:
    """part -> (check name, blocking, description)."""
    complete = (
        (
            f"{spec.dataset}_complete_intervals",
            False,
            f"one row per {spec.interval_s} s per series {spec.series} per UTC day",
        )
        if spec.daily
        else (f"{spec.dataset}_not_empty", False, "the dataset has rows")
    )
    return {
        "schema": (
            f"{spec.dataset}_schema",
            True,
            "columns and key columns as in the data contract",
        ),
        "ranges": (f"{spec.dataset}_value_ranges", True, f"value ranges {spec.ranges}"),
        "unique": (f"{spec.dataset}_unique_key", True, f"one row per {KEYS[spec.dataset]}"),
        "complete": complete,
    }


def build_contract_checks(
    asset_key: dg.AssetKey | str, spec: ContractCheckSpec
) -> dg.AssetChecksDefinition:
    """Schema, range, uniqueness and completeness checks for one lake dataset of an asset.

    Daily datasets are checked over the run's partition window; others as a whole.
    """
    key = dg.AssetKey(asset_key) if isinstance(asset_key, str) else asset_key
    names = _check_names(spec)

    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec(name, asset=key, blocking=blocking, description=desc)
            for name, blocking, desc in names.values()
        ],
        name=f"{spec.dataset}_contract_checks",
    )
    def _checks(context: dg.AssetCheckExecutionContext, lake_store: LakeResource):
        op_context = context.op_execution_context
        if spec.daily and op_context.has_partition_key_range:
            window = window_of(op_context)
            frame = lake.read_window(lake_store.root, spec.dataset, window.start, window.end)
            n_days, scope = len(window.days), f"{window.start}..{window.end}"
        elif spec.daily:  # checks run on their own (e.g. from the UI): every stored day
            frame = lake.scan(lake_store.root, spec.dataset).collect()
            ts_col = lake.PARTITIONING[spec.dataset][1]
            n_days, scope = frame[ts_col].dt.date().n_unique(), "every stored day"
        else:
            frame, n_days, scope = (
                lake.scan(lake_store.root, spec.dataset).collect(),
                0,
                "whole dataset",
            )
        pdf = frame.to_pandas()
        for part, expectations in _suites(spec, frame, n_days, lake_store.root).items():
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
                    "scope": scope,
                    "failed": [
                        f"{o.expectation}({o.column}): unexpected={o.unexpected_count} observed={o.observed}"
                        for o in failed
                    ],
                    "expectations": len(outcomes),
                },
            )

    return _checks
