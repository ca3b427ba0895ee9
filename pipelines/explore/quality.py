"""Data quality: the Great Expectations results stored in ``data_quality_results``.

One row per dataset, UTC day, suite, expectation and column, with ``success`` and what
was observed (see :mod:`pipelines.data_quality`).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl

from pipelines import lake

DATASET = "data_quality_results"


def quality_results(lake_root: str | Path, first: date, last: date) -> pl.DataFrame:
    """Results of UTC days ``first..last`` (both included), failures first.

    Returns
    -------
    pl.DataFrame
        ``data_quality_results`` rows sorted by success (failed first), newest day,
        dataset, suite, expectation, column.
    """
    rows = lake.read_window(lake_root, DATASET, first, last + timedelta(days=1))
    return rows.sort(
        "success",
        "day_utc",
        "dataset",
        "suite",
        "expectation",
        "column",
        descending=[False, True, False, False, False, False],
        nulls_last=True,
    )


def pass_rates(results: pl.DataFrame) -> pl.DataFrame:
    """Per dataset: expectations evaluated, passed, failed and pass rate [%], worst first.

    Returns
    -------
    pl.DataFrame
        dataset, checks, passed, failed, pass_rate_pct, days; sorted by pass rate, then
        dataset.
    """
    return (
        results.group_by("dataset")
        .agg(
            pl.len().cast(pl.Int64).alias("checks"),
            pl.col("success").sum().cast(pl.Int64).alias("passed"),
            (~pl.col("success")).sum().cast(pl.Int64).alias("failed"),
            pl.col("day_utc").n_unique().cast(pl.Int64).alias("days"),
        )
        .with_columns((100 * pl.col("passed") / pl.col("checks")).alias("pass_rate_pct"))
        .select("dataset", "checks", "passed", "failed", "pass_rate_pct", "days")
        .sort("pass_rate_pct", "dataset")
    )


def results_span(lake_root: str | Path) -> tuple[date, date] | None:
    """First and last UTC day with stored results, None when there are none."""
    days = sorted(
        date.fromisoformat(f.parent.name.removeprefix("date="))
        for f in lake.dataset_files(lake_root, DATASET)
    )
    return (days[0], days[-1]) if days else None
