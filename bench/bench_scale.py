"""Benchmark: a portfolio of 50 sites × 30 days through the daily assets on this machine.

Sites are sample sites with their own ids and seeds in one bidding zone, written to one
lake. The phases follow how the assets scale:

- **zone**: the grid assets (mix, prices, forecasts, carbon intensity) run once per zone;
- **sites**: each site's chain (raw files, meter readings, telemetry, hourly energy,
  vampire loads) runs per site, in a pool of worker processes, one site per task;
  the same chain for a few sites on one worker first is the baseline of the speed-up;
- **ledger**: the certificate ledger is one DuckDB file per zone with one writer, so the
  ledger and the hourly matching run site after site;
- **warehouse**: the DuckDB views over every file, and a portfolio query through them.

Prints the measured times and throughputs, then the projection to 5,000 sites that the
README's "Running at scale" section explains. Options: ``--sites``, ``--days``,
``--workers``, ``--baseline-sites``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

from bench.backfill import backfill_in_process, register_meters
from novaenergy.settings import Settings, load_settings, relocated
from pipelines import lake, warehouse

FIRST = date(2025, 3, 3)
ZONE_ASSETS = [
    "grid_generation_mix",
    "grid_crossborder_flows",
    "day_ahead_prices",
    "grid_carbon_intensity_hourly",
    "grid_wind_solar_forecast",
    "grid_load",
    "grid_carbon_intensity_forecast",
]
SITE_ASSETS = [
    "sample_site_raw",
    "meter_readings",
    "device_telemetry",
    "site_energy_hourly",
    "vampire_load_events",
    "vampire_alerts",
]
LEDGER_ASSETS = ["go_ledger", "go_hourly_matching"]
TARGET_SITES = 5_000


def site_settings(base: Settings, index: int, first: date, last: date) -> Settings:
    """Site ``index`` of the portfolio: its own id and seed, the sample period = the window."""
    return replace(
        base,
        site_id=f"site-{index:04d}",
        sample_seed=1000 + index,
        sample_start=first,
        sample_end=last + timedelta(days=1),
    )


def run_site(task: tuple[Settings, date, date]) -> float:
    """One site's chain over the window, in process [s]."""
    settings, first, last = task
    t0 = time.perf_counter()
    register_meters(settings)
    backfill_in_process(settings, first, last, SITE_ASSETS)
    return time.perf_counter() - t0


def timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def lake_figures(root: str) -> tuple[int, int, int]:
    """(partition files, rows, bytes) in the lake."""
    files = sorted(Path(root).rglob(lake.PART_FILE))
    import pyarrow.parquet as pq

    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    return len(files), rows, sum(f.stat().st_size for f in files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=50)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline-sites", type=int, default=4)
    args = parser.parse_args()
    first = FIRST
    last = first + timedelta(days=args.days - 1)
    site_days = args.sites * args.days

    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        root = Path(tmp)
        base = relocated(load_settings(environ={}, dotenv=None), root)
        sites = [site_settings(base, i, first, last) for i in range(1, args.sites + 1)]
        print(
            f"scale: {args.sites} sites x {args.days} days ({first}..{last}), one zone, "
            f"{args.workers} workers, {multiprocessing.cpu_count()} cores"
        )

        # the zone's grid files come from the first site's generator
        t_zone = timed(run_zone, sites[0], first, last)
        print(f"zone    grid assets, once per zone: {t_zone:7.1f} s")

        baseline = [
            run_site((s, first, last)) for s in sites[: args.baseline_sites]
        ]  # one worker, in this process (its imports are warm)
        per_site_serial = sum(baseline) / len(baseline)
        print(
            f"sites   baseline, 1 worker: {per_site_serial:6.1f} s per site "
            f"({args.days / per_site_serial:5.2f} site-days/s)"
        )

        rest = sites[args.baseline_sites :]
        ctx = multiprocessing.get_context("spawn")
        t0 = time.perf_counter()
        with ProcessPoolExecutor(max_workers=args.workers, mp_context=ctx) as pool:
            task_s = list(pool.map(run_site, [(s, first, last) for s in rest]))
        t_sites = time.perf_counter() - t0
        per_site_pool = t_sites / len(rest)
        print(
            f"sites   {len(rest)} sites on {args.workers} workers: {t_sites:7.1f} s wall, "
            f"{per_site_pool:5.2f} s per site, {len(rest) * args.days / t_sites:5.2f} site-days/s; "
            f"speed-up vs 1 worker {per_site_serial / per_site_pool:4.2f}x "
            f"(a task took {min(task_s):.1f}..{max(task_s):.1f} s)"
        )

        ledger_s = [timed(run_ledger, s, first, last) for s in sites]
        per_site_ledger = sum(ledger_s) / len(ledger_s)
        print(
            f"ledger  {args.sites} sites one after another (one writer per zone): "
            f"{sum(ledger_s):7.1f} s, {per_site_ledger:5.2f} s per site; first site "
            f"{ledger_s[0]:.2f} s, last {ledger_s[-1]:.2f} s"
        )

        files, rows, size = lake_figures(base.lake_root)
        t_views = timed(warehouse.refresh_views, base.lake_root, base.warehouse_path)
        sql = (
            "SELECT site_id, sum(consumption_kwh) AS kwh FROM site_energy_hourly "
            "GROUP BY site_id ORDER BY site_id"
        )
        t0 = time.perf_counter()
        per_site = warehouse.query(base.warehouse_path, sql)
        t_query = time.perf_counter() - t0
        assert per_site.height == args.sites, per_site
        print(
            f"lake    {files} partition files, {rows:,} rows, {size / 1e6:.1f} MB; views "
            f"{t_views:.2f} s; portfolio query over {args.sites} sites {t_query:.2f} s"
        )

        total = t_zone + per_site_serial * len(baseline) + t_sites + sum(ledger_s)
        print(
            f"total   {total:7.1f} s for {site_days} site-days: "
            f"{site_days / total:5.2f} site-days/s, {rows / total:,.0f} rows/s"
        )
        project(args, per_site_serial, per_site_ledger, t_zone, files, t_query)


def run_zone(settings: Settings, first: date, last: date) -> None:
    backfill_in_process(settings, first, last, ["sample_site_raw"])
    backfill_in_process(settings, first, last, ZONE_ASSETS)


def run_ledger(settings: Settings, first: date, last: date) -> None:
    backfill_in_process(settings, first, last, LEDGER_ASSETS)


def project(args, per_site_s: float, ledger_s: float, zone_s: float, files: int, query_s):
    """The same work for 5,000 sites, from the per-site figures just measured."""
    scale = TARGET_SITES / args.sites
    core_h = TARGET_SITES * per_site_s / 3600
    print(f"projection for {TARGET_SITES:,} sites x {args.days} days (from the figures above):")
    print(
        f"  site chain  linear: {core_h:6.1f} core-hours; {core_h / args.workers:6.1f} h on "
        f"this machine, {core_h * 60 / 100:6.1f} min on 100 cores"
    )
    print(f"  zone assets constant per zone: {zone_s:.0f} s, whatever the number of sites")
    print(
        f"  ledger      serial per zone: {TARGET_SITES * ledger_s / 3600:6.1f} h if all sites "
        f"share one zone (the bottleneck; split by zone or shard the ledger by site)"
    )
    print(
        f"  lake        {files * scale:,.0f} partition files for this window; a portfolio "
        f"query lists them all (here {query_s:.2f} s for {files} files)"
    )


if __name__ == "__main__":
    main()
