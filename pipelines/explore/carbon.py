"""Grid carbon intensity: the site's location-based CO2, heatmaps, forecasts and the bases.

Intensities come from ``grid_carbon_intensity_hourly`` as the pipeline wrote them
(:mod:`pipelines.carbon_intensity` production-based, :mod:`pipelines.flow_tracing`
consumption-based); nothing is recomputed here. The site's location-based figure uses the
Scope 2 choice of intensity (:func:`pipelines.scope2.hourly_intensity_for_scope2`: direct,
consumption-based when known, else production-based), so it agrees with the Scope 2 page.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl

from pipelines import lake
from pipelines.explore.energy import local_time, site_energy_hourly
from pipelines.forecasting import local_day_bounds
from pipelines.scope2 import hourly_intensity_for_scope2

CI_COLUMNS = {"ci_direct_g_per_kwh": "direct", "ci_lifecycle_g_per_kwh": "lifecycle"}


def intensity_hourly(
    lake_root: str | Path, zone: str, first: date, last: date, timezone: str
) -> pl.DataFrame:
    """Hourly intensity rows of ``zone`` for the local days ``first`` to ``last``.

    Returns
    -------
    pl.DataFrame
        ``grid_carbon_intensity_hourly`` rows (every basis) plus ``hour_local`` (naive
        local start of the hour), ``day`` (local date) and ``hour`` (local hour 0-23).
    """
    rows = lake.read_window(
        lake_root,
        "grid_carbon_intensity_hourly",
        first - timedelta(days=1),
        last + timedelta(days=2),
        [zone],
    )
    start, _ = local_day_bounds(first, timezone)
    _, end = local_day_bounds(last, timezone)
    return (
        rows.filter((pl.col("hour_utc") >= start) & (pl.col("hour_utc") < end))
        .with_columns(local_time("hour_utc", timezone).alias("hour_local"))
        .with_columns(
            pl.col("hour_local").dt.date().alias("day"),
            pl.col("hour_local").dt.hour().alias("hour"),
        )
        .sort("hour_utc", "basis")
    )


def intensity_all(lake_root: str | Path, zone: str, timezone: str) -> pl.DataFrame:
    """Every hourly intensity row of ``zone`` in the lake, with local ``day``, ``hour``, ``month``."""
    return (
        lake.scan(lake_root, "grid_carbon_intensity_hourly")
        .filter(pl.col("zone") == zone)
        .with_columns(local_time("hour_utc", timezone).alias("hour_local"))
        .with_columns(
            pl.col("hour_local").dt.date().alias("day"),
            pl.col("hour_local").dt.hour().alias("hour"),
            pl.col("hour_local").dt.month().alias("month"),
        )
        .sort("hour_utc", "basis")
        .collect()
    )


def latest_intensity(intensity: pl.DataFrame) -> dict[str, object] | None:
    """The newest hour with a known location-based intensity [gCO2/kWh].

    Parameters
    ----------
    intensity : pl.DataFrame
        Rows from :func:`intensity_hourly` (e.g. one local day).

    Returns
    -------
    dict or None
        hour_utc, hour_local, ci_g_per_kwh (direct) and ci_basis; None when no hour of
        ``intensity`` has a value.
    """
    known = intensity.filter(
        pl.col("ci_direct_g_per_kwh").is_not_null() & (pl.col("quality") != "missing")
    )
    if known.is_empty():
        return None
    best = hourly_intensity_for_scope2(known, known["hour_utc"])
    last = best.sort("hour_utc").row(-1, named=True)
    local = known.filter(pl.col("hour_utc") == last["hour_utc"])["hour_local"][0]
    return {
        "hour_utc": last["hour_utc"],
        "hour_local": local,
        "ci_g_per_kwh": last["ci_g_per_kwh"],
        "ci_basis": last["ci_basis"],
    }


def location_based_co2(energy: pl.DataFrame, intensity: pl.DataFrame) -> dict[str, float]:
    """Location-based emissions of the site: Σ_h grid import × intensity [kg CO2].

    Parameters
    ----------
    energy : pl.DataFrame
        Hourly site balance (hour_utc, grid_import_kwh [kWh]).
    intensity : pl.DataFrame
        ``grid_carbon_intensity_hourly`` rows of the zone over the same hours.

    Returns
    -------
    dict
        kg_co2 [kg], grid_import_kwh [kWh], hours, and gap_filled_hours (hours without
        an intensity, given the period's mean as in Scope 2). All zero without energy or
        without any known intensity.
    """
    empty = {"kg_co2": 0.0, "grid_import_kwh": 0.0, "hours": 0, "gap_filled_hours": 0}
    known = intensity.filter(
        pl.col("ci_direct_g_per_kwh").is_not_null() & (pl.col("quality") != "missing")
    )
    if energy.is_empty() or known.is_empty():
        return empty
    ci = hourly_intensity_for_scope2(known, energy["hour_utc"])
    rows = energy.select("hour_utc", "grid_import_kwh").join(ci, on="hour_utc", how="left")
    return {
        "kg_co2": float((rows["grid_import_kwh"] * rows["ci_g_per_kwh"]).sum() / 1000),
        "grid_import_kwh": float(rows["grid_import_kwh"].sum()),
        "hours": rows.height,
        "gap_filled_hours": rows.filter(pl.col("ci_basis") == "gap_filled").height,
    }


def month_to_date_co2(
    lake_root: str | Path, site_id: str, zone: str, day: date, timezone: str
) -> dict[str, float]:
    """Location-based CO2 [kg] from the first of ``day``'s local month to the end of ``day``.

    See :func:`location_based_co2`; also returns ``first`` and ``last`` (local days).
    """
    first = day.replace(day=1)
    energy = site_energy_hourly(lake_root, site_id, first, day, timezone)
    intensity = intensity_hourly(lake_root, zone, first, day, timezone)
    return {**location_based_co2(energy, intensity), "first": first, "last": day}


def heatmap(intensity: pl.DataFrame, basis: str, column: str) -> pl.DataFrame:
    """Mean intensity per local day and hour of one basis [gCO2/kWh].

    The autumn day with two 02:00 hours shows their mean; the spring day lacks 02:00.

    Returns
    -------
    pl.DataFrame
        day, hour, g_per_kwh (null where the hour has no value).
    """
    return (
        intensity.filter(pl.col("basis") == basis)
        .group_by("day", "hour")
        .agg(pl.col(column).mean().alias("g_per_kwh"))
        .sort("day", "hour")
    )


def forecast_vs_actual(lake_root: str | Path, zone: str, day: date, timezone: str) -> pl.DataFrame:
    """Day-ahead lifecycle forecast of a local day against the actual [gCO2/kWh].

    Each hour takes the newest forecast issued before the day starts; the actual is the
    production-based lifecycle intensity, the series the forecast model learns.

    Returns
    -------
    pl.DataFrame
        hour_utc, hour_local, issued_at_utc, forecast_g_per_kwh and actual_g_per_kwh
        (null until it is in the lake); empty without a forecast for the day.
    """
    start, end = local_day_bounds(day, timezone)
    window = (start.date(), end.date() + timedelta(days=1))
    forecast = (
        lake.read_window(lake_root, "grid_carbon_intensity_forecast", *window, [zone])
        .filter(
            (pl.col("hour_utc") >= start)
            & (pl.col("hour_utc") < end)
            & (pl.col("issued_at_utc") < start)
        )
        .sort("hour_utc", "issued_at_utc")
        .unique("hour_utc", keep="last", maintain_order=True)
    )
    actual = lake.read_window(lake_root, "grid_carbon_intensity_hourly", *window, [zone]).filter(
        pl.col("basis") == "production"
    )
    return forecast.select(
        "hour_utc",
        local_time("hour_utc", timezone).alias("hour_local"),
        "issued_at_utc",
        pl.col("ci_lifecycle_g_per_kwh").alias("forecast_g_per_kwh"),
    ).join(
        actual.select("hour_utc", pl.col("ci_lifecycle_g_per_kwh").alias("actual_g_per_kwh")),
        on="hour_utc",
        how="left",
    )


def forecast_error(comparison: pl.DataFrame) -> dict[str, float] | None:
    """Mean absolute and mean signed error (forecast − actual) [gCO2/kWh] over hours with both."""
    both = comparison.drop_nulls(["forecast_g_per_kwh", "actual_g_per_kwh"])
    if both.is_empty():
        return None
    diff = both["forecast_g_per_kwh"] - both["actual_g_per_kwh"]
    return {
        "mae_g_per_kwh": float(diff.abs().mean()),
        "bias_g_per_kwh": float(diff.mean()),
        "hours": both.height,
    }


def direct_vs_lifecycle(intensity: pl.DataFrame, basis: str = "production") -> pl.DataFrame:
    """Direct and lifecycle intensity of each hour of one basis, and the gap [gCO2/kWh].

    Returns
    -------
    pl.DataFrame
        hour_utc, hour_local, direct_g_per_kwh, lifecycle_g_per_kwh, gap_g_per_kwh
        (lifecycle − direct: upstream emissions of fuels and plants); hours with both only.
    """
    return (
        intensity.filter(pl.col("basis") == basis)
        .select(
            "hour_utc",
            "hour_local",
            pl.col("ci_direct_g_per_kwh").alias("direct_g_per_kwh"),
            pl.col("ci_lifecycle_g_per_kwh").alias("lifecycle_g_per_kwh"),
        )
        .drop_nulls(["direct_g_per_kwh", "lifecycle_g_per_kwh"])
        .with_columns(
            (pl.col("lifecycle_g_per_kwh") - pl.col("direct_g_per_kwh")).alias("gap_g_per_kwh")
        )
        .sort("hour_utc")
    )


def production_vs_consumption(intensity: pl.DataFrame, column: str) -> pl.DataFrame:
    """Production- and consumption-based (flow-traced) intensity side by side [gCO2/kWh].

    Returns
    -------
    pl.DataFrame
        hour_utc, hour_local, production_g_per_kwh, consumption_g_per_kwh and
        import_effect_g_per_kwh (consumption − production: what imports add); hours
        with both bases only, so empty where flows were not traced.
    """
    by_basis = {
        basis: intensity.filter(pl.col("basis") == basis).select(
            "hour_utc", "hour_local", pl.col(column).alias(f"{basis}_g_per_kwh")
        )
        for basis in ("production", "consumption")
    }
    return (
        by_basis["production"]
        .join(by_basis["consumption"].drop("hour_local"), on="hour_utc", how="inner")
        .drop_nulls(["production_g_per_kwh", "consumption_g_per_kwh"])
        .with_columns(
            (pl.col("consumption_g_per_kwh") - pl.col("production_g_per_kwh")).alias(
                "import_effect_g_per_kwh"
            )
        )
        .sort("hour_utc")
    )


def gap_summary(pairs: pl.DataFrame, low: str, high: str) -> dict[str, float] | None:
    """Means of two paired series and of their gap (``high`` − ``low``) [gCO2/kWh] and [%].

    Returns None for no pairs; ``gap_pct`` is the mean gap over the mean of ``low``.
    """
    if pairs.is_empty():
        return None
    mean_low, mean_high = float(pairs[low].mean()), float(pairs[high].mean())
    return {
        low: mean_low,
        high: mean_high,
        "gap_g_per_kwh": mean_high - mean_low,
        "gap_pct": 100 * (mean_high - mean_low) / mean_low if mean_low else 0.0,
        "hours": pairs.height,
    }


def profile(
    intensity: pl.DataFrame, by: list[str], column: str, basis: str = "production"
) -> pl.DataFrame:
    """Mean, min and max intensity of one basis grouped by ``by`` (e.g. ``["hour"]``,
    ``["month"]``, ``["month", "hour"]``) [gCO2/kWh], with the hours behind each mean."""
    return (
        intensity.filter((pl.col("basis") == basis) & pl.col(column).is_not_null())
        .group_by(by)
        .agg(
            pl.col(column).mean().alias("mean_g_per_kwh"),
            pl.col(column).min().alias("min_g_per_kwh"),
            pl.col(column).max().alias("max_g_per_kwh"),
            pl.len().alias("hours"),
        )
        .sort(by)
    )


CALENDAR = {
    "hour": pl.col("hour_local").dt.hour(),
    "day": pl.col("hour_local").dt.date(),
    "month": pl.col("hour_local").dt.month(),
}


def mean_by(pairs: pl.DataFrame, by: str) -> pl.DataFrame:
    """Means of every ``*_g_per_kwh`` column of paired hours per local ``hour``, ``day`` or
    ``month`` [gCO2/kWh], e.g. of :func:`direct_vs_lifecycle` or
    :func:`production_vs_consumption`, with the hours behind each mean."""
    return (
        pairs.group_by(CALENDAR[by].alias(by))
        .agg(pl.col("^.*_g_per_kwh$").mean(), pl.len().alias("hours"))
        .sort(by)
    )


def seasonal_grain(intensity: pl.DataFrame, min_days: int = 60) -> str:
    """``"month"`` when the rows span at least ``min_days`` local days, else ``"day"``: a
    one-week lake has no seasons to compare, only days."""
    return "month" if intensity["day"].n_unique() >= min_days else "day"
