"""Asset checks that run Great Expectations suites, one check per suite.

:func:`build_suite_checks` is the one runner: it loads the rows a run covers, validates
every UTC day as its own batch (all suites of the day in one GX validation), stores one
``data_quality_results`` row per expectation per day and reports one Dagster check per
suite. A suite is blocking (severity ERROR: a failure stops downstream assets of the
run) or warn-only.

:func:`build_contract_checks` builds the suites of a lake dataset from the data
contract: schema, value ranges, key uniqueness and completeness of intervals.
:mod:`assets_defs.checks.raw_meter_checks` builds the suites of raw meter exports.
"""

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
import polars as pl

from assets_defs.checks.ge_runner import ExpectationOutcome, validate_suites
from assets_defs.checks.results import record_results
from assets_defs.partitions import Window, key_parts, run_partition_keys, window_of
from pipelines import data_quality, lake
from pipelines.data_quality import DAY
from pipelines.schemas import KEYS, SCHEMAS

#: Most failures listed in a check's metadata.
MAX_LISTED_FAILURES = 50


# ---------------------------------------------------------------- the generic runner


@dataclass(frozen=True)
class SuitePart:
    """One suite of a check set: a Dagster check and a ``suite`` in the results."""

    key: str
    check_name: str
    blocking: bool
    description: str


@dataclass(frozen=True)
class Scope:
    """What one check run covers: its resources and the UTC days (None: every stored
    day of a daily dataset, or the whole of an undated one)."""

    resources: Any
    days: list[date] | None
    site: Any = None  # the SiteResource of the checked site (None: the resources' own)

    @property
    def lake_root(self) -> str:
        return self.resources.lake_store.root

    def entity(self, dataset: str) -> str:
        """The site or grid zone whose rows of ``dataset`` this run checks: the code
        location's zone for zone datasets, its site for the others."""
        site = self.site or self.resources.site
        zoned = lake.PARTITIONING.get(dataset, ("site_id", None))[0] == "zone"
        return site.zone if zoned else site.site_id


@dataclass(frozen=True)
class SuiteSet:
    """Suites over one dataset (or one raw source), run by :func:`build_suite_checks`.

    ``load`` returns the rows of the scope, with derived columns and, when ``daily``,
    the Date column :data:`pipelines.data_quality.DAY` naming each row's batch.
    ``expectations`` returns fresh GX expectations per part key for one day's batch
    (the DAY column removed). ``dataset`` labels the rows in ``data_quality_results``.
    """

    name: str
    dataset: str
    parts: tuple[SuitePart, ...]
    load: Callable[[Scope], pl.DataFrame]
    expectations: Callable[[pl.DataFrame, Scope], Mapping[str, list]]
    resource_keys: frozenset[str] = frozenset({"lake_store", "site"})
    daily: bool = True
    record: bool = True


def _run_scope(context) -> tuple[list[date] | None, list]:
    """The run's UTC days (None when its partitions have no day) and the sites it checks
    (the partitions' sites, else the code location's own)."""
    keys = [key_parts(k) for k in run_partition_keys(context)]
    site = context.resources.site
    ids = list(dict.fromkeys(k[1] for k in keys if k[1] is not None))
    registry = site.registry() if ids else {}
    sites = [site.for_site(i, registry) for i in ids]
    if not keys or keys[0][0] is None:
        return None, sites or [site]
    try:
        window = window_of(context.op_execution_context)
    except dg.DagsterInvariantViolationError:  # a run of checks alone: first and last key
        window = Window(keys[0][0], keys[-1][0] + timedelta(days=1))
    return window.days, sites or [site]


def _batches(frame: pl.DataFrame, days: list[date] | None) -> list[tuple[date, pl.DataFrame]]:
    """One batch per day (an empty one for a day without rows), DAY column dropped."""
    groups = {k[0]: part.drop(DAY) for k, part in frame.partition_by(DAY, as_dict=True).items()}
    if days is None:
        days = sorted(d for d in groups if d is not None)
    empty = frame.clear().drop(DAY)
    return [(d, groups.get(d, empty)) for d in days]


def _failure(day: date | None, o: ExpectationOutcome) -> str:
    where = f"{day}: " if day is not None else ""
    return (
        f"{where}{o.expectation}({o.column}): unexpected={o.unexpected_count} observed={o.observed}"
    )


