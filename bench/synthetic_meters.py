"""A large synthetic meter export for benchmarks: N meters x D days of 15-minute readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl


def write_export(path: Path, n_meters: int, n_days: int, seed: int = 7) -> Path:
    """Write a typed Parquet export (meter_id, ts_utc, energy_wh) of n_meters x n_days x 96 rows."""
    rng = np.random.default_rng(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    ts = pl.datetime_range(
        start, start + timedelta(days=n_days) - timedelta(minutes=15), "15m", eager=True
    )
    per_meter = len(ts)
    base = rng.uniform(50, 5000, n_meters)
    energy = (np.repeat(base, per_meter) * rng.uniform(0.5, 1.5, n_meters * per_meter)).round(1)
    frame = pl.DataFrame(
        {
            "meter_id": pl.Series([f"m{i:05d}" for i in range(n_meters)])
            .repeat_by(per_meter)
            .explode(),
            "ts_utc": pl.concat([ts] * n_meters),
            "energy_wh": energy,
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path, compression="zstd", row_group_size=1_000_000)
    return path


def registry(n_meters: int, site_id: str = "bench-site") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "site_id": site_id,
            "meter_id": [f"m{i:05d}" for i in range(n_meters)],
            "kind": "load",
            "description": "benchmark meter",
            "max_power_w": 100_000.0,
        }
    )
