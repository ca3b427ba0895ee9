"""Random operation sequences against the ledger, checked against a plain Python model.

Every step predicts which rules the operation breaks: the ledger must accept it exactly when
none is broken, reject it naming one of them otherwise, and a rejection must leave the ledger
byte for byte unchanged. After every step the ledger's invariants are checked, both with
``audit.invariant_violations`` and independently in Python over the current bundles.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import polars as pl
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pipelines.certificates import audit, ledger
from pipelines.certificates.rules import LedgerRuleError
from tests.pipelines.certificates.conftest import (
    CONSUMPTION_WH,
    DEVICES,
    NOW,
    hour,
    new_ledger,
    production,
)

# CI runs 250 random sequences (about 2 min); `make fuzz-long` runs 3,000.
EXAMPLES = int(os.environ.get("LEDGER_STATEFUL_EXAMPLES", "250"))
STEPS = int(os.environ.get("LEDGER_STATEFUL_STEPS", "12"))

HOURS = 5  # hour 4 has no metered consumption
ZONES = ["DE", "FR", "NL"]
SITES = ["s1", "s2", "s9"]
ACCOUNTS = ["acc1", "acc2", "acc3"]
DEVICE = {r["device_id"]: (r["zone"], r["account_id"], r["capacity_w"]) for r in DEVICES.to_dicts()}
PV = ["pv1", "pv2", "pv3"]
# site -> (zone, metered Wh) in each of the first HOURS - 1 hours
SITE = {site: (zone, wh) for (site, zone), wh in CONSUMPTION_WH.items()}
DEVICE_ZONE = {d: z for d, (z, _, _) in DEVICE.items()}
EFFICIENCY_TENTHS = 7  # the fixture battery's 0.7, kept exact for the model


def add_months(t: datetime, months: int) -> datetime:
    """``t`` plus whole months (the fixture hours are on the 1st, so no clamping)."""
    month = t.month - 1 + months
    return t.replace(year=t.year + month // 12, month=month % 12 + 1)


@dataclass(frozen=True)
class Bundle:
    end: int
    status: str
    account: str
    hour: datetime
    from_storage: bool


_template = new_ledger()
# one DuckDB thread: these statements are tiny, and the run is a third faster without
# thread hand-offs (the concurrency tests in test_ledger.py use their own connections)
_template.execute("SET threads = 1")
_EMPTY = audit.fingerprint(_template)


def fresh_ledger():
    """The fixture ledger, emptied: far cheaper than creating one per example.

    Bundle and event ids keep counting across examples; the model never relies on them.
    """
    con = _template
    con.execute(
        "BEGIN; DELETE FROM go_issuances; DELETE FROM go_bundles; DELETE FROM go_ledger_events; "
        "DELETE FROM go_transfer_outbox; UPDATE go_devices SET next_cert_id = 1; "
        "UPDATE go_consumption SET cancelled_wh = 0, metered_wh = CASE site_id "
        + " ".join(f"WHEN '{site}' THEN {wh}" for site, (_, wh) in SITE.items())
        + " END; "
        "UPDATE go_storage SET charged_wh = 0, discharged_wh = 0; COMMIT"
    )
    assert audit.fingerprint(con) == _EMPTY
    return con


class LedgerMachine(RuleBasedStateMachine):
    """The ledger next to a model of bundles, issuances, consumption and storage."""

    def __init__(self):
        super().__init__()
        self.con = fresh_ledger()
        self.now = NOW
        # (device, range_start) -> Bundle
        self.bundles: dict[tuple[str, int], Bundle] = {}
        self.next_id = {d: 1 for d in DEVICE}
        self.issued: dict[tuple[str, datetime], int] = {}
        self.metered: dict[tuple[str, datetime], float] = {}
        self.cancelled = defaultdict(int)  # (site, hour) -> Wh
        self.consumption_wh = {  # (site, hour) -> metered Wh
            (site, hour(i)): wh for site, (_, wh) in SITE.items() for i in range(HOURS - 1)
        }
        self.charged = 0
        self.discharged = 0
        # bumped by every change; a rejected step changes nothing (its fingerprint is
        # compared), so an invariant checked at this version needs no second look
        self.version = 0
        self.checked: dict[str, int] = {}
        self._fingerprint: tuple = (-1, ())

    # --- helpers -----------------------------------------------------------------------

    def attempt(self, broken: set[str], operation, noop: bool = False):
        """Run ``operation``; it must fail with a rule in ``broken`` exactly when that is set.

        A rejected operation, and an accepted one the model says acts on nothing (``noop``),
        must leave the ledger unchanged.
        """
        before = self.fingerprint() if broken or noop else None
        try:
            result = operation()
        except LedgerRuleError as ex:
            assert broken, f"rejected an allowed operation: {ex}"
            assert ex.rule in broken, f"{ex.rule} not in expected {broken}: {ex}"
            assert audit.fingerprint(self.con) == before, f"{ex.rule} changed the ledger"
            event(f"rejected: {ex.rule}")
            return None
        assert not broken, f"accepted an operation breaking {broken}"
        if noop:
            assert audit.fingerprint(self.con) == before, "an operation on nothing wrote"
        else:
            self.version += 1
        return result

    def fingerprint(self) -> tuple:
        """``audit.fingerprint`` of the ledger now, taken once per version."""
        if self._fingerprint[0] != self.version:
            self._fingerprint = (self.version, audit.fingerprint(self.con))
        return self._fingerprint[1]

    def stale(self, invariant_name: str) -> bool:
        """Whether an invariant has not yet seen the ledger as it is now."""
        if self.checked.get(invariant_name) == self.version:
            return False
        self.checked[invariant_name] = self.version
        return True

    def pick(self, index: int, prefer: str | None = None) -> tuple[int, tuple[str, int], Bundle]:
        """A current bundle: (bundle_id, model key, model bundle), mostly one in ``prefer``."""
        rows = self.con.execute(
            "SELECT bundle_id, device_id, range_start FROM go_bundles ORDER BY ALL"
        ).fetchall()
        if prefer and index % 4:
            rows = [r for r in rows if self.bundles[r[1:]].status == prefer] or rows
        bundle_id, device, start = rows[index % len(rows)]
        return bundle_id, (device, start), self.bundles[(device, start)]

    def act(self, key, take: int, **changes) -> None:
        """Model a (possibly partial) action on the first ``take`` Wh of a bundle."""
        device, start = key
        b = self.bundles.pop(key)
        if take < b.end - start + 1:
            self.bundles[(device, start + take)] = b
        self.bundles[key] = replace(b, end=start + take - 1, **changes)

    def last_event(self) -> int:
        return self.con.execute(
            "SELECT coalesce(max(event_id), 0) FROM go_ledger_events"
        ).fetchall()[0][0]

    def check_split(self, bundle_id: int, key, take: int, end: int, events_before: int):
        """A partial action logs two split events with the parent id and exact ranges."""
        splits = self.con.execute(
            "SELECT parent_bundle_id, range_start, range_end FROM go_ledger_events "
            "WHERE event_type = 'split' AND event_id > ? ORDER BY event_id",
            [events_before],
        ).fetchall()
        start = key[1]
        if take == end - start + 1:
            assert splits == []
            return
        assert splits == [(bundle_id, start, start + take - 1), (bundle_id, start + take, end)]

    def use_by(self, h: datetime) -> datetime:
        return add_months(h, 12)

    def expires(self, h: datetime) -> datetime:
        return add_months(h, 18)

    def issue_expectation(self, rows, from_storage: bool) -> tuple[set[str], list]:
        """Rules a batch of (device, hour, metered, quantity) rows breaks, and rows to issue."""
        broken = set()
        seen = set()
        issue = []
        for device, h, metered, quantity in rows:
            if device not in DEVICE:
                broken.add("unknown_device")
                continue
            if (device, h) in seen:
                broken.add("issue_once")
            seen.add((device, h))
            q = int(quantity if quantity is not None else metered)
            if q <= 0:
                continue
            if (device, h) in self.issued:
                broken.add("issue_once")
            if q > metered:
                broken.add("issuance_cap")
            if q * 10 > DEVICE[device][2] * 11:  # capacity × 1 h × 1.1, exactly
                broken.add("capacity_cap")
            if from_storage and device != "bat":
                broken.add("unknown_storage")
            issue.append((device, h, metered, q))
        if from_storage:
            total = sum(q for *_, q in issue)
            if self.discharged + total > self.charged * EFFICIENCY_TENTHS // 10:
                broken.add("storage_cap")
        return broken, issue

    def do_issue(self, rows, from_storage: bool):
        broken, issue = self.issue_expectation(rows, from_storage)
        frame = production(*[(d, h, m, q) for d, h, m, q in rows])
        n = self.attempt(
            broken,
            lambda: ledger.issue(self.con, frame, self.now, from_storage=from_storage),
            noop=not issue,
        )
        if n is None:
            return
        assert n == len(issue)
        for device, h, metered, q in sorted(issue):
            start = self.next_id[device]
            self.next_id[device] += q
            self.bundles[(device, start)] = Bundle(
                start + q - 1, "active", DEVICE[device][1], h, from_storage
            )
            self.issued[(device, h)] = q
            self.metered[(device, h)] = metered
        if from_storage:
            self.discharged += sum(q for *_, q in issue)

    # --- rules -------------------------------------------------------------------------

    quantities = st.one_of(
        st.integers(0, 3000).map(float),
        st.integers(0, 3000).map(float),
        st.floats(0, 12_000, allow_nan=False),
        st.floats(0, 2, allow_nan=False),
    )
    rows = st.tuples(
        st.sampled_from([*PV * 4, "ghost"]),
        st.integers(0, HOURS - 1),
        quantities,
        st.one_of(st.none(), st.none(), st.none(), quantities),
    )

    @rule(
        rows=st.lists(rows, min_size=1, max_size=3),
        from_storage=st.sampled_from([False] * 9 + [True]),
    )
    def issue(self, rows, from_storage):
        # from_storage for PV devices is rejected (unknown_storage) unless nothing issues
        self.do_issue([(d, hour(h), m, q) for d, h, m, q in rows], from_storage)

    @precondition(lambda self: self.charged)
    @rule(h=st.integers(0, HOURS - 1), extra=st.integers(-5, 2), fraction=st.floats(0, 0.5))
    def discharge(self, h, extra, fraction):
        """Discharge around what storage still allows: up to 2 Wh more is rejected."""
        available = self.charged * EFFICIENCY_TENTHS // 10 - self.discharged
        metered = float(max(0, available + extra) if fraction < 0.4 else available * fraction)
        self.do_issue([("bat", hour(h), metered, None)], from_storage=True)

    @precondition(lambda self: self.issued)
    @rule(h=st.integers(0, HOURS - 1), metered=st.integers(0, 3000))
    def reissue_known_hour(self, h, metered):
        """Re-issue an hour some device already has: rejected unless it rounds to nothing."""
        device, prev_hour = sorted(self.issued)[h % len(self.issued)]
        self.do_issue([(device, prev_hour, float(metered), None)], device == "bat")

    @precondition(lambda self: self.bundles)
    @rule(
        index=st.integers(0, 10**6),
        wh=st.one_of(st.none(), st.integers(-1, 3000), st.integers(1, 5)),
        to=st.sampled_from(ACCOUNTS),
    )
    def transfer(self, index, wh, to):
        bundle_id, key, b = self.pick(index, "active")
        qty = b.end - key[1] + 1
        take = qty if wh is None else wh
        broken = set()
        if b.status != "active":
            broken.add("transfer_requires_active")
        if take < 1 or take > qty:
            broken.add("transfer_exceeds_bundle")
        events_before = self.last_event()
        done = self.attempt(broken, lambda: ledger.transfer(self.con, bundle_id, to, self.now, wh))
        if done is None:
            return
        assert done == take
        self.act(key, take, account=to)
        self.check_split(bundle_id, key, take, b.end, events_before)
        outbox = audit.pending_transfers(self.con).row(-1, named=True)
        assert (outbox["device_id"], outbox["range_start"], outbox["range_end"]) == (
            key[0],
            key[1],
            key[1] + take - 1,
        )
        assert (outbox["from_account_id"], outbox["to_account_id"]) == (b.account, to)

    def cancel_expectation(self, key, b: Bundle, take: int, site, h, zone) -> set[str]:
        broken = set()
        qty = b.end - key[1] + 1
        if b.status != "active":
            broken.add("cancel_requires_active")
        if take < 1 or take > qty:
            broken.add("cancel_exceeds_bundle")
        if h != b.hour:
            broken.add("cancel_hour_mismatch")
        if zone != DEVICE_ZONE[key[0]]:
            broken.add("cancel_zone_mismatch")
        if self.use_by(b.hour) < self.now:
            broken.add("cancel_after_use_by")
        metered = self.consumption(site, h)
        if metered is None or SITE[site][0] != zone:
            broken.add("no_metered_consumption")
        if metered is not None and self.cancelled[(site, h)] + take > metered:
            broken.add("cancel_exceeds_consumption")
        return broken

    def consumption(self, site: str, h: datetime) -> float | None:
        """The site's metered consumption in hour ``h``, if any was recorded."""
        return self.consumption_wh.get((site, h))

    @precondition(lambda self: self.bundles)
    @rule(
        index=st.integers(0, 10**6),
        wh=st.one_of(st.none(), st.integers(1, 3000), st.integers(1, 5)),
        flaw=st.sampled_from([None] * 4 + ["hour", "zone", "site", "wh", "random"]),
        site=st.sampled_from(SITES),
        h=st.integers(0, HOURS - 1),
        zone=st.sampled_from(ZONES),
    )
    def cancel(self, index, wh, flaw, site, h, zone):
        """Mostly a valid cancel or one with a single flaw; sometimes anything."""
        bundle_id, key, b = self.pick(index, "active")
        qty = b.end - key[1] + 1
        at, wh = b.hour, None if wh is None else min(wh, qty)
        if flaw == "random":
            at = hour(h)
        else:
            zone = DEVICE_ZONE[key[0]]
            if flaw == "hour":  # another hour with consumption
                own = (b.hour - hour(0)) // timedelta(hours=1)
                at = hour((own + 1 + h % (HOURS - 2)) % (HOURS - 1))
            elif flaw == "zone":  # a site consuming in another zone
                zone = next(z for z, _ in SITE.values() if z != zone)
            elif flaw == "wh":
                wh = [0, -1, qty + 1][index % 3]
            consumers = [s for s, (z, _) in SITE.items() if z == zone]
            site = "s9" if flaw == "site" or not consumers else consumers[0]
        take = qty if wh is None else wh
        broken = self.cancel_expectation(key, b, take, site, at, zone)
        events_before = self.last_event()
        done = self.attempt(
            broken, lambda: ledger.cancel(self.con, bundle_id, site, at, zone, self.now, wh)
        )
        if done is None:
            return
        assert done == take
        self.act(key, take, status="cancelled")
        self.cancelled[(site, at)] += take
        self.check_split(bundle_id, key, take, b.end, events_before)
        row = self.con.execute(
            "SELECT beneficiary_site_id, consumption_hour_utc, consumption_zone, cancelled_at_utc "
            "FROM go_bundles WHERE device_id = ? AND range_start = ?",
            list(key),
        ).fetchall()[0]
        assert row == (site, at, zone, self.now)

    @precondition(lambda self: self.bundles)
    @rule(
        account=st.sampled_from(ACCOUNTS),
        site=st.sampled_from(SITES),
        h=st.integers(0, HOURS - 1),
        zone=st.sampled_from(ZONES),
        wh=st.floats(0, 6000, allow_nan=False),
    )
    def cancel_for_consumption(self, account, site, h, zone, wh):
        at = hour(h)
        want = int(wh)
        plan = []
        for key in sorted(self.bundles):
            b = self.bundles[key]
            if want <= 0:
                break
            if (
                b.status == "active"
                and b.account == account
                and b.hour == at
                and DEVICE_ZONE[key[0]] == zone
                and self.use_by(at) >= self.now
            ):
                take = min(want, b.end - key[1] + 1)
                plan.append((key, take))
                want -= take
        total = sum(t for _, t in plan)
        broken = set()
        if plan:
            metered = self.consumption(site, at)
            if metered is None or SITE[site][0] != zone:
                broken.add("no_metered_consumption")
            if metered is not None and self.cancelled[(site, at)] + total > metered:
                broken.add("cancel_exceeds_consumption")
        frame = pl.DataFrame(
            {"account_id": [account], "site_id": [site], "hour_utc": [at], "zone": [zone]}
        ).with_columns(pl.lit(wh).alias("wh"))
        done = self.attempt(
            broken,
            lambda: ledger.cancel_for_consumption(self.con, frame, self.now),
            noop=not plan,
        )
        if done is None:
            return
        assert done == total
        for key, take in plan:
            self.act(key, take, status="cancelled")
        self.cancelled[(site, at)] += total

    @precondition(lambda self: self.bundles)
    @rule(index=st.integers(0, 10**6))
    def claim(self, index):
        bundle_id, key, b = self.pick(index, "cancelled")
        broken = set() if b.status == "cancelled" else {"claim_requires_cancelled"}
        done = self.attempt(broken, lambda: ledger.claim(self.con, bundle_id, self.now))
        if done is not None:
            assert done == b.end - key[1] + 1
            self.bundles[key] = replace(b, status="claimed")

    @precondition(lambda self: self.bundles)
    @rule(index=st.integers(0, 10**6))
    def withdraw(self, index):
        bundle_id, key, b = self.pick(index, "active")
        broken = set() if b.status == "active" else {"withdraw_requires_active"}
        done = self.attempt(broken, lambda: ledger.withdraw(self.con, bundle_id, self.now))
        if done is not None:
            self.bundles[key] = replace(b, status="withdrawn")

    @precondition(lambda self: self.bundles)
    @rule(
        index=st.integers(0, 10**6),
        wh=st.one_of(st.none(), st.integers(-1, 1500)),
        device=st.sampled_from(["bat", "bat", "bat", "pv2"]),
    )
    def store(self, index, wh, device):
        bundle_id, key, b = self.pick(index, "active")
        qty = b.end - key[1] + 1
        take = qty if wh is None else wh
        broken = set()
        if b.status != "active":
            broken.add("store_requires_active")
        if take < 1 or take > qty:
            broken.add("store_exceeds_bundle")
        if device != "bat":
            broken.add("unknown_storage")
        events_before = self.last_event()
        done = self.attempt(broken, lambda: ledger.store(self.con, bundle_id, device, self.now, wh))
        if done is None:
            return
        assert done == take
        self.act(key, take, status="stored")
        self.charged += take
        self.check_split(bundle_id, key, take, b.end, events_before)

    @precondition(lambda self: any(b.status == "active" for b in self.bundles.values()))
    @rule(index=st.integers(0, 10**6), fraction=st.floats(0.01, 0.99), to=st.sampled_from(ACCOUNTS))
    def split_active(self, index, fraction, to):
        """A partial transfer of an active bundle holding at least 2 Wh: always a split."""
        keys = [k for k, b in sorted(self.bundles.items()) if b.status == "active" and b.end > k[1]]
        if not keys:
            return
        key = keys[index % len(keys)]
        b = self.bundles[key]
        qty = b.end - key[1] + 1
        take = min(qty - 1, max(1, int(qty * fraction)))
        (bundle_id,) = self.con.execute(
            "SELECT bundle_id FROM go_bundles WHERE device_id = ? AND range_start = ?", list(key)
        ).fetchall()[0]
        events_before = self.last_event()
        assert ledger.transfer(self.con, bundle_id, to, self.now, take) == take
        self.version += 1
        self.act(key, take, account=to)
        self.check_split(bundle_id, key, take, b.end, events_before)

    @precondition(lambda self: any(self.cancelled.values()))
    @rule(
        index=st.integers(0, 10**6),
        extra=st.one_of(st.integers(-3, 3), st.integers(-3000, 3000)).map(float),
    )
    def revise_consumption(self, index, extra):
        """A meter revision near what cancels cover: rejected when below it."""
        covered = sorted(k for k, wh in self.cancelled.items() if wh)
        site, at = covered[index % len(covered)]
        metered = max(0.0, self.cancelled[(site, at)] + extra)
        broken = set()
        if metered < self.cancelled[(site, at)]:
            broken.add("cancel_exceeds_consumption")
        frame = pl.DataFrame(
            {"site_id": [site], "hour_utc": [at], "zone": [SITE[site][0]], "metered_wh": [metered]}
        )
        noop = metered == self.consumption_wh[(site, at)]
        done = self.attempt(broken, lambda: ledger.record_consumption(self.con, frame) or 1, noop)
        if done is not None:
            self.consumption_wh[(site, at)] = metered

    @precondition(lambda self: self.bundles)
    @rule(days=st.sampled_from([0, 90, 200, 365, 400]))
    def expire(self, days):
        """Advance the clock and sweep: use-by is 12 months after production, expiry 18."""
        self.now += timedelta(days=days)
        due = {
            k: b
            for k, b in self.bundles.items()
            if b.status == "active" and self.expires(b.hour) <= self.now
        }
        assert ledger.expire(self.con, self.now) == sum(b.end - k[1] + 1 for k, b in due.items())
        for k, b in due.items():
            self.bundles[k] = replace(b, status="expired")
        self.version += bool(due)

    # --- invariants --------------------------------------------------------------------

    @invariant()
    def audit_finds_no_violation(self):
        if not self.stale("audit_finds_no_violation"):
            return
        assert audit.invariant_violations(self.con) == []

    @invariant()
    def bundles_match_the_model_and_tile_each_device(self):
        if not self.stale("bundles_match_the_model_and_tile_each_device"):
            return
        rows = self.con.execute(
            "SELECT device_id, range_start, range_end, quantity_wh, status, account_id, "
            "production_hour_utc, from_storage, zone, use_by_utc, expires_at_utc "
            "FROM go_bundles ORDER BY device_id, range_start"
        ).fetchall()
        by_device = defaultdict(list)
        for device, start, end, qty, status, account, h, storage, zone, use_by, exp in rows:
            assert qty == end - start + 1 >= 1
            assert zone == DEVICE_ZONE[device]
            assert (use_by, exp) == (self.use_by(h), self.expires(h))
            by_device[device].append((start, end))
            assert self.bundles.get((device, start)) == Bundle(end, status, account, h, storage)
        assert len(rows) == len(self.bundles)
        next_ids = dict(
            self.con.execute("SELECT device_id, next_cert_id FROM go_devices").fetchall()
        )
        assert next_ids == self.next_id
        for device, next_id in next_ids.items():
            spans = by_device.get(device, [])
            # no Wh in two bundles, no gap: the bundles tile [1, next_cert_id - 1] exactly
            expected_start = 1
            for start, end in spans:
                assert start == expected_start, (device, spans)
                expected_start = end + 1
            assert expected_start == next_id, (device, spans, next_id)

    @invariant()
    def no_wh_cancelled_twice(self):
        if not self.stale("no_wh_cancelled_twice"):
            return
        events = self.con.execute(
            "SELECT device_id, range_start, range_end FROM go_ledger_events "
            "WHERE event_type = 'cancel' ORDER BY device_id, range_start"
        ).fetchall()
        for (d1, _, e1), (d2, s2, _) in zip(events, events[1:], strict=False):
            assert d1 != d2 or s2 > e1, "a Wh was cancelled twice"
        live = self.con.execute(
            "SELECT device_id, range_start, range_end FROM go_bundles "
            "WHERE status IN ('cancelled', 'claimed') ORDER BY ALL"
        ).fetchall()
        assert live == events  # cancelled bundles never split or move again

    @invariant()
    def cancelled_within_issued_and_issued_within_metered(self):
        if not self.stale("cancelled_within_issued_and_issued_within_metered"):
            return
        issuances = self.con.execute(
            "SELECT device_id, production_hour_utc, issued_wh, metered_wh FROM go_issuances"
        ).fetchall()
        assert {(d, h): q for d, h, q, _ in issuances} == self.issued
        for d, h, q, metered in issuances:
            assert 0 < q <= metered == self.metered[(d, h)]
            assert q * 10 <= DEVICE[d][2] * 11
        cancelled = self.con.execute(
            "SELECT production_hour_utc, zone, sum(quantity_wh) FROM go_bundles "
            "WHERE status IN ('cancelled', 'claimed') GROUP BY ALL"
        ).fetchall()
        for h, zone, wh in cancelled:
            issued = sum(
                q for (d, ih), q in self.issued.items() if ih == h and DEVICE_ZONE[d] == zone
            )
            assert wh <= issued
        counters = self.con.execute(
            "SELECT site_id, consumption_hour_utc, cancelled_wh, metered_wh FROM go_consumption"
        ).fetchall()
        for site, h, wh, metered in counters:
            assert wh == self.cancelled[(site, h)] <= metered
        db_per_hour, model_per_hour = defaultdict(int), defaultdict(int)
        for h, _, wh in cancelled:
            db_per_hour[h] += wh
        for (_, h), wh in self.cancelled.items():
            model_per_hour[h] += wh
        assert {h: wh for h, wh in db_per_hour.items() if wh} == {
            h: wh for h, wh in model_per_hour.items() if wh
        }

    @invariant()
    def storage_within_efficiency(self):
        if not self.stale("storage_within_efficiency"):
            return
        rows = self.con.execute("SELECT charged_wh, discharged_wh FROM go_storage").fetchall()
        assert rows == [(self.charged, self.discharged)]
        assert self.discharged <= self.charged * EFFICIENCY_TENTHS // 10


LedgerMachine.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestLedgerMachine = LedgerMachine.TestCase
