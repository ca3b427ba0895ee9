"""Cost and CO2 of excess energy, interval by interval.

The cost of each excess quarter hour is taken at the day-ahead price of the delivery
interval that contains it (hourly before October 2025 in SDAC, 15-minute since; where
both resolutions are given for the same instant, the finer one wins and the coarser one fills what it leaves out). Its CO2 is taken
at the lifecycle carbon intensity of its UTC hour. An event's cost or CO2 is null when
a price or an intensity is missing for any of its intervals, rather than a silent
partial sum.
"""

from __future__ import annotations

import polars as pl

UTC_TS = pl.Datetime("us", "UTC")


def _one_zone(frame: pl.DataFrame, zone: str | None, what: str) -> pl.DataFrame:
    if "zone" not in frame.columns:
        return frame
    if zone is not None:
        return frame.filter(pl.col("zone") == zone)
    zones = frame["zone"].unique().to_list()
    if len(zones) > 1:
        raise ValueError(f"{what} hold several zones {sorted(zones)}; pass zone=...")
    return frame


def interval_prices(ts_utc: pl.Series, prices: pl.DataFrame, zone: str | None = None) -> pl.Series:
    """Day-ahead price of the delivery interval containing each instant [EUR/MWh].

    Parameters
    ----------
    ts_utc : pl.Series
        Interval starts, Datetime UTC.
    prices : pl.DataFrame
        ``ts_utc`` (delivery start), ``interval_s`` [s] (default 3600 when absent),
        ``price_eur_per_mwh``; optionally ``zone``.
    zone : str, optional
        Zone to use when ``prices`` hold several.

    Returns
    -------
    pl.Series
        ``price_eur_per_mwh`` aligned with ``ts_utc``; null where no delivery interval
        covers the instant.
    """
    prices = _one_zone(prices, zone, "prices")
    if "interval_s" not in prices.columns:
        prices = prices.with_columns(pl.lit(3600).alias("interval_s"))
    table = prices.select(
        pl.col("ts_utc").dt.convert_time_zone("UTC").cast(UTC_TS).alias("price_start"),
        pl.col("interval_s").cast(pl.Int64),
        pl.col("price_eur_per_mwh").cast(pl.Float64),
    )
    query = pl.DataFrame({"ts_utc": ts_utc.cast(UTC_TS)}).with_row_index("_i").sort("ts_utc")
    found = pl.Series("price_eur_per_mwh", [None] * len(ts_utc), dtype=pl.Float64)
    # coarsest series first; each finer one overrides it where it has a price
    for interval_s in sorted(table["interval_s"].unique().to_list(), reverse=True):
        series = (
            table.filter(pl.col("interval_s") == interval_s)
            .unique("price_start", keep="first")
            .sort("price_start")
        )
        joined = (
            query.join_asof(series, left_on="ts_utc", right_on="price_start", strategy="backward")
            .with_columns(
                pl.when(
                    pl.col("ts_utc")
                    < pl.col("price_start") + pl.duration(seconds=pl.col("interval_s"))
                )
                .then(pl.col("price_eur_per_mwh"))
                .alias("price_eur_per_mwh")
            )
            .sort("_i")
        )
        price = joined["price_eur_per_mwh"]
        found = price.fill_null(found) if price.null_count() < len(price) else found
    return found


def hourly_intensity(
    ts_utc: pl.Series,
    intensity: pl.DataFrame,
    zone: str | None = None,
    basis: str | None = None,
    column: str = "ci_lifecycle_g_per_kwh",
) -> pl.Series:
    """Grid carbon intensity of each instant's UTC hour [g/kWh].

    Parameters
    ----------
    ts_utc : pl.Series
        Interval starts, Datetime UTC.
    intensity : pl.DataFrame
        ``hour_utc`` and ``column``; optionally ``zone`` and ``basis``.
    zone : str, optional
        Zone to use when ``intensity`` holds several.
    basis : str, optional
        ``production`` or ``consumption`` when the frame holds both; by default the
        consumption-based intensity (what the site draws) if present.
    column : str, default "ci_lifecycle_g_per_kwh"
        Intensity column to use.

    Returns
    -------
    pl.Series
        Intensity aligned with ``ts_utc``; null for hours the frame does not cover.
    """
    intensity = _one_zone(intensity, zone, "intensities")
    if "basis" in intensity.columns:
        bases = set(intensity["basis"].unique().to_list())
        chosen = basis or ("consumption" if "consumption" in bases else None)
        if chosen is None and len(bases) > 1:
            raise ValueError(f"intensities hold several bases {sorted(bases)}; pass basis=...")
        if chosen is not None:
            intensity = intensity.filter(pl.col("basis") == chosen)
    table = intensity.select(
        pl.col("hour_utc").dt.convert_time_zone("UTC").cast(UTC_TS),
        pl.col(column).cast(pl.Float64).alias("_ci"),
    ).unique("hour_utc", keep="first")
    query = pl.DataFrame({"hour_utc": ts_utc.cast(UTC_TS).dt.truncate("1h")})
    return query.join(table, on="hour_utc", how="left", maintain_order="left")["_ci"].alias(column)


def event_cost_and_co2(
    intervals: pl.DataFrame,
    prices: pl.DataFrame | None = None,
    intensity: pl.DataFrame | None = None,
    zone: str | None = None,
) -> pl.DataFrame:
    """Total excess energy, cost and CO2 of each event.

    Parameters
    ----------
    intervals : pl.DataFrame
        ``event``, ``ts_utc`` (interval start, UTC) and ``excess_wh`` [Wh].
    prices : pl.DataFrame, optional
        See :func:`interval_prices`; None gives a null cost.
    intensity : pl.DataFrame, optional
        See :func:`hourly_intensity` (lifecycle intensity); None gives a null CO2.
    zone : str, optional
        Zone to use when the price or intensity frames hold several.

    Returns
    -------
    pl.DataFrame
        ``event``, ``excess_wh`` [Wh], ``excess_cost_eur`` [EUR] = Σ excess_wh ×
        price / 10⁶, ``excess_co2_kg`` [kg] = Σ excess_wh × intensity / 10⁶; cost or
        CO2 null when any interval of the event lacks a price or an intensity.
    """
    ts = intervals["ts_utc"]
    price = (
        interval_prices(ts, prices, zone)
        if prices is not None
        else pl.Series([None] * len(ts), dtype=pl.Float64)
    )
    ci = (
        hourly_intensity(ts, intensity, zone)
        if intensity is not None
        else pl.Series([None] * len(ts), dtype=pl.Float64)
    )
    work = intervals.select("event", "excess_wh").with_columns(
        (pl.col("excess_wh") * price / 1e6).alias("cost"),
        (pl.col("excess_wh") * ci / 1e6).alias("co2"),
    )

    def complete_sum(col: str) -> pl.Expr:
        return pl.when(pl.col(col).null_count() == 0).then(pl.col(col).sum()).alias(col)

    return (
        work.group_by("event")
        .agg(pl.col("excess_wh").sum(), complete_sum("cost"), complete_sum("co2"))
        .rename({"cost": "excess_cost_eur", "co2": "excess_co2_kg"})
        .sort("event")
    )
