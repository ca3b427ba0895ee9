from datetime import UTC, date, datetime

import polars as pl

from pipelines import lake
from pipelines.explore.certificates import (
    bundle_family,
    bundle_state,
    certificate_activity,
    events_of_bundle,
    events_of_hour,
    hourly_matching,
    monthly_event_mwh,
    search_bundle,
    search_hour,
)
from pipelines.schemas import SCHEMAS

JAN = datetime(2025, 1, 31, 23, tzinfo=UTC)
FEB = datetime(2025, 2, 1, 10, tzinfo=UTC)
RECORDED = datetime(2025, 3, 1, tzinfo=UTC)


def event(event_id, kind, bundle_id, wh, hour, parent=None, beneficiary=None):
    row = dict.fromkeys(SCHEMAS["go_ledger_events"])
    row.update(
        event_id=event_id,
        event_type=kind,
        bundle_id=bundle_id,
        parent_bundle_id=parent,
        quantity_wh=wh,
        zone="Z",
        production_hour_utc=hour,
        recorded_at_utc=RECORDED,
        account_id="s",
        beneficiary_site_id=beneficiary,
    )
    return row


def ledger() -> pl.DataFrame:
    """Bundle 1 (Jan) split into 2 and 3; 2 cancelled, 3 split again into 4, 4 transferred.
    Bundle 5 (Feb) issued and expired."""
    rows = [
        event(1, "issue", 1, 3_000_000, JAN),
        event(2, "split", 2, 2_000_000, JAN, parent=1),
        event(3, "split", 3, 1_000_000, JAN, parent=1),
        event(4, "cancel", 2, 2_000_000, JAN, beneficiary="s"),
        event(5, "split", 4, 250_000, JAN, parent=3),
        event(6, "transfer", 4, 250_000, JAN),
        event(7, "issue", 5, 500_000, FEB),
        event(8, "expire", 5, 500_000, FEB),
    ]
    return pl.DataFrame(rows, schema=SCHEMAS["go_ledger_events"])


def test_monthly_mwh_per_event_type_leaves_splits_out():
    got = monthly_event_mwh(ledger())
    assert got.rows() == [
        ("2025-01", "cancel", 1, 2.0),
        ("2025-01", "issue", 1, 3.0),
        ("2025-01", "transfer", 1, 0.25),
        ("2025-02", "expire", 1, 0.5),
        ("2025-02", "issue", 1, 0.5),
    ]
    by_entry = monthly_event_mwh(ledger(), month_of="recorded")
    assert by_entry["month"].unique().to_list() == ["2025-03"]
    assert by_entry.filter(pl.col("event_type") == "issue")["mwh"].item() == 3.5


def test_a_bundle_brings_the_bundles_split_from_it():
    events = ledger()
    assert bundle_family(events, 1) == [1, 2, 3, 4]
    assert bundle_family(events, 3) == [3, 4]
    assert events_of_bundle(events, 3)["event_id"].to_list() == [3, 5, 6]
    assert events_of_bundle(events, 99).is_empty()
    assert events_of_hour(events, FEB)["event_id"].to_list() == [7, 8]


def test_search_in_the_lake_by_bundle_and_by_local_hour(tmp_path):
    lake.write_partition(tmp_path, "go_ledger_events", ledger(), "Z")
    bundles = pl.DataFrame(
        [
            {**dict.fromkeys(SCHEMAS["go_bundles"]), "bundle_id": b, "zone": "Z", "status": s}
            for b, s in [(1, "active"), (2, "cancelled"), (3, "active"), (5, "expired")]
        ],
        schema=SCHEMAS["go_bundles"],
    )
    lake.write_partition(tmp_path, "go_bundles", bundles, "Z")
    assert search_bundle(tmp_path, "Z", 1).height == 6
    assert bundle_state(tmp_path, "Z", 1)["bundle_id"].to_list() == [1, 2, 3]
    # 2025-02-01 10:00 UTC is 11:00 in Berlin (CET)
    hour = search_hour(tmp_path, "Z", date(2025, 2, 1), 11, "Europe/Berlin")
    assert hour["event_id"].to_list() == [7, 8]
    assert search_hour(tmp_path, "Z", date(2025, 2, 1), 10, "Europe/Berlin").is_empty()
    # 02:00 does not exist on the spring DST day
    assert search_hour(tmp_path, "Z", date(2025, 3, 30), 2, "Europe/Berlin").is_empty()
    assert certificate_activity(tmp_path, "Z")["mwh"].sum() == 6.25
    assert certificate_activity(tmp_path, "other").is_empty()


def test_hourly_matching_of_local_days(tmp_path):
    hours = pl.datetime_range(
        datetime(2025, 3, 29, tzinfo=UTC), datetime(2025, 3, 31, 23, tzinfo=UTC), "1h", eager=True
    )
    rows = pl.DataFrame(
        {
            "site_id": "s",
            "hour_utc": hours,
            "consumption_kwh": 10.0,
            "certificates_issued_kwh": 0.0,
            "certificates_available_kwh": 0.0,
            "certificates_cancelled_kwh": 0.0,
            "matched_kwh": 0.0,
            "cfe_score": 0.0,
            "flags": None,
        }
    )
    days = [date(2025, 3, d) for d in (29, 30, 31)]
    lake.write_days(tmp_path, "go_hourly_matching", rows, ["s"], days)
    got = hourly_matching(tmp_path, "s", date(2025, 3, 30), date(2025, 3, 30), "Europe/Berlin")
    # the DST day has 23 hours: 2025-03-29 23:00 UTC .. 2025-03-30 22:00 UTC
    assert got.height == 23
    assert got["hour_utc"][0] == datetime(2025, 3, 29, 23, tzinfo=UTC)
    assert got["hour_local"][-1].hour == 23
