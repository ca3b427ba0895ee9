"""Audit read side: invariant checks catch corrupted ledgers, fingerprints, the event log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from pipelines.certificates import audit, ledger
from tests.pipelines.certificates.conftest import (
    NOW,
    find_bundle,
    hour,
    new_ledger,
    production,
)

LATER = NOW + timedelta(days=1)
EXPIRY = datetime(2026, 12, 1, 10, tzinfo=UTC)  # of hour(0)


@pytest.fixture
def busy(issued):
    """A ledger with splits, cancels, a claim, a store and a discharge behind it."""
    con = issued
    ledger.transfer(con, find_bundle(con, "pv1"), "acc9", NOW, wh=100)
    ledger.cancel(con, find_bundle(con, "pv1", 101), "s1", hour(0), "DE", NOW, wh=400)
    ledger.claim(con, find_bundle(con, "pv1", 101), LATER)
    ledger.store(con, find_bundle(con, "pv2"), "bat", LATER, wh=100)
    ledger.cancel(con, find_bundle(con, "pv2", 101), "s1", hour(0), "DE", LATER, wh=200)
    ledger.issue(con, production(("bat", hour(1), 69)), LATER, from_storage=True)  # of 70
    assert audit.invariant_violations(con) == []
    return con


def _strip_constraints(con, table: str) -> None:
    """Recreate ``table`` without its constraints, as a careless migration might."""
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {table}")


CORRUPTIONS = {
    # name: (SQL that bypasses the ledger operations, invariant expected to flag it)
    "overlapping_bundle": (
        "INSERT INTO go_bundles SELECT 999, device_id, 950, 1050, 101, status, account_id, zone, "
        "production_hour_utc, from_storage, issued_at_utc, use_by_utc, expires_at_utc, NULL, "
        "NULL, NULL, NULL, NULL FROM go_bundles WHERE device_id = 'pv1' AND range_start = 501",
        "no_wh_in_two_bundles",
    ),
    "bundle_nested_in_another": (
        "INSERT INTO go_bundles SELECT 999, device_id, 600, 600, 1, status, account_id, zone, "
        "production_hour_utc, from_storage, issued_at_utc, use_by_utc, expires_at_utc, NULL, "
        "NULL, NULL, NULL, NULL FROM go_bundles WHERE device_id = 'pv1' AND range_start = 501",
        "no_wh_in_two_bundles",
    ),
    "bundle_deleted": (
        "DELETE FROM go_bundles WHERE device_id = 'pv2' AND range_start = 101",
        "bundles_add_up_to_issuance",
    ),
    "bundle_shrunk": (
        "UPDATE go_bundles SET range_end = range_end - 1, quantity_wh = quantity_wh - 1 "
        "WHERE device_id = 'pv3'",
        "bundles_add_up_to_issuance",
    ),
    "issuance_inflated": (
        "UPDATE go_issuances SET issued_wh = issued_wh + 1 WHERE device_id = 'pv3'",
        "bundles_add_up_to_issuance",
    ),
    "issued_above_metered": (
        "UPDATE go_issuances SET metered_wh = issued_wh - 0.5 WHERE device_id = 'pv3'",
        "issued_within_metered",
    ),
    "consumption_counter_drifted": (
        "UPDATE go_consumption SET cancelled_wh = cancelled_wh + 1 "
        "WHERE site_id = 's1' AND consumption_hour_utc = TIMESTAMPTZ '2025-06-01 10:00:00+00'",
        "cancelled_within_consumption",
    ),
    "consumption_revised_below_cancelled": (
        "UPDATE go_consumption SET metered_wh = 599 "
        "WHERE site_id = 's1' AND consumption_hour_utc = TIMESTAMPTZ '2025-06-01 10:00:00+00'",
        "cancelled_within_consumption",
    ),
    "cancelled_more_than_issued_in_zone": (
        # the device moves zone after the fact: DE hour 0 now issued only pv2's 800 Wh
        "UPDATE go_devices SET zone = 'FR' WHERE device_id = 'pv1'; "
        "UPDATE go_bundles SET status = 'cancelled', beneficiary_site_id = 's1', "
        "consumption_hour_utc = production_hour_utc, consumption_zone = zone, "
        "cancelled_at_utc = issued_at_utc WHERE device_id = 'pv1' AND status = 'active'; "
        "UPDATE go_consumption SET cancelled_wh = 1000 "
        "WHERE site_id = 's1' AND consumption_hour_utc = TIMESTAMPTZ '2025-06-01 10:00:00+00'",
        "cancelled_within_issued",
    ),
    "discharged_above_efficiency": (
        "UPDATE go_storage SET discharged_wh = 71",
        "storage_within_efficiency",
    ),
}


@pytest.mark.parametrize(("sql", "invariant"), CORRUPTIONS.values(), ids=CORRUPTIONS)
def test_invariant_violations_detect_a_corrupted_ledger(busy, sql, invariant):
    for table in ("go_issuances", "go_storage", "go_consumption"):
        _strip_constraints(busy, table)  # so the corruption gets past the CHECKs
    assert audit.invariant_violations(busy) == []
    for statement in sql.split(";"):
        busy.execute(statement)
    found = audit.invariant_violations(busy)
    assert any(v.startswith(f"{invariant}: ") for v in found), found


def test_constraints_themselves_refuse_the_same_corruptions(busy):
    """Without the careless migration the database rejects what the audit would flag."""
    import duckdb

    for name in ("issued_above_metered", "discharged_above_efficiency"):
        before = audit.fingerprint(busy)
        with pytest.raises(duckdb.ConstraintException):
            busy.execute(CORRUPTIONS[name][0])
        assert audit.fingerprint(busy) == before


def test_violation_messages_name_the_device_and_ranges(busy):
    busy.execute(CORRUPTIONS["overlapping_bundle"][0])
    found = [v for v in audit.invariant_violations(busy) if v.startswith("no_wh_in_two_bundles")]
    assert found == [
        "no_wh_in_two_bundles: device pv1: bundle 999 starts at 950 inside the previous "
        "bundle ending at 1000"
    ]


# --- fingerprint ---------------------------------------------------------------------------


WRITES = {
    "issue": lambda c: ledger.issue(c, production(("pv1", hour(2), 10)), LATER),
    "transfer_part": lambda c: ledger.transfer(c, find_bundle(c, "pv3"), "acc9", LATER, wh=1),
    "transfer_whole_to_same_account": lambda c: ledger.transfer(
        c, find_bundle(c, "pv3"), "acc2", LATER
    ),
    "cancel": lambda c: ledger.cancel(c, find_bundle(c, "pv1", 501), "s1", hour(0), "DE", LATER),
    "claim": lambda c: ledger.claim(c, find_bundle(c, "pv2", 101), LATER),
    "store": lambda c: ledger.store(c, find_bundle(c, "pv1", 501), "bat", LATER, wh=1),
    "discharge": lambda c: ledger.issue(
        c, production(("bat", hour(2), 1)), LATER, from_storage=True
    ),
    "withdraw": lambda c: ledger.withdraw(c, find_bundle(c, "pv3"), LATER),
    "expire": lambda c: ledger.expire(c, EXPIRY),
    "record_consumption": lambda c: ledger.record_consumption(
        c,
        pl.DataFrame(
            {"site_id": ["s1"], "hour_utc": [hour(0)], "zone": ["DE"], "metered_wh": [4999.0]}
        ),
    ),
    "register_device": lambda c: ledger.register_devices(
        c,
        pl.DataFrame(
            {
                "device_id": ["wind1"],
                "site_id": ["s3"],
                "zone": ["NL"],
                "technology": ["wind"],
                "energy_source": ["wind"],
                "capacity_w": [2_000_000],
                "account_id": ["acc4"],
            }
        ),
    ),
    "register_storage": lambda c: ledger.register_storage(c, "pv2", 0.95),
    "mark_delivered": lambda c: audit.mark_delivered(c, [1], LATER),
    "sql_on_devices": lambda c: c.execute(
        "UPDATE go_devices SET technology = 'x' WHERE device_id = 'pv1'"
    ),
    "sql_on_events": lambda c: c.execute(
        "UPDATE go_ledger_events SET recorded_at_utc = recorded_at_utc + INTERVAL 1 SECOND "
        "WHERE event_id = 1"
    ),
    "sql_on_outbox": lambda c: c.execute("DELETE FROM go_transfer_outbox"),
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES)
def test_fingerprint_changes_on_any_write(busy, write):
    before = audit.fingerprint(busy)
    write(busy)
    assert audit.fingerprint(busy) != before


def test_fingerprint_is_stable_under_reads_and_equal_for_equal_ledgers(busy):
    before = audit.fingerprint(busy)
    audit.bundles(busy)
    audit.events(busy)
    audit.pending_transfers(busy)
    audit.invariant_violations(busy)
    assert ledger.expire(busy, NOW) == 0  # nothing due: no write
    assert (
        ledger.cancel_for_consumption(
            busy,
            pl.DataFrame(
                {"account_id": ["acc5"], "site_id": ["s1"], "hour_utc": [hour(0)], "zone": ["DE"]}
            ).with_columns(wh=pl.lit(10.0)),
            LATER,
        )
        == 0
    )
    assert audit.fingerprint(busy) == before

    a, b = new_ledger(), new_ledger()
    for con in (a, b):
        ledger.issue(con, production(("pv1", hour(0), 10), ("pv3", hour(0), 5)), NOW)
        ledger.transfer(con, find_bundle(con, "pv1"), "acc9", NOW, wh=3)
    assert audit.fingerprint(a) == audit.fingerprint(b)
    ledger.cancel(b, find_bundle(b, "pv1"), "s1", hour(0), "DE", NOW)
    assert audit.fingerprint(a) != audit.fingerprint(b)


# --- event log -----------------------------------------------------------------------------


def test_events_are_in_order_and_tell_the_story(busy):
    ledger.expire(busy, EXPIRY)
    e = audit.events(busy)
    assert e["event_id"].to_list() == sorted(e["event_id"].to_list())
    assert e["event_id"].n_unique() == e.height
    assert e["recorded_at_utc"].is_sorted()
    story = e.select("event_type", "device_id", "range_start", "range_end", "status").rows()
    assert story == [
        ("issue", "pv1", 1, 1000, "active"),
        ("issue", "pv2", 1, 800, "active"),
        ("issue", "pv3", 1, 500, "active"),
        ("split", "pv1", 1, 100, "active"),
        ("split", "pv1", 101, 1000, "active"),
        ("transfer", "pv1", 1, 100, "active"),
        ("split", "pv1", 101, 500, "active"),
        ("split", "pv1", 501, 1000, "active"),
        ("cancel", "pv1", 101, 500, "cancelled"),
        ("claim", "pv1", 101, 500, "claimed"),
        ("split", "pv2", 1, 100, "active"),
        ("split", "pv2", 101, 800, "active"),
        ("store", "pv2", 1, 100, "stored"),
        ("split", "pv2", 101, 300, "active"),
        ("split", "pv2", 301, 800, "active"),
        ("cancel", "pv2", 101, 300, "cancelled"),
        ("issue", "bat", 1, 69, "active"),
        # one call's events follow bundle ids: pv3's bundle is older than pv1's children
        ("expire", "pv3", 1, 500, "expired"),
        ("expire", "pv1", 1, 100, "expired"),
        ("expire", "pv1", 501, 1000, "expired"),
        ("expire", "pv2", 301, 800, "expired"),
    ]
    expired = e.filter(pl.col("event_type") == "expire")["bundle_id"]
    assert expired.is_sorted()
    transfer = e.filter(pl.col("event_type") == "transfer").row(0, named=True)
    assert (transfer["from_account_id"], transfer["account_id"]) == ("acc1", "acc9")
    cancel = e.filter(pl.col("event_type") == "cancel").row(0, named=True)
    assert (cancel["beneficiary_site_id"], cancel["consumption_hour_utc"]) == ("s1", hour(0))
    assert e.filter(pl.col("device_id") == "bat")["from_storage"].to_list() == [True]


def test_every_bundle_is_born_before_it_changes_and_parents_end_at_the_split(busy):
    e = audit.events(busy).rows(named=True)
    born: dict[int, int] = {}
    retired: set[int] = set()
    for ev in e:
        bid = ev["bundle_id"]
        if ev["event_type"] in ("issue", "split"):
            assert bid not in born, f"bundle {bid} born twice"
            born[bid] = ev["event_id"]
            if ev["parent_bundle_id"] is not None:
                assert ev["parent_bundle_id"] in born
                retired.add(ev["parent_bundle_id"])
        else:
            assert bid in born and bid not in retired, ev
    current = set(audit.bundles(busy)["bundle_id"])
    assert current == set(born) - retired


def test_replaying_the_event_log_rebuilds_the_bundles(busy):
    ledger.expire(busy, EXPIRY)
    state: dict[int, tuple] = {}
    for ev in audit.events(busy).rows(named=True):
        if ev["parent_bundle_id"] is not None:
            state.pop(ev["parent_bundle_id"], None)
        state[ev["bundle_id"]] = (
            ev["device_id"],
            ev["range_start"],
            ev["range_end"],
            ev["status"],
            ev["account_id"],
        )
    cols = ["bundle_id", "device_id", "range_start", "range_end", "status", "account_id"]
    rebuilt = sorted((bid, *v) for bid, v in state.items())
    assert rebuilt == sorted(audit.bundles(busy).select(cols).rows())


@pytest.mark.slow
def test_events_follow_bundle_ids_in_a_batch_larger_than_a_row_group():
    """Above DuckDB's 122,880-row groups work runs in parallel; ids must still be in order."""
    devices = [f"d{i:02d}" for i in range(20)]
    con = new_ledger()
    ledger.register_devices(
        con,
        pl.DataFrame(
            {
                "device_id": devices,
                "site_id": "s1",
                "zone": "DE",
                "technology": "pv",
                "energy_source": "solar",
                "capacity_w": 1_000,
                "account_id": "acc1",
            }
        ),
    )
    hours = pl.datetime_range(hour(0), hour(6_999), "1h", eager=True, time_zone="UTC")
    frame = pl.DataFrame({"device_id": devices}).join(
        pl.DataFrame({"production_hour_utc": hours}), how="cross"
    )
    ledger.issue(con, frame.with_columns(metered_wh=pl.lit(2.0)), NOW)
    ids = list(range(1, frame.height + 1, 2))
    ledger.transfer_bundles(con, ids, "acc9", LATER)
    b = audit.bundles(con)
    assert b["bundle_id"].to_list() == list(range(1, frame.height + 1))
    e = audit.events(con)
    assert e["bundle_id"].to_list() == list(range(1, frame.height + 1)) + ids
    assert audit.pending_transfers(con)["bundle_id"].to_list() == ids
