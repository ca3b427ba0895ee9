"""The certificate ledger's tables, with the rules the data itself enforces.

The ledger is one DuckDB file with a single writer (the ``go_ledger`` asset or a CLI).
Constraints carry the rules a row can check on its own; the operations in
:mod:`pipelines.certificates.ledger` run each change in one transaction, so a rule
that spans rows (a cancel against an hour's consumption, storage's efficiency cap)
is held by a counter row with its own CHECK. Two writers touching the same bundle or
counter conflict in DuckDB's MVCC and only the first commits.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

STATUSES = ("active", "cancelled", "claimed", "expired", "withdrawn", "stored")
EVENT_TYPES = ("issue", "transfer", "cancel", "claim", "expire", "split", "withdraw", "store")

DDL = f"""
CREATE SEQUENCE IF NOT EXISTS go_bundle_seq START 1;
CREATE SEQUENCE IF NOT EXISTS go_event_seq START 1;
CREATE SEQUENCE IF NOT EXISTS go_transfer_seq START 1;

CREATE TABLE IF NOT EXISTS go_devices (
    device_id VARCHAR PRIMARY KEY,
    site_id VARCHAR NOT NULL,
    zone VARCHAR NOT NULL,
    technology VARCHAR NOT NULL,
    energy_source VARCHAR NOT NULL,
    capacity_w BIGINT NOT NULL CHECK (capacity_w > 0),
    account_id VARCHAR NOT NULL,
    next_cert_id BIGINT NOT NULL DEFAULT 1
);

-- issue once: one row per device and production hour, never replaced
CREATE TABLE IF NOT EXISTS go_issuances (
    device_id VARCHAR NOT NULL,
    production_hour_utc TIMESTAMPTZ NOT NULL,
    metered_wh DOUBLE NOT NULL CHECK (metered_wh >= 0),
    issued_wh BIGINT NOT NULL CHECK (issued_wh > 0),
    capacity_cap_wh DOUBLE NOT NULL,
    from_storage BOOLEAN NOT NULL,
    issued_at_utc TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (device_id, production_hour_utc),
    CONSTRAINT issuance_cap CHECK (issued_wh <= metered_wh),
    CONSTRAINT capacity_cap CHECK (issued_wh <= capacity_cap_wh)
);

CREATE TABLE IF NOT EXISTS go_bundles (
    bundle_id BIGINT PRIMARY KEY,
    device_id VARCHAR NOT NULL,
    range_start BIGINT NOT NULL,
    range_end BIGINT NOT NULL,
    quantity_wh BIGINT NOT NULL,
    status VARCHAR NOT NULL,
    account_id VARCHAR NOT NULL,
    zone VARCHAR NOT NULL,
    production_hour_utc TIMESTAMPTZ NOT NULL,
    from_storage BOOLEAN NOT NULL,
    issued_at_utc TIMESTAMPTZ NOT NULL,
    use_by_utc TIMESTAMPTZ NOT NULL,
    expires_at_utc TIMESTAMPTZ NOT NULL,
    beneficiary_site_id VARCHAR,
    consumption_hour_utc TIMESTAMPTZ,
    consumption_zone VARCHAR,
    cancelled_at_utc TIMESTAMPTZ,
    storage_device_id VARCHAR,
    CHECK (range_start >= 1 AND range_end >= range_start),
    CHECK (quantity_wh = range_end - range_start + 1),
    CHECK (status IN {STATUSES}),
    CHECK (use_by_utc <= expires_at_utc),
    -- a cancellation matches consumption in its own hour and zone, before its use-by date
    CHECK (status NOT IN ('cancelled', 'claimed') OR (
        beneficiary_site_id IS NOT NULL
        AND consumption_hour_utc = production_hour_utc
        AND consumption_zone = zone
        AND cancelled_at_utc <= use_by_utc)),
    CHECK (status <> 'stored' OR storage_device_id IS NOT NULL)
);

-- metered consumption a cancel may cover, per site and hour
CREATE TABLE IF NOT EXISTS go_consumption (
    site_id VARCHAR NOT NULL,
    consumption_hour_utc TIMESTAMPTZ NOT NULL,
    zone VARCHAR NOT NULL,
    metered_wh DOUBLE NOT NULL CHECK (metered_wh >= 0),
    cancelled_wh BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (site_id, consumption_hour_utc),
    CONSTRAINT consumption_cap CHECK (cancelled_wh <= metered_wh)
);

CREATE TABLE IF NOT EXISTS go_storage (
    device_id VARCHAR PRIMARY KEY,
    efficiency DOUBLE NOT NULL CHECK (efficiency > 0 AND efficiency <= 1),
    charged_wh BIGINT NOT NULL DEFAULT 0,
    discharged_wh BIGINT NOT NULL DEFAULT 0,
    -- efficiency as a decimal, so 90 Wh at 0.7 allows 63 Wh, not floor(62.999...) = 62
    CONSTRAINT storage_cap CHECK (
        discharged_wh <= floor(charged_wh * CAST(efficiency AS DECIMAL(18, 9))))
);

CREATE TABLE IF NOT EXISTS go_ledger_events (
    event_id BIGINT NOT NULL,  -- from go_event_seq; no index: append-only, never looked up
    event_type VARCHAR NOT NULL CHECK (event_type IN {EVENT_TYPES}),
    bundle_id BIGINT NOT NULL,
    parent_bundle_id BIGINT,
    range_start BIGINT NOT NULL,
    range_end BIGINT NOT NULL,
    quantity_wh BIGINT NOT NULL CHECK (quantity_wh = range_end - range_start + 1),
    status VARCHAR NOT NULL,
    device_id VARCHAR NOT NULL,
    zone VARCHAR NOT NULL,
    production_hour_utc TIMESTAMPTZ NOT NULL,
    account_id VARCHAR NOT NULL,
    from_account_id VARCHAR,
    beneficiary_site_id VARCHAR,
    consumption_hour_utc TIMESTAMPTZ,
    from_storage BOOLEAN NOT NULL,
    recorded_at_utc TIMESTAMPTZ NOT NULL
);

-- transactional outbox: written with the transfer, read by trading and finance systems
CREATE TABLE IF NOT EXISTS go_transfer_outbox (
    transfer_id BIGINT PRIMARY KEY,
    event_id BIGINT NOT NULL UNIQUE,
    bundle_id BIGINT NOT NULL,
    from_account_id VARCHAR NOT NULL,
    to_account_id VARCHAR NOT NULL,
    device_id VARCHAR NOT NULL,
    zone VARCHAR NOT NULL,
    production_hour_utc TIMESTAMPTZ NOT NULL,
    range_start BIGINT NOT NULL,
    range_end BIGINT NOT NULL,
    quantity_wh BIGINT NOT NULL,
    recorded_at_utc TIMESTAMPTZ NOT NULL,
    delivered_at_utc TIMESTAMPTZ
);
"""


def connect_ledger(path: str | Path | None = None) -> duckdb.DuckDBPyConnection:
    """Open (and create if new) the ledger database; ``None`` opens one in memory.

    The session time zone is UTC so TIMESTAMPTZ values round-trip unchanged.
    """
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(":memory:" if path is None else str(path))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(DDL)
    return con


def connect_ledger_read_only(path: str | Path) -> duckdb.DuckDBPyConnection:
    """Open an existing ledger for reading (dashboards, matching, exports), in UTC."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no certificate ledger at {path}; materialize go_ledger first")
    con = duckdb.connect(str(path), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    return con
