"""Suites over the raw meter exports as landed under the raw root, before validation.

The batch of a day is the site's export of that day (``meters/<site>/<day>.csv``, see
:mod:`ingest.raw_files`), read as delivered and parsed to types
(:func:`pipelines.data_quality.raw_meter_frame`). The checks sit on the asset that
lands these files into ``meter_readings``: a blocking failure stops the assets
downstream of it (``site_energy_hourly``) in the same run.

Suites (check names ``<dataset>_<suite>``):

- ``schema`` (warn): the file has rows; every value parses as its type (meter id,
  timestamp, number, interval, register type); every meter is registered.
- ``value_ranges`` (warn): energy and register readings ≥ 0 Wh; interval energy at
  most max_power_w × interval × 1.1 of its meter. The validator quarantines such rows,
  so they do not reach ``meter_readings``.
- ``unique_key`` (blocking): one row per (meter_id, ts_utc). Conflicting copies are
  all quarantined, which leaves holes in the hourly balance.
- ``monotonic_registers`` (blocking): a cumulative register never decreases per meter
  (a rollover at the register's width is allowed); a drop would be landed as a
  register reset and count the whole register again.
- ``complete_intervals`` (warn): every registered meter has rows; each meter has every
  interval of the day (96 for 15-min).
"""

from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl

from assets_defs.checks.contract_checks import Scope, SuitePart, SuiteSet, build_suite_checks
from ingest import raw_files
from ingest.meter_files import MeterFileError, read_meter_export
from pipelines import data_quality, lake
from pipelines.data_quality import DAY, RAW_METER_SCHEMA

DATASET = "raw_meter_readings"


def _registry(scope: Scope) -> pl.DataFrame:
    site_id = (scope.site or scope.resources.site).site_id
    return (
        lake.scan(scope.lake_root, "meter_registry").filter(pl.col("site_id") == site_id).collect()
    )


def _stored_days(raw_root: str, site_id: str) -> list[date]:
    folder = Path(raw_files.meter_file(raw_root, site_id, date.min)).parent
    days = []
    for path in sorted(folder.glob("*.csv")):
        try:
            days.append(date.fromisoformat(path.stem))
        except ValueError:
            continue
    return days


def read_raw_meter_day(path: Path, timezone: str) -> pl.DataFrame:
    """The typed rows of one day's export; no rows if it is missing or unreadable."""
    try:
        return data_quality.raw_meter_frame(read_meter_export(path), timezone)
    except (MeterFileError, ValueError, OSError):
        return data_quality.empty_raw_meter_frame()


def load_raw_meters(scope: Scope) -> pl.DataFrame:
    """Typed rows of the scope's raw exports with the derived ``dq_`` columns.

    Register steps are computed across the days of the scope, so a drop between the
    last reading of one day and the first of the next is caught too.
    """
    site = scope.site or scope.resources.site
    raw_root = scope.resources.lake_store.raw_root
    days = scope.days if scope.days is not None else _stored_days(raw_root, site.site_id)
    frames = [
        read_raw_meter_day(
            raw_files.meter_file(raw_root, site.site_id, d), site.timezone
        ).with_columns(pl.lit(d, dtype=pl.Date).alias(DAY))
        for d in days
    ]
    frame = (
        pl.concat(frames)
        if frames
        else data_quality.empty_raw_meter_frame().with_columns(pl.lit(None, pl.Date).alias(DAY))
    )
    frame = data_quality.with_capacity(frame, _registry(scope))
    frame = data_quality.with_register_steps(frame, ["meter_id"])
    return data_quality.with_interval_counts(frame, ["meter_id"], "ts_utc", 900)


def raw_meter_expectations(batch: pl.DataFrame, scope: Scope) -> dict[str, list]:
    import great_expectations.expectations as gxe  # slow to import: see contract_checks
    from great_expectations.expectations.row_conditions import Column

    registered = _registry(scope)["meter_id"].to_list()
    return {
        "schema": [gxe.ExpectTableRowCountToBeBetween(min_value=1)]
        + [gxe.ExpectColumnValuesToNotBeNull(column=c) for c in RAW_METER_SCHEMA]
        + [gxe.ExpectColumnValuesToBeInSet(column="meter_id", value_set=registered)],
        "ranges": [
            gxe.ExpectColumnValuesToBeBetween(column="energy_wh", min_value=0),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="dq_cap_wh",
                column_B="energy_wh",
                or_equal=True,
                row_condition=Column("register") == data_quality.INTERVAL,
            ),
        ],
        "unique": [gxe.ExpectCompoundColumnsToBeUnique(column_list=["meter_id", "ts_utc"])],
        "monotonic": [gxe.ExpectColumnValuesToBeBetween(column="dq_register_step_wh", min_value=0)],
        "complete": [
            gxe.ExpectColumnDistinctValuesToContainSet(column="meter_id", value_set=registered),
            gxe.ExpectColumnPairValuesToBeEqual(
                column_A="dq_intervals_present", column_B="dq_intervals_expected"
            ),
        ],
    }


def raw_meter_suite_set(dataset: str = DATASET) -> SuiteSet:
    return SuiteSet(
        name=f"{dataset}_checks",
        dataset=dataset,
        parts=(
            SuitePart(
                "schema",
                f"{dataset}_schema",
                False,
                "raw export readable with rows; values parse as their types; meters registered",
            ),
            SuitePart(
                "ranges",
                f"{dataset}_value_ranges",
                False,
                "energy >= 0 Wh; interval energy <= max_power_w x interval x 1.1",
            ),
            SuitePart("unique", f"{dataset}_unique_key", True, "one row per (meter_id, ts_utc)"),
            SuitePart(
                "monotonic",
                f"{dataset}_monotonic_registers",
                True,
                "cumulative registers never decrease per meter (rollovers allowed)",
            ),
            SuitePart(
                "complete",
                f"{dataset}_complete_intervals",
                False,
                "every registered meter; every interval of the UTC day per meter",
            ),
        ),
        load=load_raw_meters,
        expectations=raw_meter_expectations,
    )


def build_raw_meter_checks(asset_key: dg.AssetKey | str) -> dg.AssetChecksDefinition:
    """The raw meter suites as checks of the asset that lands the exports."""
    return build_suite_checks(asset_key, raw_meter_suite_set())
