"""Ledger operations: issuance, lifecycle rules, splits, storage, outbox, concurrency."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from pipelines.certificates import audit, ledger
from pipelines.certificates.rules import LedgerConflictError, LedgerRuleError
from tests.pipelines.certificates.conftest import (
    EFFICIENCY,
    NOW,
    bundle_rows,
    find_bundle,
    hour,
    new_ledger,
    production,
    rejected,
)

LATER = NOW + timedelta(days=1)


def ranges(con, device_id: str) -> list[tuple[int, int]]:
    """[(range_start, range_end)] of a device's bundles, in id order."""
    return [(s, e) for d, s, e, *_ in bundle_rows(con) if d == device_id]


def next_cert_id(con, device_id: str) -> int:
    return con.execute(
        "SELECT next_cert_id FROM go_devices WHERE device_id = ?", [device_id]
    ).fetchall()[0][0]


def cancelled_wh(con, site_id: str, h: datetime) -> int:
    return con.execute(
        "SELECT cancelled_wh FROM go_consumption WHERE site_id = ? AND consumption_hour_utc = ?",
        [site_id, h],
    ).fetchall()[0][0]


def storage_counters(con, device_id: str = "bat") -> tuple[int, int]:
    return con.execute(
        "SELECT charged_wh, discharged_wh FROM go_storage WHERE device_id = ?", [device_id]
    ).fetchall()[0]


def demand(*rows: tuple) -> pl.DataFrame:
    """A cancel_for_consumption demand frame from (account, site, hour, zone, wh) tuples."""
    return pl.DataFrame(
        [list(r) for r in rows],
        schema={
            "account_id": pl.String,
            "site_id": pl.String,
            "hour_utc": pl.Datetime("us", "UTC"),
            "zone": pl.String,
            "wh": pl.Float64,
        },
        orient="row",
    )


# --- issuance ----------------------------------------------------------------------------


def test_issue_ranges_are_contiguous_per_device_across_hours_and_calls(con):
    # rows out of hour order: ids still follow the production hour within a call
    n = ledger.issue(
        con,
        production(("pv1", hour(1), 100), ("pv2", hour(0), 30), ("pv1", hour(0), 50)),
        NOW,
    )
    assert n == 3
    n = ledger.issue(con, production(("pv1", hour(2), 20), ("pv2", hour(1), 7.9)), LATER)
    assert n == 2
    assert ranges(con, "pv1") == [(1, 50), (51, 150), (151, 170)]
    assert ranges(con, "pv2") == [(1, 30), (31, 37)]
    assert next_cert_id(con, "pv1") == 171
    assert next_cert_id(con, "pv2") == 38
    assert next_cert_id(con, "pv3") == 1
    b = audit.bundles(con)
    assert (b["quantity_wh"] == b["range_end"] - b["range_start"] + 1).all()
    assert b.filter(pl.col("device_id") == "pv1")["production_hour_utc"].to_list() == [
        hour(0),
        hour(1),
        hour(2),
    ]
    assert audit.invariant_violations(con) == []


def test_issue_after_a_device_already_has_bundles_continues_its_ids(con):
    ledger.issue(con, production(("pv3", hour(3), 10)), NOW)
    # an earlier hour issued later still gets the next ids: ids count per device, not per hour
    ledger.issue(con, production(("pv3", hour(0), 5), ("pv1", hour(0), 2)), LATER)
    assert ranges(con, "pv3") == [(1, 10), (11, 15)]
    assert ranges(con, "pv1") == [(1, 2)]


def test_bundle_ids_of_one_issuance_follow_device_and_range(con):
    """Same input, same ids: bundle ids are given in device and id order, not join order."""
    rows = [(d, hour(h), 10 + h) for h in (3, 0, 2, 1) for d in ("pv3", "pv2", "pv1")]
    ledger.issue(con, production(*rows), NOW)
    b = audit.bundles(con)  # ordered by device and range
    assert b["bundle_id"].to_list() == list(range(1, 13))
    assert audit.events(con)["bundle_id"].to_list() == list(range(1, 13))


def test_the_same_operations_give_the_same_ledger():
    def build():
        con = new_ledger()
        rows = [(d, hour(h), 100 + h) for h in range(3) for d in ("pv2", "pv1", "pv3")]
        ledger.issue(con, production(*rows), NOW)
        ledger.transfer_bundles(con, [9, 1, 5], "acc9", NOW)
        ledger.cancel_for_consumption(
            con,
            demand(("acc1", "s1", hour(1), "DE", 150), ("acc2", "s2", hour(2), "FR", 50)),
            LATER,
        )
        return audit.fingerprint(con)

    assert len({build() for _ in range(4)}) == 1


@pytest.mark.parametrize(
    ("metered", "quantity", "expected"),
    [
        (100.999, None, 100),
        (1.0, None, 1),
        (1.5, None, 1),
        (0.999, None, 0),
        (0.0, None, 0),
        (500.0, 250.7, 250),
        (500.0, 500.0, 500),
        (10.0, 0.5, 0),
    ],
)
def test_issue_rounds_face_value_down_to_whole_wh(con, metered, quantity, expected):
    before = audit.fingerprint(con)
    n = ledger.issue(con, production(("pv1", hour(0), metered, quantity)), NOW)
    if expected == 0:
        assert n == 0
        assert audit.fingerprint(con) == before  # nothing issued, nothing recorded
        return
    assert n == 1
    assert ranges(con, "pv1") == [(1, expected)]
    (issued_wh, metered_wh) = con.execute(
        "SELECT issued_wh, metered_wh FROM go_issuances WHERE device_id = 'pv1'"
    ).fetchall()[0]
    assert (issued_wh, metered_wh) == (expected, metered)
    assert next_cert_id(con, "pv1") == expected + 1


