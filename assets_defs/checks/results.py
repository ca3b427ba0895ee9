"""Store suite results in the lake dataset ``data_quality_results``.

One partition per (dataset, UTC day). Several checks may write the same partition
(each its own suites), so a write reads the partition, replaces its own suites'
rows (:func:`pipelines.data_quality.merge_results`) and writes it back atomically,
under an exclusive file lock so concurrent check steps cannot lose each other's rows.
The lock file lies beside the results, or, for an object-store lake, in a local folder:
there it serves the processes of one host (see README "Running at scale").
"""

import fcntl
import hashlib
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import polars as pl

from pipelines import data_quality, lake

DATASET = data_quality.RESULT_DATASET


@contextmanager
def _locked(lake_root: str, dataset: str) -> Iterator[None]:
    if lake.is_remote(lake_root):
        digest = hashlib.sha256(str(lake_root).encode()).hexdigest()[:16]
        folder = Path(tempfile.gettempdir()) / "novaenergy-locks" / digest
    else:
        folder = Path(lake_root) / DATASET
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / f".lock-{lake.partition_dir(lake_root, DATASET, dataset, date.min).parent.name}"
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def record_results(
    lake_root: str, dataset: str, day: date, rows: pl.DataFrame, suites: Iterable[str]
) -> bool:
    """Replace the rows of ``suites`` for (dataset, day) with ``rows``.

    Returns True if the partition changed. Re-running an unchanged check leaves the
    file as it is (same bytes).
    """
    suites = list(suites)
    with _locked(lake_root, dataset):
        stored = lake.read_partition(lake_root, DATASET, dataset, day)
        merged = data_quality.merge_results(stored, rows, suites)
        if merged.equals(stored.sort(data_quality.RESULT_KEY, maintain_order=True)):
            return False
        lake.write_partition(lake_root, DATASET, merged, dataset, day)
        return True


def read_results(lake_root: str, dataset: str | None = None) -> pl.DataFrame:
    """Stored results, of one dataset or all."""
    frame = lake.scan(lake_root, DATASET)
    if dataset is not None:
        frame = frame.filter(pl.col("dataset") == dataset)
    return frame.collect()
