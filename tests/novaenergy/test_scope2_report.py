"""PDF and CSV layout of a hand-built Scope 2 report (72 h over 2025-01-30 .. 2025-02-01)."""

import dataclasses
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from novaenergy.scope2_report import daily_frame, sanitise, write_scope2_report
from pipelines.scope2_report_model import ResidualMix, Scope2Report, SupplierFactor

GENERATED_AT = datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)
INPUTS_SHA256 = "3f5a9c0e7b21d4468aa0c1e9f2b7d3c8e6a5b4f1029384756abcdef012345678"
PARTITIONS = ", ".join(f"meters/site=berlin-01/date=2025-01-{d:02d}" for d in range(1, 32))

CONSUMPTION_KWH = 1000.0  # every hour
GRID_IMPORT_KWH = 800.0  # every hour; the rest is self-consumed PV
CERT_HOURS = range(10, 14)  # 4 hours a day with 2000 kWh of certificates available
CERT_AVAILABLE_KWH = 2000.0
CI_JAN, CI_FEB = 401.7, 298.4  # location-based intensity [gCO2e/kWh]
RESIDUAL_G_PER_KWH = 512.3

# By hand: Jan has 48 h (8 matched), Feb 24 h (4 matched).
# location  Jan 48 * 0.8 MWh * 401.7 g = 15.42528 t, Feb 24 * 0.8 * 298.4 = 5.72928 t
# market    unmatched hours * 0.8 MWh * 512.3 g: Jan 40 h = 16.3936 t, Feb 20 h = 8.1968 t
LOCATION_T = 15.42528 + 5.72928  # 21.15456 -> "21.155"
MARKET_T = 16.3936 + 8.1968  # 24.5904 -> "24.590"


def _hourly() -> pl.DataFrame:
    start = datetime(2025, 1, 30, tzinfo=UTC)
    rows = []
    for i in range(72):
        hour = start + timedelta(hours=i)
        certified = hour.hour in CERT_HOURS
        ci = CI_JAN if hour.month == 1 else CI_FEB
        basis = "gap_filled" if i == 3 else "production" if i == 50 else "consumption"
        rows.append(
            {
                "hour_utc": hour,
                "consumption_kwh": CONSUMPTION_KWH,
                "grid_import_kwh": GRID_IMPORT_KWH,
                "certificates_available_kwh": CERT_AVAILABLE_KWH if certified else 0.0,
                "certificates_cancelled_kwh": CONSUMPTION_KWH if certified else 0.0,
                "matched_kwh": CONSUMPTION_KWH if certified else 0.0,
                "cfe_score": 1.0 if certified else 0.0,
                "ci_g_per_kwh": ci,
                "ci_basis": basis,
                "location_based_kg_co2e": GRID_IMPORT_KWH * ci / 1000,
                "market_based_kg_co2e": 0.0 if certified else GRID_IMPORT_KWH * 0.5123,
                "flags": ["ci_gap_filled"] if basis == "gap_filled" else [],
            }
        )
    return pl.DataFrame(rows).with_columns(pl.col("hour_utc").dt.cast_time_unit("us"))


def _monthly() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "month": ["2025-01", "2025-02"],
            "location_based_t_co2e": [15.42528, 5.72928],
            "market_based_t_co2e": [16.3936, 8.1968],
            "consumption_mwh": [48.0, 24.0],
            "grid_import_mwh": [38.4, 19.2],
            "pv_self_consumed_mwh": [9.6, 4.8],
            "covered_by_certificates_mwh": [8.0, 4.0],
            "residual_mix_mwh": [32.0, 16.0],
            "hourly_cfe_score": [8 / 48, 4 / 24],
            "annual_match_score": [16 / 48, 8 / 24],
            "residual_mix_g_per_kwh": [RESIDUAL_G_PER_KWH, RESIDUAL_G_PER_KWH],
            "factor_table_version": ["eft-2025.1", "eft-2025.1"],
        }
    )


