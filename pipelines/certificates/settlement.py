"""A site's daily certificate cycle: mint from PV meters, burn against consumption, sell the rest.

The same metered data that drives control drives the certificates: PV meters issue,
the hourly site balance bounds what may be cancelled. Re-running a window is safe:
hours already issued are skipped, consumption already covered is not covered twice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

import duckdb
import polars as pl

from pipelines.certificates import ledger
from pipelines.certificates.matching import consumption_kwh_expr

PV_KIND = "pv"


@dataclass(frozen=True)
class SettlementReport:
    """What one settlement run did [Wh, counts]."""

    bundles_issued: int
    issued_wh: int
    cancelled_wh: int
    transferred_wh: int
    expired_wh: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def pv_devices(registry: pl.DataFrame, zone: str) -> pl.DataFrame:
    """Certificate devices of a site's PV meters; each issues to the site's own account.

    ``registry`` holds ``meter_registry`` rows; max_power_w [W] is the capacity.
    """
    return registry.filter(pl.col("kind") == PV_KIND).select(
        pl.col("meter_id").alias("device_id"),
        "site_id",
        pl.lit(zone).alias("zone"),
        pl.lit("solar_pv").alias("technology"),
        pl.lit("solar").alias("energy_source"),
        pl.col("max_power_w").round().cast(pl.Int64).alias("capacity_w"),
        pl.col("site_id").alias("account_id"),
    )


def metered_production(readings: pl.DataFrame, devices: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Hourly metered production of the devices, complete hours only.

    Returns
    -------
    (pl.DataFrame, int)
        device_id, production_hour_utc, metered_wh [Wh] of hours whose intervals cover
        the full hour, and the number of device-hours deferred because they do not yet.
    """
    hourly = (
        readings.filter(pl.col("meter_id").is_in(devices["device_id"].implode()))
        .group_by(pl.col("meter_id").alias("device_id"), pl.col("ts_utc").dt.truncate("1h"))
        .agg(pl.col("energy_wh").sum().alias("metered_wh"), pl.col("interval_s").sum())
        .rename({"ts_utc": "production_hour_utc"})
    )
    complete = hourly.filter(pl.col("interval_s") >= 3600)
    return complete.drop("interval_s").sort("device_id", "production_hour_utc"), (
        hourly.height - complete.height
    )


def metered_consumption(energy: pl.DataFrame, zone: str) -> pl.DataFrame:
    """site_id, hour_utc, zone, metered_wh [Wh] from ``site_energy_hourly`` rows."""
    return energy.select(
        "site_id",
        "hour_utc",
        pl.lit(zone).alias("zone"),
        (consumption_kwh_expr() * 1000.0).alias("metered_wh"),
    )


def settle(
    con: duckdb.DuckDBPyConnection,
    devices: pl.DataFrame,
    production: pl.DataFrame,
    consumption: pl.DataFrame,
    start: datetime,
    as_of: datetime,
    policy: ledger.LedgerPolicy = ledger.DEFAULT_POLICY,
    sale_account: str = "",
) -> SettlementReport:
    """Issue, cancel for own consumption, sell the surplus and expire, as of ``as_of``.

    Parameters
    ----------
    devices : pl.DataFrame
        :func:`pv_devices` rows.
    production : pl.DataFrame
        :func:`metered_production` rows.
    consumption : pl.DataFrame
        :func:`metered_consumption` rows of the same window.
    start, as_of : datetime
        The window [start, as_of) (UTC). The run settles as of the window's end, so a
        backfill settles each period as it would have been settled then.
    sale_account : str
        Account that receives certificates of the window's hours left after covering the
        site's own consumption; empty keeps them.
    """
    ledger.register_devices(con, devices)
    issued = con.sql("SELECT device_id, production_hour_utc FROM go_issuances").pl()
    new = production.join(issued, on=["device_id", "production_hour_utc"], how="anti")
    bundles = ledger.issue(con, new, as_of, policy) if new.height else 0
    ledger.record_consumption(con, consumption)
    demand = _uncovered(con, consumption)
    cancelled = ledger.cancel_for_consumption(con, demand, as_of) if demand.height else 0
    transferred = 0
    if sale_account:
        surplus = con.execute(
            "SELECT bundle_id FROM go_bundles b JOIN go_devices d USING (device_id) "
            "WHERE b.status = 'active' AND b.account_id = d.account_id "
            "AND b.device_id IN (SELECT unnest($devices)) "
            "AND b.production_hour_utc >= $start AND b.production_hour_utc < $end",
            {"devices": devices["device_id"].to_list(), "start": start, "end": as_of},
        ).fetchall()
        ids = [i for (i,) in surplus]
        transferred = ledger.transfer_bundles(con, ids, sale_account, as_of) if ids else 0
    return SettlementReport(
        bundles_issued=bundles,
        issued_wh=int(new["metered_wh"].floor().sum()) if new.height else 0,
        cancelled_wh=cancelled,
        transferred_wh=transferred,
        expired_wh=ledger.expire(con, as_of),
    )


def _uncovered(con: duckdb.DuckDBPyConnection, consumption: pl.DataFrame) -> pl.DataFrame:
    """Demand rows for consumption not yet covered by cancelled certificates [Wh]."""
    covered = con.sql(
        "SELECT site_id, consumption_hour_utc AS hour_utc, cancelled_wh FROM go_consumption"
    ).pl()
    return (
        consumption.join(covered, on=["site_id", "hour_utc"], how="left")
        .with_columns(
            (pl.col("metered_wh").floor() - pl.col("cancelled_wh").fill_null(0)).alias("wh")
        )
        .filter(pl.col("wh") >= 1)
        .select(pl.col("site_id").alias("account_id"), "site_id", "hour_utc", "zone", "wh")
    )
