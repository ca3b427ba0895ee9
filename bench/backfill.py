"""Backfills of the daily assets: weeks one after another in process, or one multiprocess run.

Shared by the parallel-backfill and object-storage tests (tests/scale) and the benchmarks.
"""

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl

from assets_defs.catalog import ASSETS, CHECKS
from assets_defs.partitions import daily_partitions, range_tags
from novaenergy.demo import QUIET, resources_for
from novaenergy.settings import Settings, as_environ

ROOT_DIR = Path(__file__).resolve().parents[1]
DAILY = [a for a in ASSETS if a.partitions_def == daily_partitions]
METER_REGISTRY = dg.AssetKey("meter_registry")
# Columns stamped with the wall clock of the run that wrote them: the only ones two runs
# over the same partitions may disagree on.
RUN_STAMPS = {
    "data_quality_results": ["evaluated_at_utc"],
    "meter_quarantine": ["ingested_at_utc"],
}
# Each step in a fresh interpreter (spawn, Dagster's default). A forkserver that preloads
# the code location deadlocks: Polars' thread pool does not survive a fork.
MULTIPROCESS = {"multiprocess": {"max_concurrent": 2}}


def daily_selection(names: list[str] | None = None) -> tuple[list, list]:
    """The daily assets named (all when None) and the checks that only touch them."""
    assets = [a for a in DAILY if names is None or any(k.path[-1] in names for k in a.keys)]
    keys = {k for a in assets for k in a.keys}
    checks = [c for c in CHECKS if all(k.asset_key in keys for k in c.check_keys)]
    return assets, checks


def weeks(first: date, n: int) -> list[tuple[date, date]]:
    """``n`` consecutive weeks from ``first``: (first day, last day) each."""
    return [(first + timedelta(days=7 * i), first + timedelta(days=7 * i + 6)) for i in range(n)]


def register_meters(settings: Settings) -> None:
    """The unpartitioned asset the daily ones read: the site's meters."""
    result = dg.materialize(
        [a for a in ASSETS if METER_REGISTRY in a.keys],
        resources=resources_for(settings),
        instance=dg.DagsterInstance.ephemeral(),
        run_config=QUIET,
        raise_on_error=True,
    )
    assert result.success


def backfill_in_process(
    settings: Settings, first: date, last: date, names: list[str] | None = None
) -> None:
    """The daily assets (all, or those named) and their checks over ``first..last`` in one
    in-process run."""
    assets, checks = daily_selection(names)
    result = dg.materialize(
        [*assets, *checks],
        resources=resources_for(settings),
        instance=dg.DagsterInstance.ephemeral(),
        tags=range_tags(first, last),
        run_config=QUIET,
        raise_on_error=True,
    )
    assert result.success


def dagster_env(settings: Settings, dagster_home: Path) -> dict[str, str]:
    """Environment for the Dagster CLI: the code location's resources read these."""
    return (
        os.environ
        | as_environ(settings)
        | {
            "DAGSTER_HOME": str(dagster_home),
            "PYTHONPATH": str(ROOT_DIR),
        }
    )


def backfill_multiprocess(
    settings: Settings, first: date, last: date, workdir: Path, names: list[str] | None = None
) -> str:
    """The same backfill as one run of the code location with the multiprocess executor,
    through the Dagster CLI (run from ``workdir``, so no ``.env`` of the checkout applies)."""
    home = workdir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("")
    assets, _ = daily_selection(names)
    keys = ",".join(k.to_user_string() for a in assets for k in a.keys)
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("dagster")),
            "asset",
            "materialize",
            "-m",
            "assets_defs.definitions",
            "--select",
            keys,
            "--partition-range",
            f"{first}...{last}",
            "--config-json",
            json.dumps({"execution": {"config": MULTIPROCESS}, **QUIET}),
        ],
        cwd=workdir,
        env=dagster_env(settings, home),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


def comparable(dataset: str, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` without its run stamps, in a fixed row order, to compare two runs' files."""
    frame = frame.drop(RUN_STAMPS.get(dataset, []), strict=False)
    return frame.sort(frame.columns)


def lake_contents(lake_root: str) -> dict[str, pl.DataFrame]:
    """Every partition file of the lake by its path under the root, run stamps dropped."""
    root = Path(lake_root)
    out = {}
    for f in sorted(root.rglob("*.parquet")):
        rel = f.relative_to(root)
        frame = pl.read_parquet(f)
        out[str(rel)] = comparable(rel.parts[0], frame)
    return out