def run_suites(
    suite_set: SuiteSet, scope: Scope, evaluated_at: datetime
) -> tuple[pl.DataFrame, dict[str, list[tuple[date | None, ExpectationOutcome]]]]:
    """Validate every batch of ``scope``; store results; return the rows and outcomes."""
    frame = suite_set.load(scope)
    batches = _batches(frame, scope.days) if suite_set.daily else [(None, frame)]
    outcomes: dict[str, list] = defaultdict(list)
    entity = scope.entity(suite_set.dataset)
    check_names = {p.key: p.check_name for p in suite_set.parts}
    for day, batch in batches:
        suites = {k: v for k, v in suite_set.expectations(batch, scope).items() if v}
        results = validate_suites(batch, suites)
        for key, found in results.items():
            outcomes[key] += [(day, o) for o in found]
        if suite_set.record and day is not None:
            rows = pl.concat(
                [
                    data_quality.result_frame(
                        suite_set.dataset,
                        entity,
                        day,
                        check_names[key],
                        [(o.expectation, o.column, o.success, o.observed) for o in found],
                        evaluated_at,
                    )
                    for key, found in results.items()
                ]
                or [data_quality.empty_results()]
            )
            record_results(
                scope.lake_root,
                suite_set.dataset,
                entity,
                day,
                rows,
                check_names.values(),
            )
    return frame, outcomes


#: dataset → the suite set that records its results: one writer per results partition
RECORDED_BY: dict[str, str] = {}


def build_suite_checks(
    asset_key: dg.AssetKey | str, suite_set: SuiteSet
) -> dg.AssetChecksDefinition:
    """One Dagster check per part of ``suite_set``, run as one op.

    Raises
    ------
    ValueError
        If another suite set already records results for the same dataset: the results
        of a dataset, site and day are one file, and it must have one writer.
    """
    key = dg.AssetKey(asset_key) if isinstance(asset_key, str) else asset_key
    if suite_set.record:
        owner = RECORDED_BY.setdefault(suite_set.dataset, suite_set.name)
        if owner != suite_set.name:
            raise ValueError(
                f"{suite_set.name}: the results of {suite_set.dataset} are recorded by "
                f"{owner}; add the suites there, so their partitions keep one writer"
            )

    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec(
                p.check_name, asset=key, blocking=p.blocking, description=p.description
            )
            for p in suite_set.parts
        ],
        name=suite_set.name,
        required_resource_keys=set(suite_set.resource_keys),
    )
    def _checks(context: dg.AssetCheckExecutionContext):
        days, sites = _run_scope(context)
        days = days if suite_set.daily else None
        if not suite_set.daily:
            scope_text = "whole dataset"
        elif days is not None:
            scope_text = f"{days[0]}..{days[-1] + timedelta(days=1)}"
        else:  # checks run on their own (e.g. from the UI): every stored day
            scope_text = "every stored day"
        if len(sites) > 1:
            scope_text += f", {len(sites)} sites"
        # a daily site dataset is checked site by site, on each site's own rows; a zone
        # dataset or an undated one (read whole) once
        zoned = lake.PARTITIONING.get(suite_set.dataset, ("site_id", None))[0] == "zone"
        per_site = suite_set.daily and not zoned
        now, frames, outcomes = datetime.now(UTC), [], defaultdict(list)
        for site in sites if per_site else sites[:1]:
            frame, found = run_suites(suite_set, Scope(context.resources, days, site), now)
            frames.append(frame)
            for part_key, items in found.items():
                outcomes[part_key] += items
        frame = pl.concat(frames, how="diagonal_relaxed")
        n_days = frame[DAY].n_unique() if suite_set.daily and DAY in frame.columns else None
        for part in suite_set.parts:
            found = outcomes.get(part.key, [])
            failed = [(d, o) for d, o in found if not o.success]
            yield dg.AssetCheckResult(
                asset_key=key,
                check_name=part.check_name,
                passed=not failed,
                severity=dg.AssetCheckSeverity.ERROR
                if part.blocking
                else dg.AssetCheckSeverity.WARN,
                metadata={
                    "rows": frame.height,
                    "scope": scope_text,
                    "days_with_rows": n_days,
                    "failed_days": sorted({str(d) for d, _ in failed if d is not None}),
                    "failed": [_failure(d, o) for d, o in failed[:MAX_LISTED_FAILURES]],
                    "expectations": len(found),
                },
            )

    return _checks


# ---------------------------------------------------------------- contract suites


