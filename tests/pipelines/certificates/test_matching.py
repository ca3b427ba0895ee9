"""Hourly matching: matched energy, CFE scores and the flags auditors read."""

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from pipelines.certificates.matching import (
    certificates_by_site_hour,
    hourly_matching,
    matching_scores,
)
from tests.pipelines.certificates.one_site import settled_ledger

H0 = datetime(2025, 6, 2, 11, tzinfo=UTC)
HOURS = [H0 + timedelta(hours=i) for i in range(3)]
NOW = datetime(2025, 6, 3, tzinfo=UTC)


def energy(consumption=(6.0, 6.0, 6.0), pv=(10.0, 4.0, 0.0), quality="complete"):
    return pl.DataFrame(
        {
            "site_id": ["s1"] * 3,
            "hour_utc": HOURS,
            "grid_import_kwh": [c - min(c, p) for c, p in zip(consumption, pv, strict=True)],
            "pv_self_consumed_kwh": [min(c, p) for c, p in zip(consumption, pv, strict=True)],
            "pv_production_kwh": list(pv),
            "quality": [quality] * 3,
        }
    )


def test_matched_is_min_of_cancelled_and_consumption():
    e = energy()
    m = hourly_matching(e, certificates_by_site_hour(settled_ledger(e, NOW)))
    assert m["certificates_issued_kwh"].to_list() == [10.0, 4.0, 0.0]
    assert m["certificates_cancelled_kwh"].to_list() == [6.0, 4.0, 0.0]
    assert m["matched_kwh"].to_list() == [6.0, 4.0, 0.0]
    assert m["cfe_score"].to_list() == pytest.approx([1.0, 4 / 6, 0.0])
    assert m["flags"].null_count() == 3
    scores = matching_scores(m)
    assert scores["hourly_cfe_score"] == pytest.approx(10 / 18)
    assert scores["annual_match_score"] == pytest.approx(14 / 18)


def test_a_meter_revision_below_the_cancelled_energy_is_flagged():
    e = energy()
    con = settled_ledger(e, NOW)
    revised = energy(consumption=(5.0, 6.0, 6.0))  # the 11:00 reading came down by 1 kWh
    m = hourly_matching(revised, certificates_by_site_hour(con))
    first = m.row(0, named=True)
    assert first["flags"] == "cancelled_exceeds_metered"
    assert first["matched_kwh"] == 5.0  # never more than the meter shows
    assert m["flags"].null_count() == 2


def test_certificates_for_an_hour_without_meter_data_are_kept_and_flagged():
    e = energy()
    con = settled_ledger(e, NOW)
    m = hourly_matching(e.slice(1), certificates_by_site_hour(con))
    assert m.height == 3  # the certificate hour is not dropped
    first = m.row(0, named=True)
    assert first["flags"] == "cancelled_without_meter_data"
    assert first["consumption_kwh"] == 0.0 and first["cfe_score"] is None


def test_incomplete_meter_hours_and_production_revisions_are_flagged():
    e = energy()
    con = settled_ledger(e, NOW)
    revised = energy(pv=(9.0, 4.0, 0.0), quality="incomplete")
    flags = hourly_matching(revised, certificates_by_site_hour(con))["flags"].to_list()
    assert flags[0] == "incomplete_meter_hour,issued_exceeds_metered_production"
    assert flags[1] == "incomplete_meter_hour"
    assert flags[2] is None
