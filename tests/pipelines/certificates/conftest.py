"""Shared fixtures for the certificate ledger: a site, PV devices, a battery, consumption."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import duckdb
import polars as pl
import pytest

from pipelines.certificates import audit, ledger, schema
from pipelines.certificates.rules import LedgerRuleError

# first production hour of the fixtures; hours run H0, H0 + 1 h, ...
H0 = datetime(2025, 6, 1, 10, tzinfo=UTC)
NOW = datetime(2025, 6, 2, tzinfo=UTC)
N_HOURS = 4
EFFICIENCY = 0.7  # battery round trip; 0.7 is not exact in binary (90 Wh × 0.7 = 62.99...)

DEVICES = pl.DataFrame(
    {
        "device_id": ["pv1", "pv2", "pv3", "bat"],
        "site_id": ["s1", "s1", "s2", "s1"],
        "zone": ["DE", "DE", "FR", "DE"],
        "technology": ["pv", "pv", "pv", "battery"],
        "energy_source": ["solar", "solar", "solar", "storage"],
        "capacity_w": [10_000, 5_000, 4_000, 5_000],
        "account_id": ["acc1", "acc1", "acc2", "acc1"],
    }
)
# metered consumption [Wh] per site (and its zone) in each fixture hour
CONSUMPTION_WH = {("s1", "DE"): 5_000.0, ("s2", "FR"): 2_000.0}


def hour(i: int) -> datetime:
    """The i-th fixture production hour."""
    return H0 + timedelta(hours=i)


def production(*rows: tuple) -> pl.DataFrame:
    """A production frame from (device_id, hour, metered_wh[, quantity_wh]) tuples."""
    frame = pl.DataFrame(
        {
            "device_id": [r[0] for r in rows],
            "production_hour_utc": [r[1] for r in rows],
            "metered_wh": [float(r[2]) for r in rows],
        },
        schema={
            "device_id": pl.String,
            "production_hour_utc": pl.Datetime("us", "UTC"),
            "metered_wh": pl.Float64,
        },
    )
    if any(len(r) > 3 for r in rows):
        quantity = [float(r[3]) if len(r) > 3 and r[3] is not None else None for r in rows]
        frame = frame.with_columns(pl.Series("quantity_wh", quantity, dtype=pl.Float64))
    return frame


def consumption_frame() -> pl.DataFrame:
    """Every fixture site's consumption in every fixture hour."""
    rows = [
        (site, hour(i), zone, wh)
        for (site, zone), wh in CONSUMPTION_WH.items()
        for i in range(N_HOURS)
    ]
    return pl.DataFrame(
        rows, schema=["site_id", "hour_utc", "zone", "metered_wh"], orient="row"
    ).with_columns(pl.col("hour_utc").cast(pl.Datetime("us", "UTC")))


def new_ledger(path=None) -> duckdb.DuckDBPyConnection:
    """A ledger with the fixture devices, the battery's storage record and consumption."""
    con = schema.connect_ledger(path)
    ledger.register_devices(con, DEVICES)
    ledger.register_storage(con, "bat", EFFICIENCY)
    ledger.record_consumption(con, consumption_frame())
    return con


def find_bundle(
    con: duckdb.DuckDBPyConnection, device_id: str = "pv1", range_start: int = 1
) -> int:
    """Id of the bundle of ``device_id`` whose range starts at ``range_start``."""
    rows = con.execute(
        "SELECT bundle_id FROM go_bundles WHERE device_id = ? AND range_start = ?",
        [device_id, range_start],
    ).fetchall()
    assert rows, f"no bundle of {device_id} starts at {range_start}"
    return rows[0][0]


def bundle_rows(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """(device_id, range_start, range_end, status, account_id) of every bundle, in order."""
    cols = ["device_id", "range_start", "range_end", "status", "account_id"]
    return audit.bundles(con).select(cols).rows()


@contextmanager
def rejected(con: duckdb.DuckDBPyConnection, rule: str):
    """Expect the body to raise LedgerRuleError(rule) and leave the ledger unchanged."""
    before = audit.fingerprint(con)
    with pytest.raises(LedgerRuleError) as info:
        yield info
    assert info.value.rule == rule, str(info.value)
    assert audit.fingerprint(con) == before
    assert audit.invariant_violations(con) == []


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    """An in-memory ledger with devices, storage and consumption, nothing issued."""
    con = new_ledger()
    yield con
    con.close()


@pytest.fixture
def file_con(tmp_path) -> duckdb.DuckDBPyConnection:
    """The same ledger in a DuckDB file."""
    con = new_ledger(tmp_path / "ledger" / "go.duckdb")
    yield con
    con.close()


@pytest.fixture
def issued(con) -> duckdb.DuckDBPyConnection:
    """The ledger after one issuance: pv1 1000 Wh and pv2 800 Wh in hour 0, pv3 500 Wh (FR)."""
    ledger.issue(
        con, production(("pv1", hour(0), 1000), ("pv2", hour(0), 800), ("pv3", hour(0), 500)), NOW
    )
    return con
