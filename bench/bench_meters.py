"""Benchmark: meter ingest and hourly rollup on N meters x D days of 15-minute readings.

Measures, in the same run and on the same Parquet file:
- our path: read the export, validate every row, land it in the lake (one partition
  per UTC day) and roll it up to hours;
- our compute only: the same without writing the lake;
- a bare Polars group_by hourly sum (the baseline);
- the pandas equivalent.

Prints rows/s and the ratios. Defaults: 1,000 meters x 365 days = 35,040,000 rows.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import polars as pl

from bench.synthetic_meters import registry, write_export
from ingest.meter_files import read_meter_export
from ingest.meter_landing import land_meter_rows
from pipelines.meters import hourly_energy, validate_meter_rows


def timed(fn):
    gc.collect()
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def bare_polars(path: Path) -> pl.DataFrame:
    return (
        pl.scan_parquet(path)
        .group_by("meter_id", pl.col("ts_utc").dt.truncate("1h").alias("hour_utc"))
        .agg(pl.col("energy_wh").sum())
        .collect()
    )


def bare_pandas(path: Path) -> pd.DataFrame:
    df = pd.read_parquet(path)
    return df.groupby(["meter_id", df["ts_utc"].dt.floor("h")])["energy_wh"].sum()


def our_compute(path: Path, reg: pl.DataFrame) -> pl.DataFrame:
    batch = validate_meter_rows(read_meter_export(path), reg, ingested_at_utc=datetime.now(UTC))
    return hourly_energy(batch.accepted).collect()


def our_full_path(path: Path, reg: pl.DataFrame, lake_root: Path) -> pl.DataFrame:
    raw = read_meter_export(path)
    land_meter_rows(raw, path.name, lake_root, reg, "Europe/Berlin", datetime.now(UTC))
    return hourly_energy(
        pl.scan_parquet(str(lake_root / "meter_readings" / "**" / "*.parquet"))
    ).collect()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--workdir", default="bench/out")
    args = parser.parse_args(argv)

    path = Path(args.workdir) / f"meters_{args.meters}x{args.days}.parquet"
    if not path.exists():
        t, _ = timed(lambda: write_export(path, args.meters, args.days))
        print(f"generated {path} in {t:.1f} s")
    reg = registry(args.meters)
    rows = pl.scan_parquet(path).select(pl.len()).collect().item()
    print(f"rows: {rows:,}")

    t_polars, base = timed(lambda: bare_polars(path))
    lake_root = Path(tempfile.mkdtemp(prefix="bench-lake-"))
    try:
        t_full, ours = timed(lambda: our_full_path(path, reg, lake_root))
    finally:
        shutil.rmtree(lake_root, ignore_errors=True)
    t_compute, ours_compute = timed(lambda: our_compute(path, reg))
    t_pandas, pandas_out = timed(lambda: bare_pandas(path))

    assert ours.height == base.height == ours_compute.height == len(pandas_out), (
        "paths disagree on hour count"
    )
    assert abs(ours["energy_wh"].sum() - base["energy_wh"].sum()) < 1e-6 * base["energy_wh"].sum()

    print(f"{'path':<44}{'seconds':>9}{'rows/s':>16}")
    for name, t in [
        ("bare polars group_by (baseline)", t_polars),
        ("ours: read + validate + land lake + rollup", t_full),
        ("ours: read + validate + rollup (no lake write)", t_compute),
        ("pandas read + groupby", t_pandas),
    ]:
        print(f"{name:<44}{t:>9.2f}{rows / t:>16,.0f}")
    print(f"ratio ours(full) / bare polars:    {t_full / t_polars:5.2f}  (target <= 1.5)")
    print(f"ratio ours(compute) / bare polars: {t_compute / t_polars:5.2f}")
    print(f"speed-up ours(full) vs pandas:     {t_pandas / t_full:5.2f}x (target >= 5)")
    print(f"speed-up ours(compute) vs pandas:  {t_pandas / t_compute:5.2f}x")


if __name__ == "__main__":
    main()
