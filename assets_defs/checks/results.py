"""Store suite results in the lake dataset ``data_quality_results``.

One partition per (dataset, scope, UTC day), the scope being the site or grid zone whose
rows were checked (:func:`pipelines.data_quality.dataset_scope`). Each dataset has one
check writing its results (a test keeps it so), so a partition has one writer, and a
write replaces the partition atomically, on a local disk or an object store, from any
host: no lock is needed. Re-running a check keeps the stamps of unchanged outcomes
(:func:`pipelines.data_quality.merge_results`).
"""

from collections.abc import Iterable
from datetime import date

import polars as pl

from pipelines import data_quality, lake

DATASET = data_quality.RESULT_DATASET


def record_results(
    lake_root: str, dataset: str, scope: str, day: date, rows: pl.DataFrame, suites: Iterable[str]
) -> bool:
    """Replace the rows of ``suites`` for (dataset, scope, day) with ``rows``.

    Returns True if the partition changed. Re-running an unchanged check leaves the
    file as it is (same bytes).
    """
    suites = list(suites)
    partition = data_quality.dataset_scope(dataset, scope)
    stored = lake.read_partition(lake_root, DATASET, partition, day)
    merged = data_quality.merge_results(stored, rows, suites)
    if merged.equals(stored.sort(data_quality.RESULT_KEY, maintain_order=True)):
        return False
    lake.write_partition(lake_root, DATASET, merged, partition, day)
    return True


def read_results(lake_root: str, dataset: str | None = None) -> pl.DataFrame:
    """Stored results, of one dataset or all."""
    frame = lake.scan(lake_root, DATASET)
    if dataset is not None:
        frame = frame.filter(pl.col("dataset") == dataset)
    return frame.collect()
