"""The EV fleet: each vehicle's state of charge, its plan, its next departure and its V2G pay.

A vehicle's state of charge is not metered: it is estimated the way the planner does it
(:func:`pipelines.planning.fleet_sessions.ev_sessions`): the vehicle comes back from a route
with its departure target less the route's energy, then its charger's energy is added. Up
to the newest telemetry the charger's metered power is integrated; after it, the power the
setpoints in force plan for the charger (:func:`pipelines.planning.site_lake.plans_in_force`).
Power is positive when the charger draws from the site bus (charging).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from pipelines import lake
from pipelines.forecasting import local_day_bounds, quarter_hours
from pipelines.planning.fleet_sessions import TELEMETRY_INTERVAL, ev_sessions
from pipelines.planning.site_lake import LOOKBACK, live_edge, plans_in_force
from pipelines.planning.site_scenario import SiteSpec

SLOT = TELEMETRY_INTERVAL
"""Slot of the series: the telemetry and plan interval (15 minutes)."""

DEPARTURE_SOC_PCT = SiteSpec.ev_departure_soc_pct
"""State of charge a vehicle leaves with, as the planner assumes [%]."""

MIN_SOC_PCT = SiteSpec.ev_min_soc_pct
"""Lowest state of charge the planner allows [%]."""

SETTLEMENT_DAYS = 7
"""Local days of V2G settlements shown before the as-of day's plan horizon ends, inclusive."""

MAX_WINDOW = timedelta(days=2)
"""The series covers the as-of day and the plan horizon after it, at most this long."""

SERIES_SCHEMA = {
    "vehicle_id": pl.String,
    "charger_id": pl.String,
    "ts_utc": pl.Datetime("us", "UTC"),
    "plugged_in": pl.Boolean,
    "metered_kw": pl.Float64,
    "planned_kw": pl.Float64,
    "basis": pl.String,
    "soc_kwh": pl.Float64,
    "soc_pct": pl.Float64,
}


def charger_plans(
    lake_root: str | Path,
    site_id: str,
    chargers: list[str],
    start: datetime,
    end: datetime,
    as_of: datetime,
) -> pl.DataFrame:
    """The setpoints in force for ``chargers`` in slots ``start <= slot < end``, as of ``as_of``.

    Only plans created by ``as_of`` count: for a slot after it, the newest of those is in
    force, as the control service would have seen it then.

    Returns
    -------
    polars.DataFrame
        charger_id, ts_utc (slot start [UTC]), plan_id, kind and planned_kw [kW].
    """
    rows = lake.read_window(
        lake_root,
        "setpoint_plans",
        start.date() - timedelta(days=2),
        end.date() + timedelta(days=1),
        [site_id],
    ).filter(pl.col("device_id").is_in(chargers) & (pl.col("created_at_utc") <= as_of))
    return (
        plans_in_force(rows)
        .filter(pl.col("slot_start_utc").is_between(start, end, "left"))
        .select(
            pl.col("device_id").alias("charger_id"),
            pl.col("slot_start_utc").alias("ts_utc"),
            "plan_id",
            "kind",
            (pl.col("power_w") / 1000).alias("planned_kw"),
        )
    )


def _window(
    lake_root: str | Path, site_id: str, timezone: str, day: date, chargers: list[str]
) -> tuple[datetime, datetime, datetime, pl.DataFrame]:
    """(start, end, as-of, plans): the local day, stretched over the plan horizon after it.

    The as-of moment is the end of the newest telemetry interval, or the day's end if that
    is earlier; the plans are those in force then.
    """
    start, day_end = local_day_bounds(day, timezone)
    edge = live_edge(lake_root, site_id, day_end - SLOT)
    as_of = day_end if edge is None else min(edge, day_end)
    plans = charger_plans(lake_root, site_id, chargers, start, start + MAX_WINDOW, as_of)
    last_slot = plans["ts_utc"].max() if plans.height else None
    end = max(day_end, last_slot + SLOT) if last_slot is not None else day_end
    return start, end, as_of, plans


def _session_slots(sessions, start: datetime) -> pl.DataFrame:
    """One row per vehicle and plugged-in slot: its session and the SoC it started with."""
    rows = [
        {
            "vehicle_id": s.vehicle_id,
            "ts_utc": start + k * SLOT,
            "session": n,
            "soc0_kwh": s.ev["soc_kwh"],
        }
        for n, s in enumerate(sessions)
        for k in range(s.ev["arrival_slot"], s.ev["departure_slot"])
    ]
    schema = {
        "vehicle_id": pl.String,
        "ts_utc": pl.Datetime("us", "UTC"),
        "session": pl.Int64,
        "soc0_kwh": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)


