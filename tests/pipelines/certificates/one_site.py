"""A one-site ledger settled from an hourly energy frame, for matching and Scope 2 tests."""

from datetime import datetime

import polars as pl

from pipelines.certificates import ledger
from pipelines.certificates.schema import connect_ledger

PV_DEVICE = pl.DataFrame(
    {
        "device_id": ["pv-1"],
        "site_id": ["s1"],
        "zone": ["DE_LU"],
        "technology": ["solar_pv"],
        "energy_source": ["solar"],
        "capacity_w": [20_000],
        "account_id": ["s1"],
    }
)


def settled_ledger(energy: pl.DataFrame, now: datetime, sell_first: bool = False):
    """Mint ``pv-1``'s production, then cancel against consumption hour by hour.

    ``sell_first`` transfers every certificate to ``novatrade`` before cancelling, so
    nothing is left to cover the site's own use.
    """
    con = connect_ledger()
    ledger.register_devices(con, PV_DEVICE)
    ledger.issue(
        con,
        energy.filter(pl.col("pv_production_kwh") > 0).select(
            pl.lit("pv-1").alias("device_id"),
            pl.col("hour_utc").alias("production_hour_utc"),
            (pl.col("pv_production_kwh") * 1000).alias("metered_wh"),
        ),
        now,
    )
    consumption = energy.select(
        "site_id",
        "hour_utc",
        pl.lit("DE_LU").alias("zone"),
        ((pl.col("grid_import_kwh") + pl.col("pv_self_consumed_kwh")) * 1000).alias("metered_wh"),
    )
    ledger.record_consumption(con, consumption)
    if sell_first:
        ids = con.execute("SELECT bundle_id FROM go_bundles").fetchall()
        ledger.transfer_bundles(con, [i for (i,) in ids], "novatrade", now)
    demand = consumption.select(
        pl.col("site_id").alias("account_id"),
        "site_id",
        "hour_utc",
        "zone",
        pl.col("metered_wh").alias("wh"),
    )
    ledger.cancel_for_consumption(con, demand, now)
    return con
