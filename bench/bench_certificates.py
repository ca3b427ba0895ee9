"""Benchmark: the certificate ledger for N sites x D days of hourly PV and consumption.

Synthetic, seeded data: per site one PV device (50-500 kW) with a bell-shaped daylight
profile (solar elevation at 51 deg N) times random cloudiness, and a consumption profile
(base load plus a weekday working-hours load); zone DE_LU; each site's account is its
site_id. Times, each phase on its own:

1. register the devices and record the metered consumption;
2. mint: ``ledger.issue`` for every device-hour;
3. cancel: ``ledger.cancel_for_consumption`` with demand = min(production, consumption)
   per site-hour;
4. reconcile: ``matching.certificates_by_site_hour`` + ``hourly_matching`` +
   ``matching_scores``.

Minting and cancelling run per calendar month by default, each as of the month's end, as
the ``go_ledger`` asset settles; ``--batch all`` makes one call each. Then checks, timed
apart from the target: ``audit.invariant_violations`` is empty and the hourly CFE score
is at most the annual match. ``--sql-timings`` also times every SQL statement (and
commit) the ledger runs, through a wrapping connection, and prints the slowest.
Defaults: 100 sites x 365 days = 876,000 site-hours, ledger in memory.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from pipelines.certificates import audit, ledger, matching
from pipelines.certificates.schema import connect_ledger

ZONE = "DE_LU"
START = datetime(2025, 1, 1, tzinfo=UTC)
TARGET_S = 5.0  # the issue's target for the whole run
REGISTRY_TPS = 150.0  # a public registry's asserted transactions per second
LATITUDE_DEG = 51.0
LONGITUDE_DEG = 10.0


def synthetic_sites(n_sites: int, n_days: int, seed: int = 11) -> dict[str, pl.DataFrame]:
    """Devices, hourly production and consumption of ``n_sites`` sites [kWh per hour].

    Returns
    -------
    dict
        ``devices`` (ledger.register_devices columns) and ``hourly`` (site_id,
        device_id, hour_utc, production_kwh, consumption_kwh), site-major.
    """
    rng = np.random.default_rng(seed)
    n_hours = n_days * 24
    hours = pl.datetime_range(
        START, START + timedelta(hours=n_hours - 1), "1h", time_zone="UTC", eager=True
    )
    hour_idx = np.arange(n_hours)
    day_idx = hour_idx // 24

    # solar elevation at the middle of each hour
    doy = (START.timetuple().tm_yday - 1 + hour_idx / 24.0) % 365.0
    decl = np.radians(23.44) * np.sin(2 * np.pi * (284 + doy) / 365.0)
    solar_time = (hour_idx % 24) + 0.5 + LONGITUDE_DEG / 15.0
    hour_angle = np.radians(15.0 * (solar_time - 12.0))
    lat = np.radians(LATITUDE_DEG)
    sin_elev = np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.cos(hour_angle)
    clear_sky = np.clip(sin_elev, 0.0, None) ** 1.2  # (hours,)

    # cloudiness: weather shared by all sites that day, a site's own day, hourly flicker
    weather = rng.beta(2.5, 1.5, n_days)
    site_day = rng.beta(2.5, 1.5, (n_sites, n_days))
    clearness = np.clip(0.6 * weather[None, :] + 0.4 * site_day, 0.05, 1.0)
    flicker = rng.uniform(0.8, 1.0, (n_sites, n_hours))
    capacity_kw = rng.uniform(50.0, 500.0, n_sites)
    production = capacity_kw[:, None] * 0.9 * clear_sky[None, :] * clearness[:, day_idx] * flicker

    # consumption: base load plus a working-hours load (weekdays 07-18 CET = 06-17 UTC)
    weekday = (START.weekday() + day_idx) % 7 < 5
    utc_hour = hour_idx % 24
    working = weekday & (utc_hour >= 6) & (utc_hour < 17)
    base_kw = capacity_kw * rng.uniform(0.1, 0.4, n_sites)
    work_kw = capacity_kw * rng.uniform(0.3, 1.0, n_sites)
    base = base_kw[:, None] * rng.uniform(0.85, 1.15, (n_sites, n_hours))
    work = work_kw[:, None] * working[None, :] * rng.uniform(0.8, 1.1, (n_sites, n_hours))
    consumption = base + work

    site_ids = [f"S{i:04d}" for i in range(n_sites)]
    devices = pl.DataFrame(
        {
            "device_id": [f"PV-{s}" for s in site_ids],
            "site_id": site_ids,
            "zone": ZONE,
            "technology": "solar_pv",
            "energy_source": "solar",
            "capacity_w": (capacity_kw * 1000).astype(np.int64),
            "account_id": site_ids,
        }
    )
    hourly = pl.DataFrame(
        {
            "site_id": pl.Series(site_ids).repeat_by(n_hours).explode(),
            "device_id": devices["device_id"].repeat_by(n_hours).explode(),
            "hour_utc": pl.concat([hours] * n_sites),
            "production_kwh": production.ravel(),
            "consumption_kwh": consumption.ravel(),
        }
    )
    return {"devices": devices, "hourly": hourly}


def month_batches(
    frame: pl.DataFrame, column: str, mode: str
) -> list[tuple[datetime, pl.DataFrame]]:
    """(operation time, rows) per batch: each month issued at the start of the next."""
    if mode == "all":
        return [(frame[column].max() + timedelta(hours=1), frame)]
    keyed = frame.with_columns(pl.col(column).dt.truncate("1mo").alias("_month"))
    out = []
    for part in keyed.partition_by("_month", maintain_order=True):
        month = part["_month"][0]
        next_month = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
        out.append((next_month, part.drop("_month")))
    return out


class TimedConnection:
    """Wraps a DuckDB connection and adds up the time of each SQL statement run on it.

    ``execute`` is timed as called; ``sql`` returns a relation whose ``pl()`` is timed
    too, under the same statement. Everything else is passed through.
    """

    # frames skipped to name the ledger function that issued a statement
    _HELPERS = {"_run", "_fail_if", "_record_events", "execute", "sql", "pl", "timed"}
    _HELPERS |= {"__exit__", "__enter__", "transaction"}

    def __init__(self, con):
        self._con = con
        self.stats: dict[tuple[str, str], list] = defaultdict(lambda: [0, 0.0])

    def __getattr__(self, name):
        attr = getattr(self._con, name)
        if name not in ("register", "begin", "commit", "rollback"):
            return attr

        def timed(*args, **kwargs):
            key = self._key(f"<{name}{' ' + args[0] if name == 'register' else ''}>")
            start = time.perf_counter()
            out = attr(*args, **kwargs)
            self._add(key, time.perf_counter() - start)
            return out

        return timed

    def _key(self, query: str) -> tuple[str, str]:
        frame = sys._getframe(2)
        while frame is not None and frame.f_code.co_name in self._HELPERS:
            frame = frame.f_back
        caller = frame.f_code.co_name if frame is not None else "?"
        return caller, " ".join(query.split())

    def _add(self, key, seconds: float, calls: int = 1) -> None:
        entry = self.stats[key]
        entry[0] += calls
        entry[1] += seconds

    def execute(self, query, parameters=None):
        key = self._key(query)
        start = time.perf_counter()
        out = self._con.execute(query, parameters)
        self._add(key, time.perf_counter() - start)
        return out

    def sql(self, query, params=None):
        key = self._key(query)
        start = time.perf_counter()
        rel = self._con.sql(query, params=params)
        self._add(key, time.perf_counter() - start)
        return _TimedRelation(rel, self, key)

    def report(self, top: int) -> None:
        total = sum(s for _, s in self.stats.values())
        print(f"\nSQL statements by time (top {top} of {len(self.stats)}; all: {total:.3f} s)")
        print(f"{'seconds':>8} {'share':>6} {'calls':>6}  caller: statement")
        ranked = sorted(self.stats.items(), key=lambda kv: kv[1][1], reverse=True)
        for (caller, query), (calls, seconds) in ranked[:top]:
            text = query if len(query) <= 150 else query[:147] + "..."
            print(f"{seconds:8.3f} {seconds / total:6.1%} {calls:6d}  {caller}: {text}")


class _TimedRelation:
    def __init__(self, rel, owner: TimedConnection, key):
        self._rel, self._owner, self._key = rel, owner, key

    def __getattr__(self, name):
        return getattr(self._rel, name)

    def pl(self, *args, **kwargs):
        start = time.perf_counter()
        out = self._rel.pl(*args, **kwargs)
        self._owner._add(self._key, time.perf_counter() - start, calls=0)
        return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--batch",
        choices=["month", "all"],
        default="all",
        help="issue and cancel per calendar month (as registries do) or in one call each",
    )
    parser.add_argument("--ledger", type=Path, help="ledger file (default: in memory)")
    parser.add_argument(
        "--sql-timings",
        type=int,
        nargs="?",
        const=15,
        metavar="TOP",
        help="time every SQL statement the ledger runs and print the TOP slowest",
    )
    args = parser.parse_args(argv)

    if args.ledger is not None and args.ledger.exists():
        parser.error(f"{args.ledger} exists; the benchmark needs a new ledger")

    start = time.perf_counter()
    data = synthetic_sites(args.sites, args.days, args.seed)
    devices, hourly = data["devices"], data["hourly"]
    consumption = hourly.select(
        "site_id",
        "hour_utc",
        pl.lit(ZONE).alias("zone"),
        (pl.col("consumption_kwh") * 1000).alias("metered_wh"),
    )
    production = hourly.select(
        "device_id",
        pl.col("hour_utc").alias("production_hour_utc"),
        (pl.col("production_kwh") * 1000).alias("metered_wh"),
    )
    demand = hourly.select(
        pl.col("site_id").alias("account_id"),
        "site_id",
        "hour_utc",
        pl.lit(ZONE).alias("zone"),
        (pl.min_horizontal("production_kwh", "consumption_kwh") * 1000).alias("wh"),
    )
    self_consumed = pl.min_horizontal("production_kwh", "consumption_kwh")
    energy = hourly.select(
        "site_id",
        "hour_utc",
        (pl.col("consumption_kwh") - self_consumed).alias("grid_import_kwh"),
        self_consumed.alias("pv_self_consumed_kwh"),
        pl.col("production_kwh").alias("pv_production_kwh"),
        pl.lit("complete").alias("quality"),
    )
    issue_batches = month_batches(production, "production_hour_utc", args.batch)
    cancel_batches = month_batches(demand, "hour_utc", args.batch)
    t_gen = time.perf_counter() - start
    print(
        f"sites: {args.sites}, days: {args.days}, site-hours: {hourly.height:,} "
        f"(generated in {t_gen:.2f} s); batches: {args.batch} ({len(issue_batches)} issue, "
        f"{len(cancel_batches)} cancel); ledger: {args.ledger or 'in memory'}"
    )
    print(
        f"PV production {hourly['production_kwh'].sum() / 1000:,.0f} MWh, consumption "
        f"{hourly['consumption_kwh'].sum() / 1000:,.0f} MWh, "
        f"PV capacity {devices['capacity_w'].sum() / 1e6:,.1f} MW "
        f"({hourly['production_kwh'].sum() / (devices['capacity_w'].sum() / 1000):,.0f} kWh/kWp); "
        f"DuckDB {duckdb.__version__}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} (timings are wall clock)"
    )

    raw = connect_ledger(args.ledger)
    con = TimedConnection(raw) if args.sql_timings else raw
    gc.collect()
    gc.disable()  # no collector pauses inside the timed phases
    try:
        phases = []

        start = time.perf_counter()
        ledger.register_devices(con, devices)
        ledger.record_consumption(con, consumption)
        phases.append(
            (
                "1 register devices + record consumption",
                time.perf_counter() - start,
                devices.height + consumption.height,
                "rows",
            )
        )

        start = time.perf_counter()
        bundles = sum(ledger.issue(con, batch, now) for now, batch in issue_batches)
        phases.append(("2 mint (ledger.issue)", time.perf_counter() - start, bundles, "bundles"))

        start = time.perf_counter()
        cancelled_wh = sum(
            ledger.cancel_for_consumption(con, batch, now) for now, batch in cancel_batches
        )
        t_cancel = time.perf_counter() - start
        events = dict(
            raw.execute("SELECT event_type, count(*) FROM go_ledger_events GROUP BY ALL").fetchall()
        )
        cancels = events.get("cancel", 0)
        phases.append(("3 cancel (cancel_for_consumption)", t_cancel, cancels, "cancellations"))

        start = time.perf_counter()
        certs = matching.certificates_by_site_hour(con)
        matched = matching.hourly_matching(energy, certs)
        scores = matching.matching_scores(matched)
        phases.append(
            ("4 hourly reconciliation", time.perf_counter() - start, matched.height, "rows")
        )
    finally:
        gc.enable()

    start = time.perf_counter()
    violations = audit.invariant_violations(raw)
    t_audit = time.perf_counter() - start

    total = sum(p[1] for p in phases)
    print(
        f"\n{'phase':<40}{'seconds':>9}{'operations':>13}  {'unit':<14}{'per s':>12}"
        f"{'/ 150 tx/s':>12}"
    )
    for name, seconds, ops, unit in phases:
        rate = ops / seconds
        print(
            f"{name:<40}{seconds:>9.3f}{ops:>13,}  {unit:<14}{rate:>12,.0f}"
            f"{rate / REGISTRY_TPS:>11,.1f}x"
        )
    ledger_ops = bundles + cancels
    ledger_rate = ledger_ops / total
    print(f"{'total (phases 1-4)':<40}{total:>9.3f}")
    print(
        f"\ncancelled {cancelled_wh / 1e6:,.1f} MWh in {cancels:,} cancellations "
        f"({events.get('split', 0):,} split events for partial cancels); "
        f"demand {demand['wh'].floor().sum() / 1e6:,.1f} MWh"
    )
    print(
        f"whole run: {total:.3f} s, target < {TARGET_S:.0f} s: "
        f"{'PASS' if total < TARGET_S else 'FAIL'} ({total / TARGET_S:.2f} of the budget)"
    )
    print(
        f"ledger operations (bundles issued + cancellations) over the whole run: "
        f"{ledger_ops:,} in {total:.3f} s = {ledger_rate:,.0f}/s, "
        f"{ledger_rate / REGISTRY_TPS:,.1f}x a public registry's asserted {REGISTRY_TPS:.0f} tx/s "
        f"(ours are rows in set-based batches, not one transaction each)"
    )
    print(
        f"\naudit.invariant_violations: {len(violations)} in {t_audit:.3f} s (not in the target)"
        + "".join(f"\n  {v}" for v in violations[:10])
    )
    hourly_cfe, annual = scores["hourly_cfe_score"], scores["annual_match_score"]
    print(
        f"hourly CFE score {hourly_cfe:.4f} <= annual match {annual:.4f}: "
        f"{'yes' if hourly_cfe <= annual + 1e-12 else 'NO'} "
        f"(consumption {scores['consumption_kwh'] / 1000:,.0f} MWh, "
        f"matched {scores['matched_kwh'] / 1000:,.0f} MWh)"
    )
    if args.sql_timings:
        con.report(args.sql_timings)
    raw.close()
    if violations or hourly_cfe > annual + 1e-12:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
