"""Run Great Expectations suites on in-memory frames.

One ephemeral GX context per process, with a pandas datasource whose whole-dataframe
batch definition takes the frame as a batch parameter. Nothing here touches disk.

Several suites over one frame run as one validation (one batch, one metric graph):
GX's fixed cost per validation is several times that of one expectation, and the
checks validate every day of a window separately.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import pandas as pd
import polars as pl

#: Enough detail for counts and observed values; SUMMARY also tallies unexpected values.
RESULT_FORMAT = "BASIC"


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result, flattened for Dagster metadata and the results table.

    ``expectation`` is the GX type name, followed by the row condition in brackets for
    a conditional expectation (``expect_column_values_to_be_between[unit == W]``);
    ``column`` names the column(s) (comma-separated for several), None for the table.
    """

    expectation: str
    column: str | None
    success: bool
    unexpected_count: int | None
    observed: str | None


@cache
def _batch_definition():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    datasource = context.data_sources.add_pandas("novaenergy_frames")
    asset = datasource.add_dataframe_asset("frame")
    return asset.add_batch_definition_whole_dataframe("whole_frame")


def expectation_label(expectation) -> str:
    """Type name of an expectation, with its row condition if it has one."""
    condition = getattr(expectation, "row_condition", None)
    name = expectation.expectation_type
    return f"{name}[{condition!r}]" if condition else name


def _column_label(expectation_type: str, kwargs: Mapping) -> str | None:
    if expectation_type.startswith("expect_table_"):
        return None
    if kwargs.get("column") is not None:
        return str(kwargs["column"])
    if kwargs.get("column_list"):
        return ",".join(map(str, kwargs["column_list"]))
    if kwargs.get("column_A") is not None:
        return f"{kwargs['column_A']},{kwargs['column_B']}"
    return None


def _observed(result) -> str | None:
    r = result.result or {}
    if result.exception_info and result.exception_info.get("raised_exception"):
        message = str(result.exception_info.get("exception_message", "")).splitlines()
        return f"error: {message[0] if message else 'expectation raised'}"[:200]
    if r.get("observed_value") is not None:
        return str(r["observed_value"])[:200]
    if r.get("unexpected_count") is not None:
        return f"{r['unexpected_count']} unexpected of {r.get('element_count')}"
    if r.get("partial_missing_list"):
        return f"missing {r['partial_missing_list']}"[:200]
    return None


def _outcome(result, label: str) -> ExpectationOutcome:
    cfg = result.expectation_config
    r = result.result or {}
    return ExpectationOutcome(
        expectation=label,
        column=_column_label(cfg.type, cfg.kwargs),
        success=bool(result.success),
        unexpected_count=r.get("unexpected_count"),
        observed=_observed(result),
    )


def to_pandas(frame: pl.DataFrame | pd.DataFrame) -> pd.DataFrame:
    return frame.to_pandas() if isinstance(frame, pl.DataFrame) else frame


def validate_suites(
    frame: pl.DataFrame | pd.DataFrame, suites: Mapping[str, Sequence]
) -> dict[str, list[ExpectationOutcome]]:
    """Validate ``frame`` against several suites of GX expectation objects at once.

    Parameters
    ----------
    frame : polars or pandas DataFrame
        One batch.
    suites : mapping of suite name to expectations
        Fresh expectation objects (their ``meta`` is set here to tag the results).

    Returns
    -------
    dict
        Suite name to one outcome per expectation, in the order given.
    """
    import great_expectations as gx

    tagged = [(s, i, e) for s, exps in suites.items() for i, e in enumerate(exps)]
    out: dict[str, list] = {s: [None] * len(exps) for s, exps in suites.items()}
    if not tagged:
        return {s: [] for s in suites}
    batch_definition = _batch_definition()  # the suite needs the context to exist first
    suite = gx.ExpectationSuite(name="+".join(suites))
    labels = {}
    for s, i, expectation in tagged:
        labels[(s, i)] = expectation_label(expectation)
        expectation.meta = {**(expectation.meta or {}), "dq_suite": s, "dq_index": i}
        suite.add_expectation(expectation)
    batch = batch_definition.get_batch(batch_parameters={"dataframe": to_pandas(frame)})
    result = batch.validate(suite, result_format=RESULT_FORMAT)
    for r in result.results:
        meta = r.expectation_config.meta
        s, i = meta["dq_suite"], int(meta["dq_index"])
        out[s][i] = _outcome(r, labels[(s, i)])
    missing = [(s, i) for s, outcomes in out.items() for i, o in enumerate(outcomes) if o is None]
    if missing:
        raise RuntimeError(f"GX returned no result for expectations {missing}")
    return out


def validate_frame(
    frame: pl.DataFrame | pd.DataFrame, expectations: list, suite_name: str
) -> list[ExpectationOutcome]:
    """Validate ``frame`` against GX expectation objects; return one outcome each."""
    return validate_suites(frame, {suite_name: expectations})[suite_name]