def test_issue_of_no_rows_or_only_zero_rows_changes_nothing(con):
    before = audit.fingerprint(con)
    assert ledger.issue(con, production(), NOW) == 0
    assert ledger.issue(con, production(("pv1", hour(0), 0.0), ("pv2", hour(0), 0.4)), NOW) == 0
    assert audit.fingerprint(con) == before


def test_zero_rows_in_a_batch_are_skipped_and_do_not_take_ids(con):
    ledger.issue(
        con, production(("pv1", hour(0), 0.2), ("pv1", hour(1), 10), ("pv1", hour(2), 0)), NOW
    )
    assert ranges(con, "pv1") == [(1, 10)]
    assert audit.bundles(con)["production_hour_utc"].to_list() == [hour(1)]
    assert con.execute("SELECT count(*) FROM go_issuances").fetchall()[0][0] == 1


@pytest.mark.parametrize(
    ("production_hour", "policy", "use_by", "expires"),
    [
        (
            datetime(2025, 6, 1, 10, tzinfo=UTC),
            ledger.LedgerPolicy(),
            datetime(2026, 6, 1, 10, tzinfo=UTC),
            datetime(2026, 12, 1, 10, tzinfo=UTC),
        ),
        (
            datetime(2025, 1, 31, 23, tzinfo=UTC),
            ledger.LedgerPolicy(),
            datetime(2026, 1, 31, 23, tzinfo=UTC),
            datetime(2026, 7, 31, 23, tzinfo=UTC),
        ),
        (
            # month arithmetic clamps to the last day of a shorter month
            datetime(2025, 8, 31, 0, tzinfo=UTC),
            ledger.LedgerPolicy(),
            datetime(2026, 8, 31, 0, tzinfo=UTC),
            datetime(2027, 2, 28, 0, tzinfo=UTC),
        ),
        (
            datetime(2025, 6, 1, 10, tzinfo=UTC),
            ledger.LedgerPolicy(use_by_months=6, expiry_months=9),
            datetime(2025, 12, 1, 10, tzinfo=UTC),
            datetime(2026, 3, 1, 10, tzinfo=UTC),
        ),
    ],
)
def test_issue_records_attributes_use_by_and_expiry(con, production_hour, policy, use_by, expires):
    ledger.issue(con, production(("pv3", production_hour, 42)), NOW, policy=policy)
    row = audit.bundles(con).row(0, named=True)
    assert row["device_id"] == "pv3"
    assert row["zone"] == "FR"
    assert row["account_id"] == "acc2"
    assert row["status"] == "active"
    assert row["production_hour_utc"] == production_hour
    assert row["issued_at_utc"] == NOW
    assert row["use_by_utc"] == use_by
    assert row["expires_at_utc"] == expires
    assert row["from_storage"] is False
    assert row["beneficiary_site_id"] is None
    (event,) = audit.events(con).rows(named=True)
    assert event["event_type"] == "issue"
    assert (event["bundle_id"], event["range_start"], event["range_end"]) == (
        row["bundle_id"],
        1,
        42,
    )


def test_capacity_cap_is_capacity_times_one_hour_times_1_1(con):
    # pv2: 5 kW -> at most 5500 Wh in an hour
    assert ledger.issue(con, production(("pv2", hour(0), 5500)), NOW) == 1
    with rejected(con, "capacity_cap"):
        ledger.issue(con, production(("pv2", hour(1), 5501)), NOW)
    # issuing less than metered within the cap is fine even when metered is above it
    assert ledger.issue(con, production(("pv2", hour(1), 9000, 5500)), NOW) == 1


# --- rejected operations: right rule, ledger unchanged ------------------------------------


def _cancel(con, device="pv1", start=1, site="s1", h=0, zone="DE", now=NOW, wh=None):
    return ledger.cancel(con, find_bundle(con, device, start), site, hour(h), zone, now, wh=wh)


def _nothing(con):
    pass


USE_BY = datetime(2026, 6, 1, 10, tzinfo=UTC)  # of hour(0)
EXPIRY = datetime(2026, 12, 1, 10, tzinfo=UTC)

