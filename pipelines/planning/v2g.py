"""V2G settlement: what each vehicle owner is paid for energy discharged into the site.

Payment [EUR] = Σ over slots of energy discharged [MWh] × day-ahead price [EUR/MWh] of
that slot, per vehicle owner, vehicle and local day. The same function settles a plan
(``basis="planned"``, from the setpoints in force) and the metered charger telemetry
(``basis="metered"``), so both are computed one way.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl

from pipelines.planning.slot_series import on_slots


def settle_v2g(
    charger_power: pl.DataFrame,
    interval: timedelta,
    vehicles: pl.DataFrame,
    prices: pl.DataFrame,
    timezone: str,
    basis: str,
) -> pl.DataFrame:
    """Settle the discharged energy of each vehicle per owner and local day.

    Parameters
    ----------
    charger_power : polars.DataFrame
        device_id (charger), ts_utc (interval start [UTC]) and power_w [W], positive when
        charging; only negative values count.
    interval : timedelta
        Length of one ``charger_power`` interval.
    vehicles : polars.DataFrame
        ``fleet_vehicles`` rows (site_id, vehicle_id, charger_id, owner_account).
    prices : polars.DataFrame
        ``day_ahead_prices`` rows covering the intervals.
    timezone : str
        Local time zone that sets the settlement day.
    basis : str
        ``"planned"`` or ``"metered"``.

    Returns
    -------
    polars.DataFrame
        ``v2g_settlements`` rows: site_id, day, owner_account, vehicle_id, basis,
        discharged_kwh [kWh], amount_eur [EUR] and price_slots_missing (discharge
        intervals without a price, settled at 0 and counted so they can be chased).
    """
    hours = interval / timedelta(hours=1)
    out = (
        charger_power.filter(pl.col("power_w") < 0)
        .join(
            vehicles.select("site_id", "vehicle_id", "owner_account", "charger_id"),
            left_on="device_id",
            right_on="charger_id",
            how="inner",
        )
        .sort("ts_utc")
    )
    price = np.full(out.height, np.nan)
    for interval_s in sorted(prices["interval_s"].unique().to_list(), reverse=True):
        one = prices.filter(pl.col("interval_s") == interval_s)
        p = on_slots(
            out["ts_utc"], one, "ts_utc", "price_eur_per_mwh", timedelta(seconds=interval_s)
        )
        have = ~np.isnan(p.values)
        price[have] = p.values[have]  # finer resolutions come last and win
    return (
        out.with_columns(
            (-pl.col("power_w") * hours / 1000).alias("kwh"),
            pl.Series("price", price).fill_nan(None),
        )
        .group_by(
            "site_id",
            pl.col("ts_utc").dt.convert_time_zone(timezone).dt.date().alias("day"),
            "owner_account",
            "vehicle_id",
        )
        .agg(
            pl.col("kwh").sum().alias("discharged_kwh"),
            (pl.col("kwh") * pl.col("price").fill_null(0.0) / 1000).sum().alias("amount_eur"),
            pl.col("price").is_null().sum().cast(pl.Int32).alias("price_slots_missing"),
        )
        .with_columns(pl.lit(basis).alias("basis"))
        .sort("day", "owner_account", "vehicle_id")
    )
