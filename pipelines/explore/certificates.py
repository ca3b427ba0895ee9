"""Certificates (Guarantees of Origin): ledger activity, hourly matching, ledger search.

Reads the lake's snapshot of the ledger (``go_ledger_events``, ``go_bundles``, one
partition per bidding zone) and ``go_hourly_matching``; never the ledger's DuckDB file,
which its single writer holds.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from pipelines import lake
from pipelines.forecasting import local_day_bounds

# Ledger events that move certificates; a ``split`` only re-numbers part of a bundle.
SHOWN_EVENT_TYPES = ("issue", "transfer", "cancel", "claim", "expire", "withdraw", "store")
# what a month of ledger activity is counted by
MONTH_OF = {"production": "production_hour_utc", "recorded": "recorded_at_utc"}


def ledger_events(lake_root: str | Path, zone: str) -> pl.DataFrame:
    """Every ``go_ledger_events`` row of a bidding zone, by event id."""
    return lake.read_partition(lake_root, "go_ledger_events", zone).sort("event_id")


def monthly_event_mwh(events: pl.DataFrame, month_of: str = "production") -> pl.DataFrame:
    """Certificates per UTC month and event type [MWh].

    Parameters
    ----------
    events : pl.DataFrame
        ``go_ledger_events`` rows.
    month_of : {"production", "recorded"}
        Count a certificate in the month of its production hour, or of its ledger entry.

    Returns
    -------
    pl.DataFrame
        month (``YYYY-MM``, UTC), event_type, events (count), mwh [MWh]; split events
        left out; sorted by month and event type.
    """
    return (
        events.filter(pl.col("event_type").is_in(SHOWN_EVENT_TYPES))
        .group_by(pl.col(MONTH_OF[month_of]).dt.strftime("%Y-%m").alias("month"), "event_type")
        .agg(
            pl.len().cast(pl.Int64).alias("events"),
            (pl.col("quantity_wh").sum() / 1e6).alias("mwh"),
        )
        .sort("month", "event_type")
    )


def certificate_activity(
    lake_root: str | Path, zone: str, month_of: str = "production"
) -> pl.DataFrame:
    """:func:`monthly_event_mwh` of the zone's ledger in the lake [MWh]."""
    return monthly_event_mwh(ledger_events(lake_root, zone), month_of)


def hourly_matching(
    lake_root: str | Path, site_id: str, first: date, last: date, timezone: str
) -> pl.DataFrame:
    """``go_hourly_matching`` rows of local days ``first..last`` (both included).

    Returns
    -------
    pl.DataFrame
        The dataset's columns [kWh, 0..1] plus hour_local (start of the hour in
        ``timezone``), sorted by hour.
    """
    start, end = local_day_bounds(first, timezone)[0], local_day_bounds(last, timezone)[1]
    rows = lake.read_window(
        lake_root, "go_hourly_matching", start.date(), end.date() + timedelta(days=1), [site_id]
    )
    return (
        rows.filter(pl.col("hour_utc").is_between(start, end, closed="left"))
        .with_columns(pl.col("hour_utc").dt.convert_time_zone(timezone).alias("hour_local"))
        .sort("hour_utc")
    )


def bundle_family(events: pl.DataFrame, bundle_id: int) -> list[int]:
    """``bundle_id`` and every bundle split from it, directly or further down."""
    splits = events.filter(pl.col("event_type") == "split").select("bundle_id", "parent_bundle_id")
    family, frontier = [bundle_id], [bundle_id]
    while frontier:
        children = splits.filter(pl.col("parent_bundle_id").is_in(frontier))["bundle_id"]
        frontier = [c for c in children.to_list() if c not in family]
        family += frontier
    return family


def events_of_bundle(events: pl.DataFrame, bundle_id: int) -> pl.DataFrame:
    """Ledger events of a bundle and of the bundles split from it, by event id."""
    family = bundle_family(events, bundle_id)
    return events.filter(pl.col("bundle_id").is_in(family)).sort("event_id")


def events_of_hour(events: pl.DataFrame, hour_utc: datetime) -> pl.DataFrame:
    """Ledger events of the certificates produced in one hour (its UTC start), by event id."""
    return events.filter(pl.col("production_hour_utc") == hour_utc).sort("event_id")


def search_bundle(lake_root: str | Path, zone: str, bundle_id: int) -> pl.DataFrame:
    """:func:`events_of_bundle` in the zone's ledger."""
    return events_of_bundle(ledger_events(lake_root, zone), bundle_id)


def search_hour(
    lake_root: str | Path, zone: str, day: date, hour: int, timezone: str
) -> pl.DataFrame:
    """:func:`events_of_hour` for local ``day`` and ``hour`` (0..23) in the zone's ledger.

    A local hour that does not exist (spring DST change) finds nothing; the repeated
    autumn hour finds its first (summer-time) occurrence.
    """
    local = datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo(timezone))
    hour_utc = local.astimezone(UTC)
    if hour_utc.astimezone(ZoneInfo(timezone)).hour != hour:
        return ledger_events(lake_root, zone).clear()
    return events_of_hour(ledger_events(lake_root, zone), hour_utc)


def bundle_state(lake_root: str | Path, zone: str, bundle_id: int) -> pl.DataFrame:
    """The current ``go_bundles`` rows of a bundle and of the bundles split from it."""
    family = bundle_family(ledger_events(lake_root, zone), bundle_id)
    bundles = lake.read_partition(lake_root, "go_bundles", zone)
    return bundles.filter(pl.col("bundle_id").is_in(family)).sort("bundle_id")