def _soc_path(rows: pl.DataFrame) -> list[float | None]:
    """State of charge at the end of each slot [kWh], kept within the battery at every step.

    ``rows`` are in session and time order with session, soc0_kwh, energy_kwh and
    capacity_kwh. A full battery takes no more charge and an empty one gives none, so a
    plan that assumed another state of charge cannot push the estimate out of bounds and
    back. None when away, and where the power is unknown (the state is carried on).
    """
    out: list[float | None] = []
    current, soc = None, 0.0
    for session, soc0, energy, capacity in rows.select(
        "session", "soc0_kwh", "energy_kwh", "capacity_kwh"
    ).iter_rows():
        if session is None:
            out.append(None)
            continue
        if session != current:
            current, soc = session, soc0
        if energy is None:
            out.append(None)
            continue
        soc = min(capacity, max(0.0, soc + energy))
        out.append(soc)
    return out


def fleet_series(lake_root: str | Path, site_id: str, timezone: str, day: date) -> pl.DataFrame:
    """Per vehicle and 15-minute slot: plugged in, metered and planned power, state of charge.

    The slots cover the local ``day`` and, when the setpoints in force reach further, the
    plan horizon after it (at most two days from the day's start).

    Parameters
    ----------
    lake_root : str or Path
    site_id : str
    timezone : str
        The site's local time zone (sets the day).
    day : date
        The as-of local day.

    Returns
    -------
    polars.DataFrame
        vehicle_id, charger_id, ts_utc (slot start [UTC]), plugged_in, metered_kw (charger
        telemetry [kW]), planned_kw (setpoint in force [kW]), basis (``metered`` before the
        newest telemetry, ``planned`` after it), soc_kwh and soc_pct (state of charge at the
        end of the slot [kWh, %]; null when the vehicle is away).
    """
    vehicles = lake.read_partition(lake_root, "fleet_vehicles", site_id)
    if vehicles.is_empty():
        return pl.DataFrame(schema=SERIES_SCHEMA)
    chargers = vehicles["charger_id"].to_list()
    start, end, as_of, plans = _window(lake_root, site_id, timezone, day, chargers)
    telemetry = lake.read_window(
        lake_root,
        "device_telemetry",
        (start - LOOKBACK).date(),
        end.date() + timedelta(days=1),
        [site_id],
    ).filter(
        (pl.col("metric") == "power_w")
        & pl.col("device_id").is_in(chargers)
        & (pl.col("ts_utc") < as_of)
    )
    trips = lake.read_partition(lake_root, "fleet_trips", site_id)
    slots = int((end - start) / SLOT)
    minutes = int(SLOT / timedelta(minutes=1))
    sessions = ev_sessions(
        vehicles, trips, telemetry, start, slots, minutes, DEPARTURE_SOC_PCT, MIN_SOC_PCT
    )
    hours = SLOT / timedelta(hours=1)
    grid = vehicles.select("vehicle_id", "charger_id", "capacity_kwh").join(
        quarter_hours(start, end), how="cross"
    )
    metered = telemetry.select(
        pl.col("device_id").alias("charger_id"),
        "ts_utc",
        (pl.col("value") / 1000).alias("metered_kw"),
    )
    power = pl.when(pl.col("basis") == "metered").then("metered_kw").otherwise("planned_kw")
    rows = (
        grid.join(metered, on=["charger_id", "ts_utc"], how="left")
        .join(
            plans.select("charger_id", "ts_utc", "planned_kw"),
            on=["charger_id", "ts_utc"],
            how="left",
        )
        .join(_session_slots(sessions, start), on=["vehicle_id", "ts_utc"], how="left")
        .sort("vehicle_id", "ts_utc")
        .with_columns(
            pl.col("session").is_not_null().alias("plugged_in"),
            pl.when(pl.col("ts_utc") < as_of)
            .then(pl.lit("metered"))
            .otherwise(pl.lit("planned"))
            .alias("basis"),
        )
        .with_columns((power * hours).alias("energy_kwh"))
    )
    soc = pl.Series("soc_kwh", _soc_path(rows), pl.Float64)
    return (
        rows.with_columns(soc)
        .with_columns((100 * pl.col("soc_kwh") / pl.col("capacity_kwh")).alias("soc_pct"))
        .select(list(SERIES_SCHEMA))
    )


SETTLEMENT_COLUMNS = ["planned_kwh", "planned_eur", "metered_kwh", "metered_eur"]