ADVERSARIAL = {
    # name: (setup, rejected operation, rule)
    "double_cancel": (_cancel, _cancel, "cancel_requires_active"),
    "double_partial_cancel_of_the_same_child": (
        lambda c: _cancel(c, wh=10),
        lambda c: _cancel(c, wh=5),
        "cancel_requires_active",
    ),
    "cancel_more_than_bundle": (_nothing, lambda c: _cancel(c, wh=1001), "cancel_exceeds_bundle"),
    "cancel_zero_wh": (_nothing, lambda c: _cancel(c, wh=0), "cancel_exceeds_bundle"),
    "cancel_negative_wh": (_nothing, lambda c: _cancel(c, wh=-3), "cancel_exceeds_bundle"),
    "cancel_more_than_consumption": (
        lambda c: ledger.issue(c, production(("pv1", hour(1), 6000)), NOW),
        lambda c: _cancel(c, start=1001, h=1, wh=5001),
        "cancel_exceeds_consumption",
    ),
    "cancel_more_than_remaining_consumption": (
        lambda c: (
            ledger.issue(c, production(("pv1", hour(1), 6000)), NOW),
            _cancel(c, start=1001, h=1, wh=4500),
        ),
        lambda c: _cancel(c, start=5501, h=1, wh=501),
        "cancel_exceeds_consumption",
    ),
    "cancel_in_wrong_hour": (_nothing, lambda c: _cancel(c, h=1), "cancel_hour_mismatch"),
    "cancel_in_wrong_zone_of_the_site": (
        _nothing,
        lambda c: _cancel(c, zone="FR"),
        "cancel_zone_mismatch",
    ),
    "cancel_against_a_site_in_another_zone": (
        _nothing,
        lambda c: _cancel(c, device="pv3", site="s1", zone="DE"),
        "cancel_zone_mismatch",
    ),
    "cancel_without_metered_consumption_of_the_site": (
        _nothing,
        lambda c: _cancel(c, site="s2", zone="DE"),
        "no_metered_consumption",
    ),
    "cancel_in_an_hour_without_consumption": (
        lambda c: ledger.issue(c, production(("pv1", hour(10), 5)), NOW),
        lambda c: _cancel(c, start=1001, h=10),
        "no_metered_consumption",
    ),
    "cancel_after_expiry_sweep": (
        lambda c: ledger.expire(c, EXPIRY),
        lambda c: _cancel(c, now=EXPIRY),
        "cancel_requires_active",
    ),
    "cancel_after_use_by_before_sweep": (
        _nothing,
        lambda c: _cancel(c, now=USE_BY + timedelta(seconds=1)),
        "cancel_after_use_by",
    ),
    "cancel_after_expiry_without_sweep": (
        _nothing,
        lambda c: _cancel(c, now=EXPIRY + timedelta(days=1)),
        "cancel_after_use_by",
    ),
    "cancel_claimed": (
        lambda c: (_cancel(c), ledger.claim(c, find_bundle(c), NOW)),
        _cancel,
        "cancel_requires_active",
    ),
    "cancel_stored": (
        lambda c: ledger.store(c, find_bundle(c), "bat", NOW),
        _cancel,
        "cancel_requires_active",
    ),
    "cancel_withdrawn": (
        lambda c: ledger.withdraw(c, find_bundle(c), NOW),
        _cancel,
        "cancel_requires_active",
    ),
    "transfer_cancelled": (
        _cancel,
        lambda c: ledger.transfer(c, find_bundle(c), "acc9", LATER),
        "transfer_requires_active",
    ),
    "transfer_part_of_cancelled": (
        _cancel,
        lambda c: ledger.transfer(c, find_bundle(c), "acc9", LATER, wh=1),
        "transfer_requires_active",
    ),
    "transfer_expired": (
        lambda c: ledger.expire(c, EXPIRY),
        lambda c: ledger.transfer(c, find_bundle(c), "acc9", EXPIRY),
        "transfer_requires_active",
    ),
    "transfer_withdrawn": (
        lambda c: ledger.withdraw(c, find_bundle(c), NOW),
        lambda c: ledger.transfer(c, find_bundle(c), "acc9", LATER),
        "transfer_requires_active",
    ),
    "transfer_more_than_bundle": (
        _nothing,
        lambda c: ledger.transfer(c, find_bundle(c), "acc9", LATER, wh=1001),
        "transfer_exceeds_bundle",
    ),
    "transfer_bundles_with_an_unknown_id": (
        _nothing,
        lambda c: ledger.transfer_bundles(c, [find_bundle(c), 999], "acc9", LATER),
        "unknown_bundle",
    ),
    "transfer_unknown_bundle": (
        _nothing,
        lambda c: ledger.transfer(c, 999, "acc9", LATER, wh=1),
        "unknown_bundle",
    ),
    "same_bundle_twice_in_one_batch": (
        _nothing,
        lambda c: ledger.apply(
            c,
            "transfer",
            pl.DataFrame(
                {
                    "bundle_id": [find_bundle(c)] * 2,
                    "take_wh": [1, 2],
                    "to_account_id": ["acc9"] * 2,
                }
            ),
            LATER,
        ),
        "bundle_twice_in_batch",
    ),
    "reissue_hour_in_a_later_call": (
        _nothing,
        lambda c: ledger.issue(c, production(("pv1", hour(0), 1000)), LATER),
        "issue_once",
    ),
    "reissue_hour_with_other_rows": (
        _nothing,
        lambda c: ledger.issue(c, production(("pv1", hour(1), 5), ("pv2", hour(0), 1)), LATER),
        "issue_once",
    ),
    "issue_hour_twice_in_one_batch": (
        _nothing,
        lambda c: ledger.issue(c, production(("pv1", hour(1), 5), ("pv1", hour(1), 7)), NOW),
        "issue_once",
    ),
    "issue_above_metered": (
        _nothing,
        lambda c: ledger.issue(c, production(("pv1", hour(1), 100, 101)), NOW),
        "issuance_cap",
    ),
    "issue_above_capacity_cap": (
        _nothing,
        lambda c: ledger.issue(c, production(("pv1", hour(1), 11_001)), NOW),
        "capacity_cap",
    ),
    "issue_for_unknown_device": (
        _nothing,
        lambda c: ledger.issue(c, production(("pv1", hour(1), 5), ("ghost", hour(1), 5)), NOW),
        "unknown_device",
    ),
    "issue_off_the_hour": (
        _nothing,
        lambda c: ledger.issue(c, production(("pv1", hour(1) + timedelta(minutes=15), 5)), NOW),
        "not_an_hour",
    ),
    "issue_from_storage_for_a_pv_device": (
        _nothing,
        lambda c: ledger.issue(c, production(("pv1", hour(1), 5)), NOW, from_storage=True),
        "unknown_storage",
    ),
    "claim_active": (
        _nothing,
        lambda c: ledger.claim(c, find_bundle(c), NOW),
        "claim_requires_cancelled",
    ),
    "claim_twice": (
        lambda c: (_cancel(c), ledger.claim(c, find_bundle(c), NOW)),
        lambda c: ledger.claim(c, find_bundle(c), LATER),
        "claim_requires_cancelled",
    ),
    "claim_expired": (
        lambda c: ledger.expire(c, EXPIRY),
        lambda c: ledger.claim(c, find_bundle(c), EXPIRY),
        "claim_requires_cancelled",
    ),
    "withdraw_expired": (
        lambda c: ledger.expire(c, EXPIRY),
        lambda c: ledger.withdraw(c, find_bundle(c), EXPIRY),
        "withdraw_requires_active",
    ),
    "withdraw_withdrawn": (
        lambda c: ledger.withdraw(c, find_bundle(c), NOW),
        lambda c: ledger.withdraw(c, find_bundle(c), LATER),
        "withdraw_requires_active",
    ),
    "store_into_unknown_storage": (
        _nothing,
        lambda c: ledger.store(c, find_bundle(c), "pv2", NOW, wh=5),
        "unknown_storage",
    ),
    "store_cancelled": (
        _cancel,
        lambda c: ledger.store(c, find_bundle(c), "bat", NOW),
        "store_requires_active",
    ),
    "demand_twice_for_one_account_hour_and_zone": (
        _nothing,
        lambda c: ledger.cancel_for_consumption(
            c,
            demand(("acc1", "s1", hour(0), "DE", 5), ("acc1", "s1", hour(0), "DE", 6)),
            NOW,
        ),
        "demand_twice_in_batch",
    ),
    "cancel_for_consumption_beyond_consumption": (
        lambda c: ledger.issue(c, production(("pv3", hour(1), 3000)), NOW),
        lambda c: ledger.cancel_for_consumption(
            c, demand(("acc2", "s2", hour(1), "FR", 2500)), NOW
        ),
        "cancel_exceeds_consumption",
    ),
    "consumption_revised_below_cancelled": (
        lambda c: _cancel(c, wh=300),
        lambda c: ledger.record_consumption(
            c,
            pl.DataFrame(
                {"site_id": ["s1"], "hour_utc": [hour(0)], "zone": ["DE"], "metered_wh": [299.5]}
            ),
        ),
        "cancel_exceeds_consumption",
    ),
}


