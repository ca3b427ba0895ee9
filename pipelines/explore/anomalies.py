"""Vampire loads for people: the alerts, one meter's night against its baseline, the cost.

Alerts and events come from the lake (``vampire_alerts``, ``vampire_load_events``); a
drill-down re-fits the detector's own baseline (:mod:`pipelines.vampire.baseline`) on
the same readings the daily detector reads, so the chart shows what it compared with.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from pipelines import lake
from pipelines.schemas import UTC_TS
from pipelines.vampire.baseline import fit_baseline
from pipelines.vampire.daily import HISTORY_DAYS, LOOKAHEAD_DAYS, day_window
from pipelines.vampire.grid import HOURS_PER_INTERVAL, to_grid
from pipelines.vampire.offhours import NIGHT_END_H, NIGHT_START_H
from pipelines.vampire.pricing import event_cost_and_co2
from pipelines.vampire.readings import VampireInputError

CONTEXT = timedelta(hours=3)  # shown before and after an event
DAYS_PER_YEAR = 365.0
IMPACT = ("excess_kwh", "excess_cost_eur", "excess_co2_kg")


def load_meters(lake_root: str | Path, site_id: str) -> pl.DataFrame:
    """The site's consumption meters (``meter_registry`` rows of kind ``load``)."""
    registry = lake.read_partition(lake_root, "meter_registry", site_id)
    return registry.filter(pl.col("kind") == "load").sort("meter_id")


def alerts_with_events(lake_root: str | Path, site_id: str, timezone: str) -> pl.DataFrame:
    """Vampire-load alerts with their event's mean excess power and score, newest first.

    Returns
    -------
    pl.DataFrame
        ``vampire_alerts`` columns [kWh, EUR, kg CO2e] plus mean_excess_power_w [W],
        score, start_local and end_local (in ``timezone``).
    """
    alerts = lake.scan(lake_root, "vampire_alerts").filter(pl.col("site_id") == site_id)
    events = (
        lake.scan(lake_root, "vampire_load_events")
        .filter(pl.col("site_id") == site_id)
        .select("site_id", "meter_id", "start_utc", "mean_excess_power_w", "score")
    )
    return (
        alerts.join(events, on=["site_id", "meter_id", "start_utc"], how="left")
        .with_columns(
            pl.col("start_utc").dt.convert_time_zone(timezone).alias("start_local"),
            pl.col("end_utc").dt.convert_time_zone(timezone).alias("end_local"),
        )
        .sort("start_utc", "meter_id", descending=[True, False])
        .collect()
    )


def alert_totals(alerts: pl.DataFrame) -> dict[str, float]:
    """Number of alerts and their summed excess [kWh], cost [EUR] and emissions [kg CO2e]."""
    return {"alerts": float(alerts.height), **{c: float(alerts[c].sum()) for c in IMPACT}}


def readings_days(lake_root: str | Path, site_id: str) -> list[date]:
    """UTC days with ``meter_readings`` partitions of the site."""
    return sorted(
        date.fromisoformat(f.parent.name.removeprefix("date="))
        for f in lake.dataset_files(lake_root, "meter_readings")
        if f.parent.parent.name == f"site_id={site_id}"
    )


def yearly_impact(alerts: pl.DataFrame, days_observed: float) -> pl.DataFrame:
    """Per meter: alerts, excess per alert and extrapolated to a year.

    Parameters
    ----------
    alerts : pl.DataFrame
        Alerts (or events) with meter_id, excess_kwh, excess_cost_eur, excess_co2_kg.
    days_observed : float
        Days of readings the alerts were found in [d]; the year is 365 of them.

    Returns
    -------
    pl.DataFrame
        meter_id, alerts, excess_kwh, excess_cost_eur, excess_co2_kg (observed),
        kwh_per_alert, eur_per_alert, kg_co2_per_alert, kwh_per_year, eur_per_year,
        kg_co2_per_year; biggest yearly kWh first.
    """
    scale = DAYS_PER_YEAR / days_observed if days_observed > 0 else 0.0
    return (
        alerts.group_by("meter_id")
        .agg(pl.len().cast(pl.Int64).alias("alerts"), *(pl.col(c).sum() for c in IMPACT))
        .with_columns(
            (pl.col("excess_kwh") / pl.col("alerts")).alias("kwh_per_alert"),
            (pl.col("excess_cost_eur") / pl.col("alerts")).alias("eur_per_alert"),
            (pl.col("excess_co2_kg") / pl.col("alerts")).alias("kg_co2_per_alert"),
            (pl.col("excess_kwh") * scale).alias("kwh_per_year"),
            (pl.col("excess_cost_eur") * scale).alias("eur_per_year"),
            (pl.col("excess_co2_kg") * scale).alias("kg_co2_per_year"),
        )
        .sort("kwh_per_year", "meter_id", descending=[True, False])
    )


