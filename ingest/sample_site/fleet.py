"""Electric delivery trucks: route schedules and charge-on-arrival charging."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl

from ingest.sample_site.config import SiteConfig

UTC_TS = pl.Datetime("us", "UTC")


def vehicles(cfg: SiteConfig) -> pl.DataFrame:
    """The fleet: one charger per truck; two trucks are leased and may not do V2G."""
    rows = []
    for i in range(cfg.n_trucks):
        leased = i >= cfg.n_trucks - 2
        rows.append(
            {
                "site_id": cfg.site_id,
                "vehicle_id": f"truck-{i + 1}",
                "capacity_kwh": cfg.truck_capacity_kwh,
                "max_charge_kw": cfg.charger_power_kw,
                "max_discharge_kw": 0.0 if leased else cfg.charger_power_kw,
                "v2g_allowed": not leased,
                "owner_account": "leasing-partner-1" if leased else "warehouse-b-fleet",
                "charger_id": f"charger-{i + 1}",
            }
        )
    return pl.DataFrame(rows)


def trips(cal: pl.DataFrame, cfg: SiteConfig, rng: np.random.Generator) -> pl.DataFrame:
    """Daily routes on working days (and a few Saturdays), in local time.

    Departure 05:30–08:00, return 13:30–17:30 local; energy 35–95 kWh a route. Every
    local day the calendar touches is planned, and only trips that depart inside the
    calendar's UTC period are kept.
    """
    days = cal.select(pl.col("ts_local").dt.date().alias("day"), "weekday", "is_workday").unique(
        "day", keep="first", maintain_order=True
    )
    period_start, period_end = cal["ts_utc"].min(), cal["ts_utc"].max() + timedelta(minutes=15)
    rows = []
    for vehicle in range(cfg.n_trucks):
        for day, weekday, workday in days.iter_rows():
            if not (workday or (weekday == 6 and rng.random() < 0.2)):
                continue
            depart_h = rng.uniform(5.5, 8.0)
            return_h = rng.uniform(13.5, 17.5)
            rows.append(
                {
                    "site_id": cfg.site_id,
                    "vehicle_id": f"truck-{vehicle + 1}",
                    "day": day,
                    "depart_h": round(depart_h * 4) / 4,
                    "arrive_h": round(return_h * 4) / 4,
                    "energy_kwh": round(float(rng.uniform(35, 95)), 1),
                }
            )
    frame = pl.DataFrame(rows)

    def local(col: str) -> pl.Expr:
        naive = pl.col("day").cast(pl.Datetime("us")) + pl.duration(
            minutes=(pl.col(col) * 60).cast(pl.Int64)
        )
        return naive.dt.replace_time_zone(
            cfg.timezone, ambiguous="earliest", non_existent="null"
        ).dt.convert_time_zone("UTC")

    return (
        frame.with_columns(
            local("depart_h").alias("depart_utc"), local("arrive_h").alias("arrive_utc")
        )
        .drop_nulls(["depart_utc", "arrive_utc"])
        .filter(pl.col("depart_utc").is_between(period_start, period_end, closed="left"))
        .select(
            "site_id",
            "vehicle_id",
            pl.col("depart_utc").cast(UTC_TS),
            pl.col("arrive_utc").cast(UTC_TS),
            "energy_kwh",
        )
        .sort("vehicle_id", "depart_utc")
    )


def charge_on_arrival_w(
    cal: pl.DataFrame, trips_: pl.DataFrame, fleet: pl.DataFrame
) -> dict[str, np.ndarray]:
    """Charger power per 15-minute step [W]: full power from arrival until the route's
    energy is restored (the "charge on arrival" baseline; no V2G)."""
    ts = cal["ts_utc"]
    t0 = ts[0]
    n = len(ts)
    out = {cid: np.zeros(n) for cid in fleet["charger_id"]}
    charger = dict(zip(fleet["vehicle_id"], fleet["charger_id"], strict=True))
    power = dict(zip(fleet["vehicle_id"], fleet["max_charge_kw"], strict=True))
    for vehicle, arrive, energy in trips_.select(
        "vehicle_id", "arrive_utc", "energy_kwh"
    ).iter_rows():
        start = int((arrive - t0) / timedelta(minutes=15))
        p_w = power[vehicle] * 1000
        remaining_wh = energy * 1000
        i = max(start, 0)
        while remaining_wh > 1e-9 and i < n:
            step_wh = min(p_w * 0.25, remaining_wh)
            if start >= 0:
                out[charger[vehicle]][i] += step_wh / 0.25
            remaining_wh -= step_wh
            i += 1
    return out