@pytest.mark.parametrize(("setup", "operation", "rule"), ADVERSARIAL.values(), ids=ADVERSARIAL)
def test_rejected_operation_names_rule_and_leaves_ledger_unchanged(issued, setup, operation, rule):
    setup(issued)
    assert audit.invariant_violations(issued) == []
    with rejected(issued, rule):
        operation(issued)


def test_rule_error_message_starts_with_the_rule(issued):
    with pytest.raises(LedgerRuleError, match=r"^cancel_hour_mismatch: bundle \d+ was produced"):
        _cancel(issued, h=1)


def test_cancel_exactly_at_use_by_is_allowed(issued):
    assert _cancel(issued, now=USE_BY) == 1000


def test_expire_sweeps_only_active_bundles_due(issued):
    _cancel(issued, device="pv2")
    ledger.transfer(issued, find_bundle(issued, "pv1"), "acc3", NOW, wh=100)
    ledger.issue(issued, production(("pv1", hour(1), 10)), NOW)  # same expiry, later hour
    assert ledger.expire(issued, EXPIRY - timedelta(seconds=1)) == 0
    # pv1 hour 0 (two children) and pv3 expire; pv2 is cancelled, pv1 hour 1 is an hour later
    assert ledger.expire(issued, EXPIRY) == 1000 + 500
    assert bundle_rows(issued) == [
        ("pv1", 1, 100, "expired", "acc3"),
        ("pv1", 101, 1000, "expired", "acc1"),
        ("pv1", 1001, 1010, "active", "acc1"),
        ("pv2", 1, 800, "cancelled", "acc1"),
        ("pv3", 1, 500, "expired", "acc2"),
    ]
    assert ledger.expire(issued, EXPIRY) == 0
    assert ledger.expire(issued, EXPIRY + timedelta(hours=1)) == 10
    expire_events = audit.events(issued).filter(pl.col("event_type") == "expire")
    assert expire_events.height == 4
    assert set(expire_events["status"]) == {"expired"}


# --- splits --------------------------------------------------------------------------------


SPLIT_ACTIONS = {
    "transfer": (
        lambda c, b, k: ledger.transfer(c, b, "acc9", LATER, wh=k),
        ("active", "acc9"),
    ),
    "cancel": (
        lambda c, b, k: ledger.cancel(c, b, "s1", hour(0), "DE", LATER, wh=k),
        ("cancelled", "acc1"),
    ),
    "store": (lambda c, b, k: ledger.store(c, b, "bat", LATER, wh=k), ("stored", "acc1")),
}