def _readings(lake_root: str | Path, site_id: str, start: date, end: date) -> pl.DataFrame:
    meters = load_meters(lake_root, site_id)["meter_id"]
    return lake.read_window(lake_root, "meter_readings", start, end, [site_id]).filter(
        pl.col("meter_id").is_in(meters.implode())
    )


def detector_baseline(readings: pl.DataFrame, meter_id: str, timezone: str) -> pl.DataFrame | None:
    """Power and the detector's expected off-hours power of one meter [W].

    Fits :func:`pipelines.vampire.baseline.fit_baseline` on ``readings`` (all load
    meters: the level model is shared), as the detector does. None when the readings
    are too short (under 14 days) or the meter has none.

    Returns
    -------
    pl.DataFrame or None
        ts_utc, power_w [W], expected_w [W] (meaningful in off-hours), off_hours.
    """
    try:
        grid = to_grid(readings, timezone)
    except VampireInputError:
        return None
    if meter_id not in grid.meter_ids:
        return None
    baseline = fit_baseline(grid)
    code = grid.meter_ids.index(meter_id)
    rows = np.arange(grid.row_start[code], grid.row_start[code + 1])
    k = grid.k[rows]
    return pl.DataFrame(
        {
            "ts_utc": grid.ts_utc.gather(k),
            "power_w": grid.power_w[rows],
            "expected_w": baseline.expected_w(grid, rows),
            "off_hours": grid.off[k],
        }
    )


def meter_night(
    lake_root: str | Path,
    site_id: str,
    meter_id: str,
    start_utc: datetime,
    end_utc: datetime,
    timezone: str,
) -> pl.DataFrame:
    """A meter's power around an event against its baseline, for a drill-down chart.

    The baseline is the one the detector fitted for the event's day
    (:func:`detector_baseline` on :func:`~pipelines.vampire.daily.day_window`); with
    less history it is the meter's median night (:func:`median_night_baseline`).

    Returns
    -------
    pl.DataFrame
        ts_utc, ts_local, power_w, expected_w [W], in_event, baseline (``detector`` or
        ``median night``); ``CONTEXT`` before and after the event.
    """
    readings = _readings(
        lake_root, site_id, *day_window(start_utc.date(), HISTORY_DAYS, LOOKAHEAD_DAYS)
    )
    fitted = detector_baseline(readings, meter_id, timezone)
    if fitted is not None:
        curve = fitted.select("ts_utc", "power_w", "expected_w").with_columns(
            pl.lit("detector").alias("baseline")
        )
    else:
        curve = median_night_baseline(
            readings.filter(pl.col("meter_id") == meter_id), timezone
        ).select("ts_utc", "power_w", "expected_w", pl.lit("median night").alias("baseline"))
    return (
        curve.filter(
            pl.col("ts_utc").is_between(start_utc - CONTEXT, end_utc + CONTEXT, closed="left")
        )
        .with_columns(
            pl.col("ts_utc").dt.convert_time_zone(timezone).alias("ts_local"),
            pl.col("ts_utc").is_between(start_utc, end_utc, closed="left").alias("in_event"),
        )
        .select("ts_utc", "ts_local", "power_w", "expected_w", "in_event", "baseline")
        .sort("ts_utc")
    )


def excess_kwh(night: pl.DataFrame) -> float:
    """Energy above the baseline inside the event [kWh]: Σ max(power − expected, 0) × ¼ h."""
    inside = night.filter(pl.col("in_event"))
    excess = (inside["power_w"] - inside["expected_w"]).clip(lower_bound=0.0)
    return float(excess.sum()) * HOURS_PER_INTERVAL / 1000


# ------------------------------------------------------------- short lakes: median night


