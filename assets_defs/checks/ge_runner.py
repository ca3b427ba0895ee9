"""Run Great Expectations suites on in-memory frames.

One ephemeral GX context per process, with a pandas datasource whose whole-dataframe
batch definition takes the frame as a batch parameter. Nothing here touches disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import pandas as pd


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result, flattened for Dagster metadata."""

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


def validate_frame(
    frame: pd.DataFrame, expectations: list, suite_name: str
) -> list[ExpectationOutcome]:
    """Validate ``frame`` against GX expectation objects; return one outcome each."""
    import great_expectations as gx

    batch_definition = _batch_definition()  # the suite needs the context to exist first
    suite = gx.ExpectationSuite(name=suite_name)
    for expectation in expectations:
        suite.add_expectation(expectation)
    result = batch_definition.get_batch(batch_parameters={"dataframe": frame}).validate(suite)
    outcomes = []
    for r in result.results:
        cfg = r.expectation_config
        observed = r.result.get("observed_value")
        outcomes.append(
            ExpectationOutcome(
                expectation=cfg.type,
                column=cfg.kwargs.get("column"),
                success=bool(r.success),
                unexpected_count=r.result.get("unexpected_count"),
                observed=None if observed is None else str(observed)[:200],
            )
        )
    return outcomes
