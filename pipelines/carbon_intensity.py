"""Production-based hourly grid carbon intensity.

``CI = Σ_k E_k·EF_k / Σ_k E_k`` over the generation of an hour (storage charging is not
generation). Hours without data are flagged ``missing`` with null intensity: never
guessed as fossil or as zero.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl

from pipelines.emission_factors import factors_for
from pipelines.schemas import conform


def production_intensity(mix: pl.DataFrame, factors: pl.DataFrame, version: str) -> pl.DataFrame:
    """Hourly production-based intensity of each zone.

    Parameters
    ----------
    mix : pl.DataFrame
        zone, ts_utc, production_type (psr code), mode, energy_mwh [MWh]. Sub-hourly
        rows are summed into their hour (give energy, not power).
    factors : pl.DataFrame
        A factor table from :func:`pipelines.emission_factors.load_factor_table`.
    version : str
        The table's version, written to every row.

    Returns
    -------
    pl.DataFrame
        zone, hour_utc, basis (``production``), ci_direct_g_per_kwh,
        ci_lifecycle_g_per_kwh [gCO2eq/kWh], generation_mwh [MWh], quality
        (``complete``), factor_table_version.
    """
    generation = factors_for(mix.filter(pl.col("mode") == "generation"), factors)
    return (
        generation.with_columns(pl.col("ts_utc").dt.truncate("1h").alias("hour_utc"))
        .group_by("zone", "hour_utc")
        .agg(
            (
                (pl.col("energy_mwh") * pl.col("ci_direct_g_per_kwh")).sum()
                / pl.col("energy_mwh").sum()
            ).alias("ci_direct_g_per_kwh"),
            (
                (pl.col("energy_mwh") * pl.col("ci_lifecycle_g_per_kwh")).sum()
                / pl.col("energy_mwh").sum()
            ).alias("ci_lifecycle_g_per_kwh"),
            pl.col("energy_mwh").sum().alias("generation_mwh"),
        )
        .with_columns(
            pl.lit("production").alias("basis"),
            pl.lit("complete").alias("quality"),
            pl.lit(version).alias("factor_table_version"),
        )
        .sort("zone", "hour_utc")
    )


def hourly_intensity_with_gaps(
    mix: pl.DataFrame, factors: pl.DataFrame, version: str, zone: str, start: date, end: date
) -> pl.DataFrame:
    """:func:`production_intensity` on every hour of UTC days ``start <= day < end``;
    an hour with no generation gets null intensity and quality ``missing``."""
    first = datetime(start.year, start.month, start.day, tzinfo=UTC)
    last = datetime(end.year, end.month, end.day, tzinfo=UTC) - timedelta(hours=1)
    hours = pl.DataFrame(
        {"hour_utc": pl.datetime_range(first, last, "1h", eager=True).dt.cast_time_unit("us")}
    )
    ci = production_intensity(mix.filter(pl.col("zone") == zone), factors, version)
    out = hours.join(ci.drop("zone"), on="hour_utc", how="left").with_columns(
        pl.lit(zone).alias("zone"),
        pl.lit("production").alias("basis"),
        pl.col("quality").fill_null("missing"),
        pl.col("generation_mwh").fill_null(0.0),
        pl.lit(version).alias("factor_table_version"),
    )
    return conform(out, "grid_carbon_intensity_hourly")
