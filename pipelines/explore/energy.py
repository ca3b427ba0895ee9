"""Site energy: daily totals, KPIs and flows between PV, grid, battery, EVs and loads."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from pipelines import lake
from pipelines.forecasting import local_day_bounds

# Where energy enters the site bus and where it leaves it (site_energy_hourly column ->
# label). Every complete hour balances: Σ sources = Σ sinks (see pipelines.site_energy).
SOURCES = {
    "pv_production_kwh": "PV",
    "grid_import_kwh": "Grid import",
    "battery_discharge_kwh": "Battery discharge",
    "ev_discharge_kwh": "EV discharge (V2G)",
}
SINKS = {
    "consumption_kwh": "Loads",
    "ev_charge_kwh": "EV charging",
    "battery_charge_kwh": "Battery charge",
    "grid_export_kwh": "Export",
}
BUS = "Site bus"
IMBALANCE = "Imbalance"


def local_time(col: str, timezone: str) -> pl.Expr:
    """``col`` (UTC) as naive local wall-clock time of ``timezone``."""
    return pl.col(col).dt.convert_time_zone(timezone).dt.replace_time_zone(None)


def site_energy_hourly(
    lake_root: str | Path, site_id: str, first: date, last: date, timezone: str
) -> pl.DataFrame:
    """Hourly site balance [kWh] of the local days ``first`` to ``last`` (both included).

    Returns
    -------
    pl.DataFrame
        ``site_energy_hourly`` rows plus ``hour_local`` (naive local start of the hour)
        and ``day`` (local date), sorted by hour.
    """
    rows = lake.read_window(
        lake_root, "site_energy_hourly", first - timedelta(days=1), last + timedelta(days=2)
    )
    start, _ = local_day_bounds(first, timezone)
    _, end = local_day_bounds(last, timezone)
    return (
        rows.filter(
            (pl.col("site_id") == site_id)
            & (pl.col("hour_utc") >= start)
            & (pl.col("hour_utc") < end)
        )
        .with_columns(local_time("hour_utc", timezone).alias("hour_local"))
        .with_columns(pl.col("hour_local").dt.date().alias("day"))
        .sort("hour_utc")
    )


def site_energy_daily(
    lake_root: str | Path,
    site_id: str,
    timezone: str = "UTC",
    first: date | None = None,
    last: date | None = None,
) -> pl.DataFrame:
    """Daily totals of the hourly site balance [kWh] per day of ``timezone``.

    Parameters
    ----------
    lake_root : str or Path
        Lake root folder.
    site_id : str
        Site.
    timezone : str
        Days are local days of this zone (UTC days by default).
    first, last : date, optional
        Only these local days (both included); every day in the lake by default.
    """
    if first is not None and last is not None:
        hourly = site_energy_hourly(lake_root, site_id, first, last, timezone).lazy()
    else:
        hourly = (
            lake.scan(lake_root, "site_energy_hourly")
            .filter(pl.col("site_id") == site_id)
            .with_columns(pl.col("hour_utc").dt.convert_time_zone(timezone).dt.date().alias("day"))
        )
    return hourly.group_by("day").agg(pl.col("^.*_kwh$").sum()).sort("day").collect()


def overview_kpis(daily: pl.DataFrame) -> dict[str, float]:
    """Headline figures over the given days: energy used [MWh] and PV share [%].

    Energy used is the loads plus EV charging; the PV share is self-consumed PV over it.
    """
    if daily.is_empty():
        return {"consumption_mwh": 0.0, "pv_production_mwh": 0.0, "pv_share_pct": 0.0}
    consumption = float(daily["consumption_kwh"].sum() + daily["ev_charge_kwh"].sum())
    self_consumed = float(daily["pv_self_consumed_kwh"].sum())
    return {
        "consumption_mwh": consumption / 1000,
        "pv_production_mwh": float(daily["pv_production_kwh"].sum()) / 1000,
        "pv_share_pct": 100 * self_consumed / consumption if consumption else 0.0,
    }


def data_span(lake_root: str | Path, site_id: str, timezone: str) -> tuple[date, date] | None:
    """First and last local day [date] with hourly site energy, or None on an empty lake.

    The lake holds UTC days, so its newest hours spill into the next local day (01:00 and
    02:00 in Berlin); the last day is the newest local day that ends within the data,
    unless the lake holds less than that.
    """
    files = lake.dataset_files(lake_root, "site_energy_hourly")
    if not files:
        return None
    span = (
        lake.scan(lake_root, "site_energy_hourly")
        .filter(pl.col("site_id") == site_id)
        .select(
            pl.col("hour_utc").min().alias("first"),
            pl.col("hour_utc").max().alias("last"),
        )
        .collect()
    )
    first, last = span.row(0)
    if first is None:
        return None
    tz = ZoneInfo(timezone)
    first_day = first.astimezone(tz).date()
    last_complete = (last + timedelta(hours=1)).astimezone(tz).date() - timedelta(days=1)
    return first_day, max(first_day, last_complete)


def grid_peak_kw(
    lake_root: str | Path, site_id: str, day: date, timezone: str
) -> dict[str, object] | None:
    """Peak grid import power of a local day [kW].

    From the grid-import meters' own intervals (15 minutes on the sample site) when the
    lake has them, else from the hourly balance (the hour's mean power).

    Returns
    -------
    dict or None
        peak_kw [kW], at_utc (start of the interval) and interval_s [s]; None without data.
    """
    start, end = local_day_bounds(day, timezone)
    utc_days = (start.date(), end.date() + timedelta(days=1))
    meters = lake.read_partition(lake_root, "meter_registry", site_id).filter(
        pl.col("kind") == "grid_import"
    )
    readings = lake.read_window(lake_root, "meter_readings", *utc_days, [site_id]).filter(
        pl.col("meter_id").is_in(meters["meter_id"].implode())
        & (pl.col("ts_utc") >= start)
        & (pl.col("ts_utc") < end)
    )
    if readings.height:
        # 1 Wh in 1 s is 3.6 kW
        power = (
            readings.with_columns((pl.col("energy_wh") / pl.col("interval_s") * 3.6).alias("kw"))
            .group_by("ts_utc")
            .agg(pl.col("kw").sum(), pl.col("interval_s").max())
        )
    else:
        power = (
            lake.read_window(lake_root, "site_energy_hourly", *utc_days, [site_id])
            .filter((pl.col("hour_utc") >= start) & (pl.col("hour_utc") < end))
            .select(
                pl.col("hour_utc").alias("ts_utc"),
                pl.lit(3600, pl.Int32).alias("interval_s"),
                pl.col("grid_import_kwh").alias("kw"),
            )
        )
    if power.is_empty():
        return None
    top = power.sort(["kw", "ts_utc"], descending=[True, False]).row(0, named=True)
    return {"peak_kw": top["kw"], "at_utc": top["ts_utc"], "interval_s": top["interval_s"]}


def energy_balance(hourly: pl.DataFrame) -> dict[str, float]:
    """Totals of every source and sink [kWh] and what is left over.

    Returns
    -------
    dict
        Each column of :data:`SOURCES` and :data:`SINKS` summed, plus ``in_kwh``,
        ``out_kwh`` and ``imbalance_kwh`` = in − out (zero when the balance closes).
    """
    totals = {c: float(hourly[c].sum()) if hourly.height else 0.0 for c in (*SOURCES, *SINKS)}
    totals["in_kwh"] = sum(totals[c] for c in SOURCES)
    totals["out_kwh"] = sum(totals[c] for c in SINKS)
    totals["imbalance_kwh"] = totals["in_kwh"] - totals["out_kwh"]
    return totals


def sankey_links(balance: dict[str, float], tolerance_kwh: float = 0.01) -> pl.DataFrame:
    """Links of a Sankey diagram: sources → site bus → sinks [kWh].

    Meters do not say which source fed which sink, so every flow passes the site bus.
    A non-zero imbalance (beyond ``tolerance_kwh``) gets its own link, so nothing hides.

    Returns
    -------
    pl.DataFrame
        source, target, kwh; links without energy are left out.
    """
    rows = [(label, BUS, balance[c]) for c, label in SOURCES.items()]
    rows += [(BUS, label, balance[c]) for c, label in SINKS.items()]
    gap = balance["imbalance_kwh"]
    if gap > tolerance_kwh:
        rows.append((BUS, IMBALANCE, gap))
    elif gap < -tolerance_kwh:
        rows.append((IMBALANCE, BUS, -gap))
    links = pl.DataFrame(rows, schema=["source", "target", "kwh"], orient="row")
    return links.filter(pl.col("kwh") > 0)


def signed_flows(hourly: pl.DataFrame) -> pl.DataFrame:
    """Hourly flows in long form for a stacked chart: sources positive, sinks negative [kWh].

    Returns
    -------
    pl.DataFrame
        hour_local, flow (label), kwh.
    """
    cols = [pl.col(c).alias(label) for c, label in SOURCES.items()]
    cols += [(-pl.col(c)).alias(label) for c, label in SINKS.items()]
    return (
        hourly.select("hour_local", *cols)
        .unpivot(index="hour_local", variable_name="flow", value_name="kwh")
        .sort("hour_local", maintain_order=True)
    )
