"""Production-based hourly grid carbon intensity.

``CI = Σ_k E_k·EF_k / Σ_k E_k`` over the generation of an hour (storage charging is not
generation). Hours without data are flagged ``missing`` with null intensity: never
guessed as fossil or as zero.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl

from pipelines.emission_factors import apply_overrides, factors_for
from pipelines.schemas import conform


def hourly_generation(mix: pl.DataFrame) -> pl.DataFrame:
    """Hourly energy per zone, production type and mode from any mix of resolutions.

    The hour's energy of a series is the mean of its power values in the hour [MW] × 1 h
    (for 15-minute data, the mean of the four quarter-hour values). A series with
    fewer intervals than the hour holds is marked ``complete = False``; the mean of
    what is there still stands for the hour, and the hour is flagged downstream.

    Parameters
    ----------
    mix : pl.DataFrame
        zone, ts_utc, production_type, mode, energy_mwh [MWh] per interval and
        optionally interval_s [s] (default 3600).
    """
    interval = pl.col("interval_s") if "interval_s" in mix.columns else pl.lit(3600)
    # sorted input and groups keep floating-point sums in one order: same bytes every run
    return (
        mix.sort("zone", "ts_utc", "production_type", "mode")
        .with_columns(
            (pl.col("energy_mwh") * 3600 / interval).alias("__power_mw"),
            interval.alias("__interval_s"),
            pl.col("ts_utc").dt.truncate("1h").alias("hour_utc"),
        )
        .group_by("zone", "hour_utc", "production_type", "mode", maintain_order=True)
        .agg(
            pl.col("__power_mw").mean().alias("energy_mwh"),
            (pl.col("__interval_s").sum() >= 3600).alias("complete"),
        )
    )


def production_intensity(
    mix: pl.DataFrame, factors: pl.DataFrame, version: str, overrides: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Hourly production-based intensity of each zone.

    ``CI = Σ_k E_k·EF_k / Σ_k E_k`` over the hour's generation (storage charging is not
    generation), with E from :func:`hourly_generation`.

    Parameters
    ----------
    mix : pl.DataFrame
        zone, ts_utc, production_type (psr code), mode, energy_mwh [MWh], and
        optionally interval_s [s].
    factors : pl.DataFrame
        A factor table from :func:`pipelines.emission_factors.load_factor_table`.
    version : str
        The version written to every row (name the overrides in it when given).
    overrides : pl.DataFrame, optional
        Opt-in effective-dated zone overrides from
        :func:`pipelines.emission_factors.load_overrides`.

    Returns
    -------
    pl.DataFrame
        zone, hour_utc, basis (``production``), ci_direct_g_per_kwh,
        ci_lifecycle_g_per_kwh [gCO2eq/kWh], generation_mwh [MWh], quality
        (``complete``, or ``partial`` when a series of the zone lacks intervals in the
        hour), factor_table_version.
    """
    hourly = hourly_generation(mix.filter(pl.col("mode") == "generation"))
    n_series = hourly.group_by("zone").agg(
        pl.struct("production_type", "mode").n_unique().alias("n_series")
    )
    generation = factors_for(hourly.rename({"hour_utc": "ts_utc"}), factors)
    if overrides is not None:
        generation = apply_overrides(generation, overrides)
    generation = generation.rename({"ts_utc": "hour_utc"})
    return (
        generation.sort("zone", "hour_utc", "production_type", "mode")
        .group_by("zone", "hour_utc", maintain_order=True)
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
            pl.col("complete").all().alias("__all_complete"),
            pl.len().alias("__n"),
        )
        .join(n_series, on="zone")
        .with_columns(
            pl.lit("production").alias("basis"),
            pl.when(pl.col("__all_complete") & (pl.col("__n") == pl.col("n_series")))
            .then(pl.lit("complete"))
            .otherwise(pl.lit("partial"))
            .alias("quality"),
            pl.lit(version).alias("factor_table_version"),
        )
        .drop("__all_complete", "__n", "n_series")
        .sort("zone", "hour_utc")
    )


def hourly_intensity_with_gaps(
    mix: pl.DataFrame,
    factors: pl.DataFrame,
    version: str,
    zone: str,
    start: date,
    end: date,
    overrides: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """:func:`production_intensity` on every hour of UTC days ``start <= day < end``;
    an hour with no generation gets null intensity and quality ``missing``."""
    first = datetime(start.year, start.month, start.day, tzinfo=UTC)
    last = datetime(end.year, end.month, end.day, tzinfo=UTC) - timedelta(hours=1)
    hours = pl.DataFrame(
        {"hour_utc": pl.datetime_range(first, last, "1h", eager=True).dt.cast_time_unit("us")}
    )
    ci = production_intensity(mix.filter(pl.col("zone") == zone), factors, version, overrides)
    out = hours.join(ci.drop("zone"), on="hour_utc", how="left").with_columns(
        pl.lit(zone).alias("zone"),
        pl.lit("production").alias("basis"),
        pl.col("quality").fill_null("missing"),
        pl.col("generation_mwh").fill_null(0.0),
        pl.lit(version).alias("factor_table_version"),
    )
    return conform(out, "grid_carbon_intensity_hourly")