@dataclass(frozen=True)
class ContractCheckSpec:
    """What to check for one lake dataset.

    ``ranges`` maps a column to inclusive (min, max) bounds, None for open. ``series``
    names the columns that identify one time series; completeness expects one row per
    ``interval_s`` per series per day (per row's ``interval_s`` where the dataset has
    that column). ``expected_series(lake_root, entity)`` may count the series that should exist (for
    example from a registry), so a series with no row at all is caught too.
    ``daily=False`` is for small unpartitioned datasets: the whole dataset is checked,
    there is no interval completeness and no results are stored.

    Optional suites: ``unit_ranges`` bounds ``value_column`` per value of
    ``unit_column`` (conditional expectations), and every row's unit must be one of
    them; ``metric_units`` fixes the unit of a metric; ``capacity`` adds the derived
    column ``dq_cap_wh`` (from ``(lake_root, frame)``) and expects ``capacity_column``
    at most that cap; ``samples`` says rows are samples at any rate, complete when every
    interval of a series holds one; ``check_types`` expects each column's values of its
    contract type.
    ``blocking`` names the suites whose failure stops downstream assets.
    """

    dataset: str
    ranges: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    series: tuple[str, ...] = ()
    interval_s: int = 900
    expected_series: Callable[[str, str], int] | None = None
    daily: bool = True
    unit_ranges: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    unit_column: str = "unit"
    value_column: str = "value"
    metric_units: dict[str, str] = field(default_factory=dict)
    metric_column: str = "metric"
    capacity: Callable[[str, pl.DataFrame], pl.DataFrame] | None = None
    capacity_column: str = "energy_wh"
    samples: bool = False
    check_types: bool = False
    blocking: frozenset[str] = frozenset({"schema", "ranges", "unique"})
    record: bool = True


#: GX type names of contract types, as the columns arrive in pandas.
PANDAS_TYPES = {
    pl.String: "str",
    pl.Float64: "float64",
    pl.Int32: "int32",
    pl.Int64: "int64",
    pl.Boolean: "bool",
}


def pandas_type(dtype: pl.DataType) -> str | None:
    if isinstance(dtype, pl.Datetime):
        return "Timestamp"
    return PANDAS_TYPES.get(dtype)  # type: ignore[call-overload]


def _derived(spec: ContractCheckSpec) -> list[str]:
    cols = []
    if spec.capacity is not None:
        cols.append("dq_cap_wh")
    if spec.daily and spec.series:
        cols += ["dq_intervals_present", "dq_intervals_expected"]
    return cols


def _contract_loader(spec: ContractCheckSpec) -> Callable[[Scope], pl.DataFrame]:
    ts_col = lake.PARTITIONING[spec.dataset][1]

    def load(scope: Scope) -> pl.DataFrame:
        root = scope.lake_root
        if not spec.daily:
            return lake.scan(root, spec.dataset).collect()
        # the run's own site or zone: a portfolio's runs never check each other's rows
        entity = scope.entity(spec.dataset)
        if scope.days is not None:
            start, end = scope.days[0], scope.days[-1] + timedelta(days=1)
            frame = lake.read_window(root, spec.dataset, start, end, [entity])
        else:
            entity_col = lake.PARTITIONING[spec.dataset][0]
            frame = lake.scan(root, spec.dataset).filter(pl.col(entity_col) == entity).collect()
        frame = frame.with_columns(pl.col(ts_col).dt.date().alias(DAY))
        if spec.capacity is not None:
            frame = spec.capacity(root, frame)
        if spec.series:
            frame = data_quality.with_interval_counts(
                frame, spec.series, ts_col, spec.interval_s, samples=spec.samples
            )
        return frame

    return load