def _flags() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "hour_utc": [datetime(2025, 1, 30, 3, tzinfo=UTC), datetime(2025, 2, 1, 2, tzinfo=UTC)],
            "flag": ["ci_gap_filled", "ci_production_basis"],
            "detail": [
                "no consumption-based intensity — filled from neighbours",
                "consumption-based intensity missing; production mix used",
            ],
        }
    ).with_columns(pl.col("hour_utc").dt.cast_time_unit("us"))


def _report(*, placeholder: bool = True, flags: pl.DataFrame | None = None) -> Scope2Report:
    source = "Sample placeholder, not AIB" if placeholder else "AIB European Residual Mix 2025, DE"
    return Scope2Report(
        site_id="berlin-01",
        zone="DE_LU",
        year=2025,
        location_based_t_co2e=LOCATION_T,
        market_based_t_co2e=MARKET_T,
        consumption_mwh=72.0,
        grid_import_mwh=57.6,
        pv_self_consumed_mwh=14.4,
        covered_by_certificates_mwh=12.0,
        supplier_covered_mwh=0.0,
        residual_mix_mwh=48.0,
        transferred_away_mwh=2.5,
        hourly_cfe_score=12 / 72,
        annual_match_score=24 / 72,
        location_basis_hours={"consumption": 70, "production": 1, "gap_filled": 1},
        residual_mix=ResidualMix("DE_LU", 2025, RESIDUAL_G_PER_KWH, source, placeholder),
        supplier_factor=None,
        method_statement=[
            "Location-based: Σ_h grid import_h × CI_h, with CI in gCO₂e/kWh.",
            "Market-based: certificates cancelled in the same hour ≤ consumption — rest at "
            "the residual mix.",
        ],
        monthly=_monthly(),
        hourly=_hourly(),
        flags=_flags() if flags is None else flags,
        lineage={"input_partitions": PARTITIONS, "inputs_sha256": INPUTS_SHA256},
    )


def _pdf_text(path) -> str:
    result = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    )
    return result.stdout


pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler")


def test_fixture_is_consistent():
    report = _report()
    hourly = report.hourly
    assert hourly.get_column("location_based_kg_co2e").sum() / 1000 == pytest.approx(LOCATION_T)
    assert hourly.get_column("market_based_kg_co2e").sum() / 1000 == pytest.approx(MARKET_T)
    assert report.monthly.get_column("consumption_mwh").sum() == pytest.approx(72.0)


def test_pdf_shows_figures(tmp_path):
    paths = write_scope2_report(_report(), tmp_path / "out", generated_at=GENERATED_AT)
    assert paths["pdf"] == tmp_path / "out" / "scope2_berlin-01_2025.pdf"
    text = _pdf_text(paths["pdf"])
    for expected in [
        "Scope 2 emissions report",
        "Site: berlin-01",
        "Zone: DE_LU",
        "Generated at: 2026-02-03T04:05:06Z",
        "PLACEHOLDER residual mix",
        "Sample placeholder, not AIB",
        "Location-based: 21.155 tCO2e",
        "Market-based: 24.590 tCO2e",
        "Consumption: 72.000 MWh",
        "Covered by certificates: 12.000 MWh",
        "Hourly CFE score: 16.7 %",
        "Annual match score: 33.3 %",
        "consumption 70, production 1, gap_filled 1",
        "Location-based: sum_h grid import_h",  # sanitised method statement
        "2025-01",
        "2025-02",
        "15.425",  # January location-based tCO2e
        "8.197",  # February market-based tCO2e
        "Total",
        "ci_gap_filled",
        INPUTS_SHA256,
        "eft-2025.1",
        "Page 1 /",
    ]:
        assert expected in text, expected
    assert "date=2025-01-31" in text  # end of the long partition list, wrapped not cut
    assert "No flags" not in text


def test_total_row_sums_months(tmp_path):
    paths = write_scope2_report(_report(), tmp_path, generated_at=GENERATED_AT)
    total = next(line for line in _pdf_text(paths["pdf"]).splitlines() if "Total" in line)
    assert total.split() == ["Total", "72.000", "57.600", "12.000", "21.155", "24.590", "16.7", "%"]