def night_of(ts_utc: pl.Expr, timezone: str) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(is night, night's local date, local quarter-hour slot) of UTC instants.

    Nights run from ``NIGHT_START_H`` to ``NIGHT_END_H`` local time and are named by
    the date they start on.
    """
    local = ts_utc.dt.convert_time_zone(timezone)
    hour = local.dt.hour() + local.dt.minute() / 60
    is_night = (hour >= NIGHT_START_H) | (hour < NIGHT_END_H)
    night_date = (local - pl.duration(minutes=round(NIGHT_END_H * 60))).dt.date()
    slot = local.dt.hour() * 4 + local.dt.minute() // 15
    return is_night, night_date, slot


def median_night_baseline(readings: pl.DataFrame, timezone: str) -> pl.DataFrame:
    """Readings of each meter against its median night, slot by slot [W].

    A stand-in for the detector's baseline when the lake holds under 14 days: each
    night quarter hour is compared with the median of the same local quarter hour over
    the meter's nights in ``readings``.

    Returns
    -------
    pl.DataFrame
        meter_id, ts_utc, night (local date the night starts on; null by day),
        power_w, expected_w [W] (null by day).
    """
    is_night, night_date, slot = night_of(pl.col("ts_utc"), timezone)
    marked = readings.with_columns(
        pl.when(is_night).then(night_date).alias("night"),
        slot.alias("slot"),
        (pl.col("energy_wh") * 3600 / pl.col("interval_s")).alias("power_w"),
    )
    typical = (
        marked.filter(pl.col("night").is_not_null())
        .group_by("meter_id", "slot")
        .agg(pl.col("power_w").median().alias("expected_w"))
    )
    return (
        marked.join(typical, on=["meter_id", "slot"], how="left")
        .with_columns(pl.when(pl.col("night").is_not_null()).then(pl.col("expected_w")))
        .select("meter_id", "ts_utc", "night", "power_w", "expected_w")
        .sort("meter_id", "ts_utc")
    )


def nights_over_median(
    lake_root: str | Path, site_id: str, zone: str, timezone: str
) -> pl.DataFrame:
    """Each load meter's nights: energy above its median night, priced [kWh, EUR, kg CO2e].

    Cost and CO2 use :func:`pipelines.vampire.pricing.event_cost_and_co2`, as the
    detector prices events (day-ahead price of the interval, lifecycle intensity).

    Returns
    -------
    pl.DataFrame
        meter_id, night, start_utc, end_utc, excess_kwh, excess_cost_eur, excess_co2_kg;
        biggest excess first.
    """
    days = readings_days(lake_root, site_id)
    if not days:
        return pl.DataFrame(
            schema={
                "meter_id": pl.String,
                "night": pl.Date,
                "start_utc": UTC_TS,
                "end_utc": UTC_TS,
                **dict.fromkeys(IMPACT, pl.Float64),
            }
        )
    start, end = days[0], days[-1] + timedelta(days=1)
    readings = _readings(lake_root, site_id, start, end)
    nights = median_night_baseline(readings, timezone).filter(pl.col("night").is_not_null())
    keyed = nights.with_columns(
        pl.struct("meter_id", "night").rank("dense").cast(pl.Int64).alias("event"),
        ((pl.col("power_w") - pl.col("expected_w")).clip(lower_bound=0) * HOURS_PER_INTERVAL).alias(
            "excess_wh"
        ),
    )
    priced = event_cost_and_co2(
        keyed.select("event", "ts_utc", "excess_wh"),
        lake.read_window(lake_root, "day_ahead_prices", start, end, [zone]),
        lake.read_window(lake_root, "grid_carbon_intensity_hourly", start, end, [zone]),
        zone,
    )
    return (
        keyed.group_by("event", "meter_id", "night")
        .agg(pl.col("ts_utc").min().alias("start_utc"), pl.col("ts_utc").max().alias("last"))
        .join(priced, on="event")
        .select(
            "meter_id",
            "night",
            "start_utc",
            (pl.col("last") + timedelta(minutes=15)).alias("end_utc"),
            (pl.col("excess_wh") / 1000).alias("excess_kwh"),
            "excess_cost_eur",
            "excess_co2_kg",
        )
        .sort("excess_kwh", "meter_id", descending=[True, False])
    )


def biggest_waste(lake_root: str | Path, site_id: str, zone: str, timezone: str) -> dict | None:
    """The vampire load to investigate: the biggest alert, else the biggest night excess.

    Returns
    -------
    dict or None
        source (``alert`` or ``median night``), meter_id, start_utc, end_utc,
        excess_kwh [kWh], excess_cost_eur [EUR], excess_co2_kg [kg CO2e]; None on a
        lake without readings.
    """
    alerts = alerts_with_events(lake_root, site_id, timezone)
    if alerts.height:
        top = alerts.sort("excess_kwh", descending=True).row(0, named=True)
        source = "alert"
    else:
        nights = nights_over_median(lake_root, site_id, zone, timezone)
        if nights.is_empty():
            return None
        top = nights.row(0, named=True)
        source = "median night"
    keys = ("meter_id", "start_utc", "end_utc", *IMPACT)
    return {"source": source, **{k: top[k] for k in keys}}


def impact_per_year(lake_root: str | Path, site_id: str, zone: str, timezone: str) -> pl.DataFrame:
    """:func:`yearly_impact` of the lake's alerts over the days of readings it holds.

    Without alerts (a lake under 14 days), of the single biggest night over the median
    night (:func:`nights_over_median`): "if a night like this came once per the days
    observed".
    """
    days = len(readings_days(lake_root, site_id))
    alerts = alerts_with_events(lake_root, site_id, timezone)
    if alerts.is_empty():
        alerts = nights_over_median(lake_root, site_id, zone, timezone).head(1)
    return yearly_impact(alerts, days)


def savings_if_fixed(impact: pl.DataFrame, meter_id: str) -> dict[str, float]:
    """What switching the meter's machine off off-hours saves per year [kWh, EUR, kg CO2e]."""
    row = impact.filter(pl.col("meter_id") == meter_id)
    if row.is_empty():
        return {"kwh_per_year": 0.0, "eur_per_year": 0.0, "kg_co2_per_year": 0.0}
    r = row.row(0, named=True)
    return {k: float(r[k] or 0.0) for k in ("kwh_per_year", "eur_per_year", "kg_co2_per_year")}
