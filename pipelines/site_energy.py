"""Hourly site energy balance from meters and device telemetry.

Meters give grid import, grid export, PV production and the loads. Batteries and EV
chargers report mean power per sample through telemetry; their energy is integrated
here. The balance every complete hour satisfies, to rounding:

    grid_import + pv_production + battery_discharge + ev_discharge
        = consumption + battery_charge + ev_charge + grid_export
"""

from __future__ import annotations

import polars as pl

from pipelines.schemas import conform

# meter kind -> column it feeds
METER_COLUMNS = {
    "grid_import": "grid_import_kwh",
    "grid_export": "grid_export_kwh",
    "pv": "pv_production_kwh",
    "load": "consumption_kwh",
}
# device kind -> (charge column, discharge column)
DEVICE_COLUMNS = {
    "battery": ("battery_charge_kwh", "battery_discharge_kwh"),
    "ev_charger": ("ev_charge_kwh", "ev_discharge_kwh"),
}
ENERGY_COLUMNS = [
    *METER_COLUMNS.values(),
    *(c for pair in DEVICE_COLUMNS.values() for c in pair),
]


DEVICE_PREFIXES = {"battery": "battery", "charger": "ev_charger"}


def device_kind_expr(col: str = "device_id") -> pl.Expr:
    """Kind of a device from its id prefix (``battery-1`` → ``battery``), else null."""
    expr = pl.lit(None, dtype=pl.String)
    for prefix, kind in DEVICE_PREFIXES.items():
        expr = pl.when(pl.col(col).str.starts_with(prefix)).then(pl.lit(kind)).otherwise(expr)
    return expr


def site_energy_hourly(
    readings: pl.DataFrame,
    registry: pl.DataFrame,
    telemetry: pl.DataFrame,
    sample_s: int = 900,
) -> pl.DataFrame:
    """Roll meters and telemetry up to the hourly site balance.

    Parameters
    ----------
    readings : pl.DataFrame
        ``meter_readings`` rows: site_id, meter_id, ts_utc, interval_s, energy_wh [Wh].
    registry : pl.DataFrame
        ``meter_registry`` rows: site_id, meter_id, kind (grid_import, grid_export, pv, load).
    telemetry : pl.DataFrame
        ``device_telemetry`` rows; only metric ``power_w`` [W] of battery and charger
        devices is used. Positive is charging (drawing from the site bus).
    sample_s : int
        Interval each telemetry power sample averages over [s].

    Returns
    -------
    pl.DataFrame
        ``site_energy_hourly``: one row per site and hour with energies [kWh],
        ``intervals_expected`` / ``intervals_present`` (meter intervals) and
        ``quality`` = ``complete`` or ``incomplete``. An incomplete hour keeps the
        energy it has; it is flagged, never filled.
    """
    meters = (
        readings.join(
            registry.select("site_id", "meter_id", "kind"), on=["site_id", "meter_id"], how="inner"
        )
        .with_columns(
            pl.col("ts_utc").dt.truncate("1h").alias("hour_utc"),
            pl.col("kind").replace_strict(METER_COLUMNS, default=None).alias("column"),
        )
        .filter(pl.col("column").is_not_null())
    )
    # sorted rows and ordered groups keep float sums in one order: the same bytes every run
    meters = meters.sort("site_id", "meter_id", "ts_utc")
    meter_energy = meters.group_by("site_id", "hour_utc", "column", maintain_order=True).agg(
        (pl.col("energy_wh").sum() / 1000).alias("kwh")
    )
    n_meters = (
        registry.filter(pl.col("kind").is_in(list(METER_COLUMNS)))
        .group_by("site_id")
        .agg(pl.len().alias("n_meters"))
    )
    coverage = meters.group_by("site_id", "hour_utc").agg(
        (pl.col("interval_s").sum() / 900).round().cast(pl.Int32).alias("intervals_present")
    )

    power = telemetry.filter(pl.col("metric") == "power_w").with_columns(
        device_kind_expr().alias("kind"),
        pl.col("ts_utc").dt.truncate("1h").alias("hour_utc"),
        (pl.col("value") * sample_s / 3600 / 1000).alias("kwh"),
    )
    device_parts = []
    for kind, (charge_col, discharge_col) in DEVICE_COLUMNS.items():
        dev = power.filter(pl.col("kind") == kind)
        device_parts.append(
            dev.select(
                "site_id",
                "hour_utc",
                pl.lit(charge_col).alias("column"),
                pl.col("kwh").clip(lower_bound=0),
            )
        )
        device_parts.append(
            dev.select(
                "site_id",
                "hour_utc",
                pl.lit(discharge_col).alias("column"),
                (-pl.col("kwh")).clip(lower_bound=0),
            )
        )
    device_energy = (
        pl.concat(device_parts)
        .sort("site_id", "hour_utc", "column", maintain_order=True)
        .group_by("site_id", "hour_utc", "column", maintain_order=True)
        .agg(pl.col("kwh").sum())
    )

    long = pl.concat([meter_energy, device_energy])
    if long.is_empty():
        wide = pl.DataFrame(schema={"site_id": pl.String, "hour_utc": pl.Datetime("us", "UTC")})
    else:
        wide = long.pivot(on="column", index=["site_id", "hour_utc"], values="kwh")
    wide = wide.with_columns(
        [pl.lit(0.0).alias(c) for c in ENERGY_COLUMNS if c not in wide.columns]
    ).with_columns([pl.col(c).fill_null(0.0) for c in ENERGY_COLUMNS])
    out = (
        wide.join(coverage, on=["site_id", "hour_utc"], how="left")
        .join(n_meters, on="site_id", how="left")
        .with_columns(
            pl.col("intervals_present").fill_null(0),
            (pl.col("n_meters") * 4).cast(pl.Int32).alias("intervals_expected"),
            (
                pl.col("pv_production_kwh")
                - pl.min_horizontal("grid_export_kwh", "pv_production_kwh")
            ).alias("pv_self_consumed_kwh"),
        )
        .with_columns(
            pl.when(pl.col("intervals_present") >= pl.col("intervals_expected"))
            .then(pl.lit("complete"))
            .otherwise(pl.lit("incomplete"))
            .alias("quality")
        )
    )
    return conform(out, "site_energy_hourly").sort("site_id", "hour_utc")
