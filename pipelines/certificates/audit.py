"""Read side of the ledger: state, events, the transfer outbox and invariant checks."""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl

# name -> query returning one message per violation
INVARIANTS = {
    "no_wh_in_two_bundles": """
        SELECT 'device ' || device_id || ': bundle ' || bundle_id || ' starts at '
               || range_start || ' inside the previous bundle ending at ' || prev_end
        FROM (SELECT *, lag(range_end) OVER (PARTITION BY device_id ORDER BY range_start)
                        AS prev_end FROM go_bundles)
        WHERE prev_end >= range_start""",
    "bundles_add_up_to_issuance": """
        SELECT 'device ' || i.device_id || ' hour ' || i.production_hour_utc || ': issued '
               || i.issued_wh || ' Wh, bundles hold ' || coalesce(b.wh, 0) || ' Wh'
        FROM go_issuances i LEFT JOIN (
            SELECT device_id, production_hour_utc, sum(quantity_wh) AS wh
            FROM go_bundles GROUP BY ALL) b USING (device_id, production_hour_utc)
        WHERE coalesce(b.wh, 0) <> i.issued_wh""",
    "issued_within_metered": """
        SELECT 'device ' || device_id || ' hour ' || production_hour_utc || ': issued '
               || issued_wh || ' Wh of ' || metered_wh || ' Wh metered'
        FROM go_issuances WHERE issued_wh > metered_wh""",
    "cancelled_within_issued": """
        SELECT 'hour ' || production_hour_utc || ' zone ' || zone || ': cancelled '
               || cancelled || ' Wh of ' || issued || ' Wh issued'
        FROM (SELECT b.production_hour_utc, b.zone,
                     sum(quantity_wh) FILTER (status IN ('cancelled', 'claimed')) AS cancelled,
                     (SELECT sum(issued_wh) FROM go_issuances i JOIN go_devices d
                        USING (device_id) WHERE i.production_hour_utc = b.production_hour_utc
                        AND d.zone = b.zone) AS issued
              FROM go_bundles b GROUP BY ALL)
        WHERE cancelled > issued""",
    "cancelled_within_consumption": """
        SELECT c.site_id || ' hour ' || c.consumption_hour_utc || ': cancelled '
               || coalesce(b.wh, 0) || ' Wh against ' || c.metered_wh || ' Wh metered'
        FROM go_consumption c LEFT JOIN (
            SELECT beneficiary_site_id AS site_id, consumption_hour_utc, sum(quantity_wh) AS wh
            FROM go_bundles WHERE status IN ('cancelled', 'claimed') GROUP BY ALL
        ) b USING (site_id, consumption_hour_utc)
        WHERE coalesce(b.wh, 0) > c.metered_wh OR coalesce(b.wh, 0) <> c.cancelled_wh""",
    "storage_within_efficiency": """
        SELECT 'storage ' || device_id || ': discharged ' || discharged_wh || ' Wh of '
               || charged_wh || ' Wh charged at efficiency ' || efficiency
        FROM go_storage
        WHERE discharged_wh > floor(charged_wh * CAST(efficiency AS DECIMAL(18, 9)))""",
}


def invariant_violations(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every broken ledger invariant, as ``name: detail`` lines; empty when sound."""
    found = []
    for name, sql in INVARIANTS.items():
        found += [f"{name}: {row[0]}" for row in con.execute(sql).fetchall()]
    return found


def bundles(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Current state of every bundle (``go_bundles``), by device and range."""
    return con.sql("SELECT * FROM go_bundles ORDER BY device_id, range_start").pl()


def events(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The append-only event log (``go_ledger_events``) in order."""
    return con.sql("SELECT * FROM go_ledger_events ORDER BY event_id").pl()


def pending_transfers(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Outbox transfers not yet picked up by a trading or finance system."""
    return con.sql(
        "SELECT * FROM go_transfer_outbox WHERE delivered_at_utc IS NULL ORDER BY transfer_id"
    ).pl()


def mark_delivered(
    con: duckdb.DuckDBPyConnection, transfer_ids: list[int], delivered_at: datetime
) -> int:
    """Mark outbox transfers as picked up; returns how many were still pending."""
    (n,) = con.execute(
        "UPDATE go_transfer_outbox SET delivered_at_utc = ? "
        "WHERE transfer_id IN (SELECT unnest(?)) AND delivered_at_utc IS NULL",
        [delivered_at, transfer_ids],
    ).fetchall()[0]
    return int(n)


def fingerprint(con: duckdb.DuckDBPyConnection) -> tuple:
    """A comparable snapshot of every table, to prove a rejected operation changed nothing."""
    tables = [
        "go_devices",
        "go_issuances",
        "go_bundles",
        "go_consumption",
        "go_storage",
        "go_ledger_events",
        "go_transfer_outbox",
    ]
    return tuple(tuple(con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()) for t in tables)
