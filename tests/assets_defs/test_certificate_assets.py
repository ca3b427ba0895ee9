"""Certificates and Scope 2 over a week of the sample site, through the Dagster assets."""

import subprocess

import polars as pl
import pytest

from novaenergy.cli import main
from pipelines import lake
from pipelines.certificates import audit
from pipelines.certificates.matching import matching_scores
from pipelines.certificates.schema import connect_ledger_read_only
from tests.demo_lake import hours


def test_ledger_mints_what_pv_meters_show_and_holds_its_invariants(week):
    settings, *_ = week
    with connect_ledger_read_only(settings.go_ledger_path) as con:
        assert audit.invariant_violations(con) == []
        issued_wh = con.execute("SELECT sum(issued_wh) FROM go_issuances").fetchall()[0][0]
        statuses = dict(
            con.execute(
                "SELECT status || '/' || account_id, sum(quantity_wh) FROM go_bundles GROUP BY ALL"
            ).fetchall()
        )
    pv = lake.scan(settings.lake_root, "site_energy_hourly").collect()["pv_production_kwh"]
    # whole Wh per device-hour, rounded down: at most 1 Wh short per hour
    assert pv.sum() * 1000 - (pv > 0).sum() <= issued_wh <= pv.sum() * 1000
    # everything minted was either burned for the site's own use or sold to novatrade
    assert set(statuses) == {"cancelled/warehouse-b", "active/novatrade"}
    assert sum(statuses.values()) == issued_wh


def test_matching_burns_min_of_pv_and_consumption_every_hour(week):
    settings, *_ = week
    m = lake.scan(settings.lake_root, "go_hourly_matching").collect()
    e = lake.scan(settings.lake_root, "site_energy_hourly").collect()
    assert m.height == e.height == hours(settings)
    joined = m.join(e, on=["site_id", "hour_utc"])
    expected = joined.select(
        pl.min_horizontal(
            "pv_production_kwh", pl.col("grid_import_kwh") + pl.col("pv_self_consumed_kwh")
        )
    ).to_series()
    # cancellation is in whole Wh
    assert (joined["matched_kwh"] - expected).abs().max() <= 0.001
    assert m["flags"].null_count() == m.height
    scores = matching_scores(m)
    assert 0 < scores["hourly_cfe_score"] <= scores["annual_match_score"] <= 1


def test_scope2_monthly_sums_to_the_report(week, tmp_path, monkeypatch):
    settings, *_ = week
    monthly = lake.read_partition(settings.lake_root, "scope2_monthly", settings.site_id)
    assert monthly["month"].to_list() == ["2025-03", "2025-04"]
    monkeypatch.setenv("NOVAENERGY_LAKE_ROOT", settings.lake_root)
    assert (
        main(["scope2", "--site", settings.site_id, "--year", "2025", "--out", str(tmp_path)]) == 0
    )
    pdf = tmp_path / f"scope2_{settings.site_id}_2025.pdf"
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    location = monthly["location_based_t_co2e"].sum()
    market = monthly["market_based_t_co2e"].sum()
    assert f"Location-based: {location:.3f} tCO2e" in text
    assert f"Market-based: {market:.3f} tCO2e" in text
    assert "PLACEHOLDER residual mix" in text
    assert market > location > 0
    csv = pl.read_csv(tmp_path / f"scope2_{settings.site_id}_2025_monthly.csv")
    assert csv["market_based_t_co2e"].sum() == pytest.approx(market)


def test_scope2_of_an_unknown_site_is_bad_input(week, tmp_path, monkeypatch, capsys):
    settings, *_ = week
    monkeypatch.setenv("NOVAENERGY_LAKE_ROOT", settings.lake_root)
    assert main(["scope2", "--site", "nowhere", "--year", "2025", "--out", str(tmp_path)]) == 2
    assert "no metered consumption for site nowhere in 2025" in capsys.readouterr().err


def test_certificate_export_is_energytag_shaped(week):
    import json
    from pathlib import Path

    settings, *_ = week
    doc = json.loads(
        (Path(settings.go_export_dir) / f"go_certificates_{settings.site_id}.json").read_text()
    )
    bundles = doc["granular_certificate_bundles"]
    assert bundles
    for b in bundles:
        assert b["bundle_quantity"] == (
            b["certificate_bundle_id_range_end"] - b["certificate_bundle_id_range_start"] + 1
        )
        assert b["bidding_zone"] == "DE_LU" and b["energy_source"] == "solar"
    outbox = (Path(settings.go_export_dir) / "go_transfer_outbox_pending.jsonl").read_text()
    assert outbox.count("novatrade") == sum(b["account_id"] == "novatrade" for b in bundles)