def contract_expectations(
    spec: ContractCheckSpec, batch: pl.DataFrame, lake_root: str, entity: str
) -> dict[str, list]:
    """The suites of ``spec`` for one batch (one day, or the whole undated dataset)."""
    # imported here, not at module level: GX takes seconds to import, and every process
    # that loads the code location (each step of a multiprocess run) would pay for it
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    schema = SCHEMAS[spec.dataset]
    key = KEYS[spec.dataset]
    schema_suite = [
        gxe.ExpectTableColumnsToMatchOrderedList(column_list=[*schema, *_derived(spec)])
    ] + [gxe.ExpectColumnValuesToNotBeNull(column=c) for c in key]
    if spec.check_types:
        schema_suite += [
            gxe.ExpectColumnValuesToBeOfType(column=c, type_=t)
            for c, dtype in schema.items()
            if (t := pandas_type(dtype)) is not None
        ]
    ranges = [
        gxe.ExpectColumnValuesToBeBetween(column=c, min_value=lo, max_value=hi)
        for c, (lo, hi) in spec.ranges.items()
    ]
    if spec.unit_ranges:
        ranges.append(
            gxe.ExpectColumnValuesToBeInSet(
                column=spec.unit_column, value_set=list(spec.unit_ranges)
            )
        )
        ranges += [
            gxe.ExpectColumnValuesToBeBetween(
                column=spec.value_column,
                min_value=lo,
                max_value=hi,
                row_condition=Column(spec.unit_column) == unit,
            )
            for unit, (lo, hi) in spec.unit_ranges.items()
        ]
    ranges += [
        gxe.ExpectColumnValuesToBeInSet(
            column=spec.unit_column,
            value_set=[unit],
            row_condition=Column(spec.metric_column) == metric,
        )
        for metric, unit in spec.metric_units.items()
    ]
    if spec.capacity is not None:
        ranges.append(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="dq_cap_wh", column_B=spec.capacity_column, or_equal=True
            )
        )
    if spec.daily:
        n_series = (
            spec.expected_series(lake_root, entity)
            if spec.expected_series
            else batch.select(spec.series).n_unique()
            if batch.height
            else 0
        )
        intervals = n_series * (86400 // spec.interval_s)
        complete = [
            # samples may come at any rate: at least one per interval and series
            gxe.ExpectTableRowCountToBeBetween(min_value=intervals)
            if spec.samples
            else gxe.ExpectTableRowCountToEqual(value=intervals)
        ]
        if spec.series:
            complete.append(
                gxe.ExpectColumnPairValuesToBeEqual(
                    column_A="dq_intervals_present", column_B="dq_intervals_expected"
                )
            )
    else:
        complete = [gxe.ExpectTableRowCountToBeBetween(min_value=1)]
    return {
        "schema": schema_suite,
        "ranges": ranges,
        "unique": [gxe.ExpectCompoundColumnsToBeUnique(column_list=key)],
        "complete": complete,
    }


def _parts(spec: ContractCheckSpec) -> tuple[SuitePart, ...]:
    d = spec.dataset
    complete = (
        SuitePart(
            "complete",
            f"{d}_complete_intervals",
            "complete" in spec.blocking,
            f"{'a sample in every' if spec.samples else 'one row per'} {spec.interval_s} s "
            f"per series {spec.series} per UTC day",
        )
        if spec.daily
        else SuitePart(
            "complete", f"{d}_not_empty", "complete" in spec.blocking, "the dataset has rows"
        )
    )
    ranges = dict(spec.ranges)
    described = (
        f"value ranges {ranges}"
        + (
            f"; {spec.value_column} per {spec.unit_column} {spec.unit_ranges}"
            if spec.unit_ranges
            else ""
        )
        + (f"; units of metrics {spec.metric_units}" if spec.metric_units else "")
        + (f"; {spec.capacity_column} <= meter capacity" if spec.capacity else "")
    )
    return (
        SuitePart(
            "schema",
            f"{d}_schema",
            "schema" in spec.blocking,
            "columns"
            + (" and types" if spec.check_types else "")
            + " as in the data contract; key not null",
        ),
        SuitePart("ranges", f"{d}_value_ranges", "ranges" in spec.blocking, described),
        SuitePart("unique", f"{d}_unique_key", "unique" in spec.blocking, f"one row per {KEYS[d]}"),
        complete,
    )


def contract_suite_set(spec: ContractCheckSpec) -> SuiteSet:
    return SuiteSet(
        name=f"{spec.dataset}_contract_checks",
        dataset=spec.dataset,
        parts=_parts(spec),
        load=_contract_loader(spec),
        expectations=lambda batch, scope: contract_expectations(
            spec, batch, scope.lake_root, scope.entity(spec.dataset)
        ),
        daily=spec.daily,
        record=spec.record and spec.daily,
    )


def build_contract_checks(
    asset_key: dg.AssetKey | str, spec: ContractCheckSpec
) -> dg.AssetChecksDefinition:
    """Schema, range, uniqueness and completeness checks for one lake dataset of an asset.

    Daily datasets are checked day by day over the run's partition window (every stored
    day when the run has none), and each day's results are stored in
    ``data_quality_results``; others are checked as a whole.
    """
    return build_suite_checks(asset_key, contract_suite_set(spec))
