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
from assets_defs.partitions import (
    daily_partitions,
    range_tags,
    register_sites,
    site_daily_partitions,
    site_day_key,
)
from novaenergy.demo import QUIET, instance_with_sites, resources_for
from novaenergy.settings import Settings, as_environ

ROOT_DIR = Path(__file__).resolve().parents[1]
# The zone's and the sites' daily assets, in dependency order (the catalog's).
DAILY = [a for a in ASSETS if a.partitions_def in (daily_partitions, site_daily_partitions)]
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


def daily_selection(names: list[str] | None = None) -> list[tuple[list, list]]:
    """The daily assets named (all when None) as runs in dependency order, each run's
    assets sharing one partitioning (the zone's days, or a site's days), with the checks
    that only touch them: (assets, checks) per run."""
    runs: list[list] = []
    for asset in DAILY:
        if names is not None and not any(k.path[-1] in names for k in asset.keys):
            continue
        if runs and runs[-1][0].partitions_def == asset.partitions_def:
            runs[-1].append(asset)
        else:
            runs.append([asset])
    out = []
    for assets in runs:
        keys = {k for a in assets for k in a.keys}
        out.append((assets, [c for c in CHECKS if all(k.asset_key in keys for k in c.check_keys)]))
    return out


def _site_of(assets: list, settings: Settings) -> str | None:
    return settings.site_id if assets[0].partitions_def == site_daily_partitions else None


def weeks(first: date, n: int) -> list[tuple[date, date]]:
    """``n`` consecutive weeks from ``first``: (first day, last day) each."""
    return [(first + timedelta(days=7 * i), first + timedelta(days=7 * i + 6)) for i in range(n)]


def register_meters(settings: Settings) -> None:
    """The unpartitioned asset the daily ones read: the site's meters."""
    result = dg.materialize(
        [a for a in ASSETS if METER_REGISTRY in a.keys],
        resources=resources_for(settings),
        instance=instance_with_sites([settings.site_id]),
        partition_key=settings.site_id,
        run_config=QUIET,
        raise_on_error=True,
    )
    assert result.success


def backfill_in_process(
    settings: Settings, first: date, last: date, names: list[str] | None = None
) -> None:
    """The daily assets (all, or those named) of the site and its zone and their checks
    over ``first..last``, in process: one run per partitioning, in dependency order."""
    for assets, checks in daily_selection(names):
        result = dg.materialize(
            [*assets, *checks],
            resources=resources_for(settings),
            instance=instance_with_sites([settings.site_id]),
            tags=range_tags(first, last, _site_of(assets, settings)),
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
    """The same backfill as runs of the code location with the multiprocess executor (one
    per partitioning), through the Dagster CLI (run from ``workdir``, so no ``.env`` of the
    checkout applies); their output."""
    home = workdir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        register_sites(instance, [settings.site_id])
    output = ""
    for assets, _ in daily_selection(names):
        site_id = _site_of(assets, settings)
        span = (
            (first, last)
            if site_id is None
            else (
                site_day_key(first, site_id),
                site_day_key(last, site_id),
            )
        )
        output += _materialize_cli(settings, home, workdir, assets, span)
    return output


def _materialize_cli(settings: Settings, home: Path, workdir: Path, assets: list, span) -> str:
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
            f"{span[0]}...{span[1]}",
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