@pytest.mark.parametrize("k", [1, 2, 499, 500, 998, 999])
@pytest.mark.parametrize("action", SPLIT_ACTIONS)
def test_partial_operation_splits_into_exact_children(issued, action, k):
    act, (status, account) = SPLIT_ACTIONS[action]
    parent = find_bundle(issued, "pv1", 1)
    n_events = audit.events(issued).height
    assert act(issued, parent, k) == k
    # the part acted on first: [s, s + k - 1], then the rest [s + k, e]
    assert [r for r in bundle_rows(issued) if r[0] == "pv1"] == [
        ("pv1", 1, k, status, account),
        ("pv1", k + 1, 1000, "active", "acc1"),
    ]
    b = audit.bundles(issued).filter(pl.col("device_id") == "pv1")
    assert parent not in b["bundle_id"].to_list()
    taken, rest = b["bundle_id"].to_list()
    assert b["quantity_wh"].to_list() == [k, 1000 - k]
    new = audit.events(issued).slice(n_events)
    assert new.select("event_type", "bundle_id", "parent_bundle_id", "range_start", "range_end")[
        :2
    ].rows() == [("split", taken, parent, 1, k), ("split", rest, parent, k + 1, 1000)]
    assert new.select("event_type", "bundle_id", "range_start", "range_end")[2:].rows() == [
        (action, taken, 1, k)
    ]
    # union of the children is the parent, without overlap or gap
    ids = [i for s, e in ranges(issued, "pv1") for i in range(s, e + 1)]
    assert ids == list(range(1, 1001))
    # other attributes carry over to both children
    keep = ["zone", "production_hour_utc", "use_by_utc", "expires_at_utc", "issued_at_utc"]
    assert b.select(keep).unique().height == 1
    assert audit.invariant_violations(issued) == []


@pytest.mark.parametrize("action", SPLIT_ACTIONS)
def test_whole_operation_keeps_the_bundle(issued, action):
    act, (status, account) = SPLIT_ACTIONS[action]
    parent = find_bundle(issued, "pv1", 1)
    assert act(issued, parent, 1000) == 1000
    assert [r for r in bundle_rows(issued) if r[0] == "pv1"] == [("pv1", 1, 1000, status, account)]
    assert find_bundle(issued, "pv1", 1) == parent
    assert "split" not in audit.events(issued)["event_type"].to_list()


def test_split_of_a_child_keeps_exact_ranges(issued):
    ledger.transfer(issued, find_bundle(issued, "pv2", 1), "acc3", NOW, wh=300)
    rest = find_bundle(issued, "pv2", 301)
    assert ledger.cancel(issued, rest, "s1", hour(0), "DE", LATER, wh=200) == 200
    assert ranges(issued, "pv2") == [(1, 300), (301, 500), (501, 800)]
    assert [r[3:] for r in bundle_rows(issued) if r[0] == "pv2"] == [
        ("active", "acc3"),
        ("cancelled", "acc1"),
        ("active", "acc1"),
    ]
    splits = audit.events(issued).filter(
        (pl.col("event_type") == "split") & (pl.col("parent_bundle_id") == rest)
    )
    assert splits.select("range_start", "range_end").rows() == [(301, 500), (501, 800)]
    # and a 1 Wh split at the very end of a child
    last = find_bundle(issued, "pv2", 501)
    ledger.transfer(issued, last, "acc4", LATER, wh=299)
    assert ranges(issued, "pv2")[-2:] == [(501, 799), (800, 800)]
    assert audit.invariant_violations(issued) == []


def test_cancel_records_beneficiary_and_claim_follows(issued):
    b = find_bundle(issued, "pv1")
    assert ledger.cancel(issued, b, "s1", hour(0), "DE", LATER, wh=250) == 250
    row = audit.bundles(issued).filter(pl.col("bundle_id") != b).row(0, named=True)
    assert (row["range_start"], row["range_end"], row["status"]) == (1, 250, "cancelled")
    assert row["beneficiary_site_id"] == "s1"
    assert row["consumption_hour_utc"] == hour(0)
    assert row["consumption_zone"] == "DE"
    assert row["cancelled_at_utc"] == LATER
    assert cancelled_wh(issued, "s1", hour(0)) == 250
    cancel_event = audit.events(issued).filter(pl.col("event_type") == "cancel").row(0, named=True)
    assert cancel_event["beneficiary_site_id"] == "s1"
    assert cancel_event["consumption_hour_utc"] == hour(0)

    assert ledger.claim(issued, row["bundle_id"], LATER) == 250
    assert bundle_rows(issued)[0] == ("pv1", 1, 250, "claimed", "acc1")
    assert audit.events(issued)["event_type"].to_list()[-1] == "claim"
    # a claimed bundle still counts against the site's consumption
    assert cancelled_wh(issued, "s1", hour(0)) == 250
    assert audit.invariant_violations(issued) == []