def v2g_daily(lake_root: str | Path, site_id: str, first: date, last: date) -> pl.DataFrame:
    """V2G settlements per local day and vehicle, planned next to metered.

    Parameters
    ----------
    first, last : date
        Local days, both included.

    Returns
    -------
    polars.DataFrame
        day, owner_account, vehicle_id, planned_kwh, planned_eur, metered_kwh, metered_eur
        (energy discharged [kWh] and its payment [EUR], 0 when a basis has no row) and
        price_slots_missing (discharge slots settled at 0 for want of a price).
    """
    rows = lake.read_partition(lake_root, "v2g_settlements", site_id).filter(
        pl.col("day").is_between(first, last)
    )
    keys = ["day", "owner_account", "vehicle_id"]
    sums = [
        pl.col(column).filter(pl.col("basis") == basis).sum().alias(f"{basis}_{unit}")
        for basis in ("planned", "metered")
        for column, unit in (("discharged_kwh", "kwh"), ("amount_eur", "eur"))
    ]
    return (
        rows.group_by(keys)
        .agg(*sums, pl.col("price_slots_missing").sum())
        .select(*keys, *SETTLEMENT_COLUMNS, "price_slots_missing")
        .sort(keys)
    )


def settlement_days(
    lake_root: str | Path, site_id: str, timezone: str, day: date
) -> tuple[date, date]:
    """The local days whose V2G settlements the page sums: a week up to the plan's end.

    The last day is the last local day of :func:`fleet_series` (the as-of day, or the day
    the plan in force reaches); the first is :data:`SETTLEMENT_DAYS` days before it, both
    included.
    """
    chargers = lake.read_partition(lake_root, "fleet_vehicles", site_id)["charger_id"].to_list()
    _, end, _, _ = _window(lake_root, site_id, timezone, day, chargers)
    last = (end - SLOT).astimezone(ZoneInfo(timezone)).date()
    return last - timedelta(days=SETTLEMENT_DAYS - 1), last


def fleet_status(lake_root: str | Path, site_id: str, timezone: str, day: date) -> pl.DataFrame:
    """One row per vehicle at the as-of moment: plugged in, SoC, setpoint, departure, V2G pay.

    The as-of moment is the end of the newest telemetry interval on the local ``day`` (the
    day's end when it is complete).

    Returns
    -------
    polars.DataFrame
        vehicle_id, charger_id, owner_account, capacity_kwh [kWh], v2g_allowed, as_of_utc,
        plugged_in, soc_pct [%] (null when away), setpoint_kw (the setpoint in force for
        its charger in the slot starting at the as-of moment [kW], null without a plan),
        next_departure_utc (null when no route is on record) and the V2G settlements of
        the local days of :func:`settlement_days`: planned_kwh, planned_eur, metered_kwh,
        metered_eur [kWh, EUR].
    """
    vehicles = lake.read_partition(lake_root, "fleet_vehicles", site_id)
    series = fleet_series(lake_root, site_id, timezone, day)
    chargers = vehicles["charger_id"].to_list()
    _, _, as_of, plans = _window(lake_root, site_id, timezone, day, chargers)
    now = series.filter(pl.col("ts_utc") == as_of - SLOT).select(
        "vehicle_id", "plugged_in", "soc_pct"
    )
    setpoint = plans.filter(pl.col("ts_utc") == as_of).select(
        "charger_id", pl.col("planned_kw").alias("setpoint_kw")
    )
    departures = (
        lake.read_partition(lake_root, "fleet_trips", site_id)
        .filter(pl.col("depart_utc") >= as_of)
        .group_by("vehicle_id")
        .agg(pl.col("depart_utc").min().alias("next_departure_utc"))
    )
    settled = (
        v2g_daily(lake_root, site_id, *settlement_days(lake_root, site_id, timezone, day))
        .group_by("vehicle_id")
        .agg(pl.col(SETTLEMENT_COLUMNS).sum())
    )
    return (
        vehicles.select("vehicle_id", "charger_id", "owner_account", "capacity_kwh", "v2g_allowed")
        .with_columns(pl.lit(as_of).cast(pl.Datetime("us", "UTC")).alias("as_of_utc"))
        .join(now, on="vehicle_id", how="left")
        .join(setpoint, on="charger_id", how="left")
        .join(departures, on="vehicle_id", how="left")
        .join(settled, on="vehicle_id", how="left")
        .with_columns(
            pl.col("plugged_in").fill_null(False), pl.col(SETTLEMENT_COLUMNS).fill_null(0.0)
        )
        .sort("vehicle_id")
    )