def test_csvs_match_report(tmp_path):
    report = _report()
    paths = write_scope2_report(report, tmp_path, generated_at=GENERATED_AT)
    names = {"pdf", "summary", "monthly", "hourly_matching", "flags", "lineage"}
    assert set(paths) == names
    for name in names - {"pdf"}:
        assert paths[name] == tmp_path / f"scope2_berlin-01_2025_{name}.csv"
        assert paths[name].is_file()

    assert pl.read_csv(paths["monthly"]).height == report.monthly.height
    assert pl.read_csv(paths["flags"]).height == report.flags.height
    hourly = pl.read_csv(paths["hourly_matching"])
    assert hourly.height == report.hourly.height == 72
    assert hourly.get_column("hour_utc")[0] == "2025-01-30T00:00:00Z"
    assert hourly.get_column("flags")[3] == "ci_gap_filled"

    summary = dict(pl.read_csv(paths["summary"]).select("metric", "value").iter_rows())
    for field in [
        "location_based_t_co2e",
        "market_based_t_co2e",
        "consumption_mwh",
        "grid_import_mwh",
        "pv_self_consumed_mwh",
        "covered_by_certificates_mwh",
        "supplier_covered_mwh",
        "residual_mix_mwh",
        "transferred_away_mwh",
        "hourly_cfe_score",
        "annual_match_score",
    ]:
        assert summary[field] == getattr(report, field), field
    assert summary["residual_mix_g_per_kwh"] == RESIDUAL_G_PER_KWH
    for basis, hours in report.location_basis_hours.items():
        assert summary[f"location_basis_hours_{basis}"] == hours

    lineage = dict(pl.read_csv(paths["lineage"]).iter_rows())
    assert lineage["inputs_sha256"] == INPUTS_SHA256
    assert lineage["input_partitions"] == PARTITIONS
    assert lineage["residual_mix_source"] == report.residual_mix.source
    assert lineage["factor_table_version"] == "eft-2025.1"


def test_real_residual_mix_has_no_placeholder_warning(tmp_path):
    report = dataclasses.replace(
        _report(placeholder=False), supplier_factor=SupplierFactor(350.0, "Supplier X 2025")
    )
    paths = write_scope2_report(report, tmp_path, generated_at=GENERATED_AT)
    text = _pdf_text(paths["pdf"])
    assert "PLACEHOLDER" not in text
    assert "AIB European Residual Mix 2025, DE" in text
    assert "Supplier factor: 350.0 gCO2e/kWh (Supplier X 2025)" in text
    summary = dict(pl.read_csv(paths["summary"]).select("metric", "value").iter_rows())
    assert summary["supplier_factor_g_per_kwh"] == 350.0


@pytest.mark.parametrize("flags", [_flags().clear(), pl.DataFrame()], ids=["typed", "bare"])
def test_empty_flags_write_header(tmp_path, flags):
    paths = write_scope2_report(_report(flags=flags), tmp_path, generated_at=GENERATED_AT)
    assert paths["flags"].read_text().splitlines() == ["hour_utc,flag,detail"]
    assert "No flags" in _pdf_text(paths["pdf"])


def test_pdf_is_deterministic(tmp_path):
    first = write_scope2_report(_report(), tmp_path / "a", generated_at=GENERATED_AT)
    second = write_scope2_report(_report(), tmp_path / "b", generated_at=GENERATED_AT)
    assert first["pdf"].read_bytes() == second["pdf"].read_bytes()
    assert first["summary"].read_bytes() == second["summary"].read_bytes()


def test_daily_frame_sums_per_utc_day():
    daily = daily_frame(_hourly())
    assert daily.height == 3
    assert daily.get_column("consumption_mwh").to_list() == [24.0, 24.0, 24.0]
    assert daily.get_column("certificates_cancelled_mwh").to_list() == [4.0, 4.0, 4.0]
    assert daily.get_column("certificates_available_mwh").to_list() == [8.0, 8.0, 8.0]
    assert daily.get_column("ci_g_per_kwh").to_list() == pytest.approx([CI_JAN, CI_JAN, CI_FEB])


def test_sanitise_maps_to_latin1():
    assert sanitise("gCO₂e Σ ≤ — ü") == "gCO2e sum <= - ü"
    assert sanitise("→ ✓").encode("latin-1") == b"-> ?"