# --- storage -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("efficiency", "charged", "cap"),
    [
        (EFFICIENCY, 90, 63),  # 90 × 0.7 is 62.99999999999999 in binary floating point
        (EFFICIENCY, 100, 70),
        (0.9, 1000, 900),
        (0.29, 100, 29),
        (0.85, 1, 0),
        (1.0, 17, 17),
        (0.5, 999, 499),
    ],
)
def test_storage_discharge_is_capped_at_floor_of_charged_times_efficiency(
    issued, efficiency, charged, cap
):
    store_device = "bat" if efficiency == EFFICIENCY else "bat2"
    if store_device == "bat2":
        ledger.register_devices(
            issued,
            pl.DataFrame(
                {
                    "device_id": ["bat2"],
                    "site_id": ["s1"],
                    "zone": ["DE"],
                    "technology": ["battery"],
                    "energy_source": ["storage"],
                    "capacity_w": [5_000],
                    "account_id": ["acc1"],
                }
            ),
        )
        ledger.register_storage(issued, "bat2", efficiency)
    ledger.store(issued, find_bundle(issued, "pv1"), store_device, NOW, wh=charged)
    assert storage_counters(issued, store_device) == (charged, 0)
    with rejected(issued, "storage_cap"):
        ledger.issue(issued, production((store_device, hour(1), cap + 1)), NOW, from_storage=True)
    if cap:
        assert (
            ledger.issue(issued, production((store_device, hour(1), cap)), NOW, from_storage=True)
            == 1
        )
    assert storage_counters(issued, store_device) == (charged, cap)
    with rejected(issued, "storage_cap"):
        ledger.issue(issued, production((store_device, hour(2), 1)), NOW, from_storage=True)
    assert audit.invariant_violations(issued) == []


def test_storage_cap_grows_with_more_charge_and_discharge_is_flagged(issued):
    ledger.store(issued, find_bundle(issued, "pv1"), "bat", NOW, wh=90)
    ledger.issue(issued, production(("bat", hour(1), 60)), NOW, from_storage=True)
    ledger.store(issued, find_bundle(issued, "pv2"), "bat", NOW, wh=10)
    assert storage_counters(issued) == (100, 60)
    with rejected(issued, "storage_cap"):
        ledger.issue(issued, production(("bat", hour(2), 11)), NOW, from_storage=True)
    assert ledger.issue(issued, production(("bat", hour(2), 10)), NOW, from_storage=True) == 1
    assert storage_counters(issued) == (100, 70)
    b = audit.bundles(issued).filter(pl.col("device_id") == "bat")
    assert b.select("range_start", "range_end").rows() == [(1, 60), (61, 70)]
    assert b["from_storage"].to_list() == [True, True]
    assert audit.events(issued).filter(pl.col("device_id") == "bat")["from_storage"].all()
    stored = audit.bundles(issued).filter(pl.col("status") == "stored")
    assert stored.select("device_id", "range_start", "range_end", "storage_device_id").rows() == [
        ("pv1", 1, 90, "bat"),
        ("pv2", 1, 10, "bat"),
    ]
    # stored certificates are out of circulation
    with rejected(issued, "transfer_requires_active"):
        ledger.transfer(issued, find_bundle(issued, "pv1"), "acc9", LATER)
    assert audit.invariant_violations(issued) == []


def test_storage_discharge_in_one_batch_counts_every_row(issued):
    ledger.store(issued, find_bundle(issued, "pv1"), "bat", NOW, wh=100)  # cap 70
    with rejected(issued, "storage_cap"):
        ledger.issue(
            issued, production(("bat", hour(1), 40), ("bat", hour(2), 31)), NOW, from_storage=True
        )
    assert (
        ledger.issue(
            issued, production(("bat", hour(1), 40), ("bat", hour(2), 30)), NOW, from_storage=True
        )
        == 2
    )
    assert storage_counters(issued) == (100, 70)


# --- transfer outbox -----------------------------------------------------------------------


def test_transfers_write_outbox_rows_and_mark_delivered(issued):
    pv1, pv2, pv3 = (find_bundle(issued, d) for d in ("pv1", "pv2", "pv3"))
    ledger.transfer(issued, pv1, "acc9", NOW, wh=100)
    assert ledger.transfer_bundles(issued, [pv2, pv3], "acc8", LATER) == 1300
    _cancel(issued, start=101)  # a cancel is no transfer
    pending = audit.pending_transfers(issued)
    cols = ["transfer_id", "from_account_id", "to_account_id", "device_id", "range_start"]
    assert pending.select(*cols, "range_end", "quantity_wh").rows() == [
        (1, "acc1", "acc9", "pv1", 1, 100, 100),
        (2, "acc1", "acc8", "pv2", 1, 800, 800),
        (3, "acc2", "acc8", "pv3", 1, 500, 500),
    ]
    assert pending["recorded_at_utc"].to_list() == [NOW, LATER, LATER]
    events = audit.events(issued).filter(pl.col("event_type") == "transfer")
    assert pending["event_id"].to_list() == events["event_id"].to_list()
    assert pending["bundle_id"].to_list() == events["bundle_id"].to_list()
    assert pending["zone"].to_list() == ["DE", "DE", "FR"]

    delivered_at = LATER + timedelta(hours=1)
    assert audit.mark_delivered(issued, [1, 3, 99], delivered_at) == 2
    assert audit.pending_transfers(issued)["transfer_id"].to_list() == [2]
    assert audit.mark_delivered(issued, [1, 2], delivered_at + timedelta(hours=1)) == 1
    assert audit.pending_transfers(issued).height == 0
    (first_delivery,) = issued.execute(
        "SELECT delivered_at_utc FROM go_transfer_outbox WHERE transfer_id = 1"
    ).fetchall()[0]
    assert first_delivery == delivered_at  # delivering twice keeps the first time


def test_rejected_transfer_writes_no_outbox_row(issued):
    _cancel(issued)
    with rejected(issued, "transfer_requires_active"):
        ledger.transfer_bundles(
            issued, [find_bundle(issued, "pv2"), find_bundle(issued, "pv1")], "acc9", LATER
        )
    assert audit.pending_transfers(issued).height == 0


# --- cancel_for_consumption ----------------------------------------------------------------


def test_cancel_for_consumption_allocates_across_bundles_and_devices(issued):
    # pv1 hour 0 in two bundles of acc1, pv2 hour 0 one bundle of acc1
    ledger.transfer(issued, find_bundle(issued, "pv1"), "acc1", NOW, wh=300)
    ledger.issue(issued, production(("pv1", hour(1), 50)), NOW)  # other hour: untouched
    n = ledger.cancel_for_consumption(issued, demand(("acc1", "s1", hour(0), "DE", 1200.9)), LATER)
    assert n == 1200
    assert bundle_rows(issued) == [
        ("pv1", 1, 300, "cancelled", "acc1"),
        ("pv1", 301, 1000, "cancelled", "acc1"),
        ("pv1", 1001, 1050, "active", "acc1"),
        ("pv2", 1, 200, "cancelled", "acc1"),
        ("pv2", 201, 800, "active", "acc1"),
        ("pv3", 1, 500, "active", "acc2"),
    ]
    assert cancelled_wh(issued, "s1", hour(0)) == 1200
    b = audit.bundles(issued).filter(pl.col("status") == "cancelled")
    assert set(b["beneficiary_site_id"]) == {"s1"}
    assert set(b["consumption_hour_utc"]) == {hour(0)}
    assert audit.invariant_violations(issued) == []


def test_cancel_for_consumption_stops_at_available_certificates(issued):
    ledger.transfer(issued, find_bundle(issued, "pv2"), "acc3", NOW, wh=100)  # not acc1's
    n = ledger.cancel_for_consumption(
        issued,
        demand(("acc1", "s1", hour(0), "DE", 4000), ("acc2", "s2", hour(0), "FR", 120)),
        LATER,
    )
    assert n == 1000 + 700 + 120
    assert bundle_rows(issued) == [
        ("pv1", 1, 1000, "cancelled", "acc1"),
        ("pv2", 1, 100, "active", "acc3"),
        ("pv2", 101, 800, "cancelled", "acc1"),
        ("pv3", 1, 120, "cancelled", "acc2"),
        ("pv3", 121, 500, "active", "acc2"),
    ]
    assert cancelled_wh(issued, "s1", hour(0)) == 1700
    assert cancelled_wh(issued, "s2", hour(0)) == 120
    # nothing left to cancel: a no-op
    before = audit.fingerprint(issued)
    assert (
        ledger.cancel_for_consumption(issued, demand(("acc1", "s1", hour(0), "DE", 10)), LATER) == 0
    )
    assert audit.fingerprint(issued) == before


@pytest.mark.parametrize(
    ("row", "now"),
    [
        (("acc1", "s1", hour(1), "DE", 100), NOW),  # no certificates in that hour
        (("acc1", "s1", hour(0), "FR", 100), NOW),  # none in that zone
        (("acc9", "s1", hour(0), "DE", 100), NOW),  # none of that account
        (("acc1", "s1", hour(0), "DE", 0.9), NOW),  # rounds to nothing
        (("acc1", "s1", hour(0), "DE", 100), USE_BY + timedelta(seconds=1)),  # past use-by
    ],
)
def test_cancel_for_consumption_without_matching_certificates_does_nothing(issued, row, now):
    before = audit.fingerprint(issued)
    assert ledger.cancel_for_consumption(issued, demand(row), now) == 0
    assert audit.fingerprint(issued) == before


# --- concurrency ---------------------------------------------------------------------------


def _race(con, monkeypatch, operations):
    """Run operations on separate cursors in threads, all past their checks before any writes."""
    gate = threading.Barrier(len(operations), timeout=30)
    checks = ledger._check_allocations

    def checked_then_wait(*args, **kwargs):
        checks(*args, **kwargs)
        gate.wait()

    monkeypatch.setattr(ledger, "_check_allocations", checked_then_wait)
    cursors = [con.cursor() for _ in operations]
    outcome: list = [None] * len(operations)

    def run(i):
        try:
            outcome[i] = operations[i](cursors[i])
        except LedgerRuleError as ex:
            outcome[i] = ex

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(operations))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    monkeypatch.undo()
    for c in cursors:
        c.close()
    return outcome


@pytest.mark.parametrize("backend", ["memory", "file"])
@pytest.mark.parametrize(("wh1", "wh2"), [(None, None), (10, 10), (None, 10), (10, 1000)])
def test_concurrent_cancels_of_the_same_wh_cannot_both_succeed(
    request, monkeypatch, backend, wh1, wh2
):
    con = request.getfixturevalue("con" if backend == "memory" else "file_con")
    ledger.issue(con, production(("pv1", hour(0), 1000)), NOW)
    b = find_bundle(con)
    outcome = _race(
        con,
        monkeypatch,
        [
            lambda cur: ledger.cancel(cur, b, "s1", hour(0), "DE", LATER, wh=wh1),
            lambda cur: ledger.cancel(cur, b, "s1", hour(0), "DE", LATER, wh=wh2),
        ],
    )
    won = [o for o in outcome if isinstance(o, int)]
    lost = [o for o in outcome if isinstance(o, Exception)]
    assert len(won) == 1 and len(lost) == 1, outcome
    assert isinstance(lost[0], LedgerConflictError)
    assert lost[0].rule == "concurrent_change"
    assert audit.invariant_violations(con) == []
    assert cancelled_wh(con, "s1", hour(0)) == won[0]
    cancelled = audit.bundles(con).filter(pl.col("status") == "cancelled")
    assert cancelled["quantity_wh"].sum() == won[0]
    assert audit.events(con).filter(pl.col("event_type") == "cancel").height == 1


def test_concurrent_cancels_of_different_bundles_cannot_overrun_consumption(con, monkeypatch):
    # s2 consumed 2000 Wh in hour 1; two bundles of 1500 Wh each fit alone, not together
    ledger.issue(con, production(("pv3", hour(1), 3000)), NOW)
    ledger.transfer(con, find_bundle(con, "pv3"), "acc2", NOW, wh=1500)
    first, second = find_bundle(con, "pv3", 1), find_bundle(con, "pv3", 1501)
    outcome = _race(
        con,
        monkeypatch,
        [
            lambda cur: ledger.cancel(cur, first, "s2", hour(1), "FR", LATER),
            lambda cur: ledger.cancel(cur, second, "s2", hour(1), "FR", LATER),
        ],
    )
    assert sorted(isinstance(o, int) for o in outcome) == [False, True], outcome
    assert isinstance([o for o in outcome if not isinstance(o, int)][0], LedgerRuleError)
    assert cancelled_wh(con, "s2", hour(1)) == 1500
    assert audit.invariant_violations(con) == []


@pytest.mark.parametrize("backend", ["memory", "file"])
def test_cancel_committed_inside_another_cancels_transaction_wins(request, monkeypatch, backend):
    """Deterministic interleaving: A checks, B cancels and commits, then A writes."""
    con = request.getfixturevalue("con" if backend == "memory" else "file_con")
    ledger.issue(con, production(("pv1", hour(0), 1000)), NOW)
    b = find_bundle(con)
    a_cur, b_cur = con.cursor(), con.cursor()
    checks = ledger._check_allocations
    interleaved = []

    def checks_then_other_commits(cur, *args, **kwargs):
        checks(cur, *args, **kwargs)
        if cur is a_cur and not interleaved:
            interleaved.append(ledger.cancel(b_cur, b, "s1", hour(0), "DE", LATER, wh=400))

    monkeypatch.setattr(ledger, "_check_allocations", checks_then_other_commits)
    with pytest.raises(LedgerConflictError):
        ledger.cancel(a_cur, b, "s1", hour(0), "DE", LATER)
    monkeypatch.undo()
    assert interleaved == [400]
    assert ranges(con, "pv1") == [(1, 400), (401, 1000)]
    assert cancelled_wh(con, "s1", hour(0)) == 400
    assert audit.invariant_violations(con) == []
    # A's transaction is closed: the cursor works again and sees B's commit
    with rejected(con, "cancel_requires_active"):
        ledger.cancel(a_cur, find_bundle(con), "s1", hour(0), "DE", LATER)


def test_cursors_with_explicit_transactions_conflict_on_the_same_bundle(file_con):
    ledger.issue(file_con, production(("pv1", hour(0), 1000)), NOW)
    b = find_bundle(file_con)
    a, c = file_con.cursor(), file_con.cursor()
    a.begin()
    c.begin()
    # both see the bundle active in their snapshots
    sql = "SELECT status FROM go_bundles WHERE bundle_id = ?"
    assert a.execute(sql, [b]).fetchall()[0] == c.execute(sql, [b]).fetchall()[0] == ("active",)
    cancel_sql = (
        "UPDATE go_bundles SET status = 'cancelled', beneficiary_site_id = 's1', "
        "consumption_hour_utc = production_hour_utc, consumption_zone = zone, "
        "cancelled_at_utc = ? WHERE bundle_id = ? AND status = 'active'"
    )
    a.execute(cancel_sql, [LATER, b])
    a.commit()
    import duckdb

    with pytest.raises(duckdb.TransactionException):
        c.execute(cancel_sql, [LATER, b])
    c.rollback()
    assert bundle_rows(file_con) == [("pv1", 1, 1000, "cancelled", "acc1")]


def test_concurrent_issues_of_the_same_hour_cannot_both_succeed(con, monkeypatch):
    gate = threading.Barrier(2, timeout=30)
    fail_if = ledger._fail_if

    def checked_then_wait(cur, rule, *args, **kwargs):
        fail_if(cur, rule, *args, **kwargs)
        if rule == "issue_once":  # the last check before issue writes
            gate.wait()

    monkeypatch.setattr(ledger, "_fail_if", checked_then_wait)
    cursors = [con.cursor(), con.cursor()]
    outcome: list = [None, None]

    def run(i):
        try:
            outcome[i] = ledger.issue(cursors[i], production(("pv1", hour(0), 100 + i)), NOW)
        except LedgerRuleError as ex:
            outcome[i] = ex

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    monkeypatch.undo()
    assert sorted(isinstance(o, int) for o in outcome) == [False, True], outcome
    assert con.execute("SELECT count(*) FROM go_issuances").fetchall()[0][0] == 1
    assert len(ranges(con, "pv1")) == 1
    assert audit.invariant_violations(con) == []
