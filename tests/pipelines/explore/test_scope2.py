from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from pipelines.explore.scope2 import (
    basis_hours,
    cancelled_by_hour,
    compare_certificates,
    compare_monthly,
    compare_report,
    independent_hourly,
    independent_monthly,
    instruments,
    intensity_by_hour,
    latest_year,
    method_notes,
    report_files,
    report_instruments,
)
from pipelines.schemas import SCHEMAS
from pipelines.scope2 import scope2_hourly, scope2_monthly
from pipelines.scope2_report_model import ResidualMix, SupplierFactor

H0 = datetime(2025, 1, 31, 22, tzinfo=UTC)
HOURS = [H0 + timedelta(hours=i) for i in range(3)]  # two in January, one in February
MIX = ResidualMix("Z", 2025, 500.0, "test mix", is_placeholder=True)


def energy() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "site_id": "s",
            "hour_utc": HOURS,
            "grid_import_kwh": [10.0, 4.0, 6.0],
            "pv_self_consumed_kwh": [0.0, 6.0, 2.0],
        }
    )


def intensity() -> pl.DataFrame:
    rows = [
        (HOURS[0], "production", 300.0, "complete"),
        (HOURS[0], "consumption", 200.0, "complete"),
        (HOURS[1], "production", 400.0, "complete"),
        (HOURS[2], "production", 999.0, "missing"),
    ]
    frame = pl.DataFrame(
        rows, schema=["hour_utc", "basis", "ci_direct_g_per_kwh", "quality"], orient="row"
    )
    return frame.with_columns(pl.lit("Z").alias("zone"), pl.lit("v1").alias("factor_table_version"))


def events() -> pl.DataFrame:
    def row(event_id, kind, bundle_id, wh, hour, site="s"):
        out = dict.fromkeys(SCHEMAS["go_ledger_events"])
        out.update(
            event_id=event_id,
            event_type=kind,
            bundle_id=bundle_id,
            quantity_wh=wh,
            beneficiary_site_id=site,
            consumption_hour_utc=hour,
            production_hour_utc=hour,
        )
        return out

    return pl.DataFrame(
        [
            row(1, "cancel", 1, 3000, HOURS[1]),
            row(2, "claim", 1, 3000, HOURS[1]),  # the same bundle, counted once
            row(3, "cancel", 2, 9000, HOURS[2]),  # more than the hour's 8 kWh
            row(4, "cancel", 3, 5000, HOURS[0], site="other"),
            row(5, "issue", 4, 7000, HOURS[0], site=None),
        ],
        schema=SCHEMAS["go_ledger_events"],
    )


def test_intensity_prefers_consumption_basis_then_production_then_mean():
    got = intensity_by_hour(intensity(), pl.Series(HOURS))
    assert got.rows() == [
        (HOURS[0], 200.0, "consumption"),
        (HOURS[1], 400.0, "production"),
        (HOURS[2], 300.0, "gap_filled"),  # mean of the known hours 200 and 400
    ]


def test_cancelled_certificates_come_from_the_event_log():
    got = cancelled_by_hour(events(), "s")
    assert got.rows() == [(HOURS[1], 3.0), (HOURS[2], 9.0)]


def test_independent_hourly_exact_figures():
    got = independent_hourly(energy(), events(), intensity(), "s", MIX)
    assert got["consumption_kwh"].to_list() == [10.0, 10.0, 8.0]
    assert got["covered_kwh"].to_list() == [0.0, 3.0, 8.0]
    assert got["residual_mix_kwh"].to_list() == [10.0, 7.0, 0.0]
    assert got["location_kg_co2e"].to_list() == [2.0, 1.6, 1.8]  # 10×200, 4×400, 6×300 g
    assert got["market_kg_co2e"].to_list() == [5.0, 3.5, 0.0]
    supplied = independent_hourly(
        energy(), events(), intensity(), "s", MIX, SupplierFactor(100.0, "contract")
    )
    # the supplier covers up to the grid import: min(10, 10), min(7, 4), min(0, 6)
    assert supplied["supplier_covered_kwh"].to_list() == [10.0, 4.0, 0.0]
    assert supplied["market_kg_co2e"].to_list() == pytest.approx([1.0, 0.4 + 1.5, 0.0], abs=1e-12)
    monthly = independent_monthly(got)
    assert monthly["month"].to_list() == ["2025-01", "2025-02"]
    assert monthly["market_based_t_co2e"].to_list() == [0.0085, 0.0]


@pytest.mark.parametrize("supplier", [None, SupplierFactor(100.0, "contract")])
def test_the_audit_path_agrees_with_the_pipeline(supplier):
    matching = (
        cancelled_by_hour(events(), "s")
        .rename({"cancelled_kwh": "certificates_cancelled_kwh"})
        .with_columns(
            pl.lit("s").alias("site_id"),
            pl.col("certificates_cancelled_kwh").alias("certificates_available_kwh"),
        )
    )
    pipeline = scope2_monthly(scope2_hourly(energy(), matching, intensity(), MIX, supplier), MIX)
    ours = independent_monthly(
        independent_hourly(energy(), events(), intensity(), "s", MIX, supplier)
    )
    check = compare_monthly(ours, pipeline)
    assert check.height == 16 and check["abs_diff"].max() < 1e-12
    assert compare_monthly(ours.head(1), pipeline)["abs_diff"].null_count() == 8


def test_certificates_compared_hour_by_hour():
    hourly = independent_hourly(energy(), events(), intensity(), "s", MIX)
    matching = pl.DataFrame({"hour_utc": HOURS[1:], "certificates_cancelled_kwh": [3.0, 8.5]})
    got = compare_certificates(hourly, matching)
    assert got["abs_diff"].to_list() == [0.0, 0.0, 0.5]


def write_report(folder, site="s", year=2025, supplier=False):
    out = folder / "scope2"
    out.mkdir(parents=True, exist_ok=True)
    base = out / f"scope2_{site}_{year}"
    base.with_suffix(".pdf").write_bytes(b"%PDF-1.4")
    (out / f"scope2_{site}_{year}_flags.csv").write_text("hour_utc,flag,detail\n")
    summary = [
        ("location_based_t_co2e", 3.4, "tCO2e"),
        ("market_based_t_co2e", 8.5, "tCO2e"),
        ("residual_mix_g_per_kwh", 500.0, "gCO2e/kWh"),
    ]
    if supplier:
        summary.append(("supplier_factor_g_per_kwh", 100.0, "gCO2e/kWh"))
    pl.DataFrame(summary, schema=["metric", "value", "unit"], orient="row").write_csv(
        out / f"scope2_{site}_{year}_summary.csv"
    )
    lineage = [
        ("residual_mix_source", "test mix"),
        ("residual_mix_zone_year", "Z 2025"),
        ("residual_mix_is_placeholder", "true"),
    ] + ([("supplier_factor_source", "contract")] if supplier else [])
    pl.DataFrame(lineage, schema=["key", "value"], orient="row").write_csv(
        out / f"scope2_{site}_{year}_lineage.csv"
    )


def test_report_files_by_year_and_their_instruments(tmp_path):
    write_report(tmp_path)
    write_report(tmp_path, site="s-2", year=2024, supplier=True)
    (tmp_path / "scope2" / "notes.txt").write_text("not a report")
    files = report_files(tmp_path, "s")
    assert list(files) == [2025]
    assert sorted(files[2025]) == ["flags", "lineage", "pdf", "summary"]
    assert files[2025]["pdf"].name == "scope2_s_2025.pdf"
    assert report_files(tmp_path / "nowhere", "s") == {}
    assert report_instruments(files[2025]) == (MIX, None)
    other = report_files(tmp_path, "s-2")[2024]
    assert report_instruments(other) == (MIX, SupplierFactor(100.0, "contract"))
    assert report_instruments({"pdf": files[2025]["pdf"]}) == (None, None)


def monthly_rows(mix_g_per_kwh=600.0, supplier_mwh=0.0) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "month": ["2024-12", "2025-01", "2025-02"],
            "location_based_t_co2e": [9.0, 3.0, 0.4],
            "market_based_t_co2e": [9.0, 8.0, 0.5],
            "consumption_mwh": [1.0] * 3,
            "grid_import_mwh": [1.0] * 3,
            "pv_self_consumed_mwh": [0.0] * 3,
            "covered_by_certificates_mwh": [0.0] * 3,
            "supplier_covered_mwh": [supplier_mwh] * 3,
            "residual_mix_mwh": [1.0] * 3,
            "residual_mix_g_per_kwh": [mix_g_per_kwh] * 3,
            "location_basis": ["production:744", "consumption:700,production:44", None],
        }
    )


def test_report_totals_against_the_months_of_its_year(tmp_path):
    write_report(tmp_path)
    got = compare_report(monthly_rows(), report_files(tmp_path, "s")[2025]["summary"], 2025)
    totals = got.filter(pl.col("figure").str.ends_with("t_co2e"))
    assert totals.rows() == [
        ("location_based_t_co2e", 3.4, 3.4, 0.0),
        ("market_based_t_co2e", 8.5, 8.5, 0.0),
    ]
    assert got.filter(pl.col("figure") == "consumption_mwh")["report"].item() is None


def test_instruments_without_a_report_use_the_packaged_mix_only_when_it_matches():
    months = monthly_rows()
    mix, supplier = instruments({}, months, "DE_LU", 2025)
    assert mix.g_per_kwh == 600.0 and mix.is_placeholder and supplier is None
    assert instruments({}, monthly_rows(mix_g_per_kwh=450.0), "DE_LU", 2025) == (None, None)
    assert instruments({}, monthly_rows(supplier_mwh=1.0), "DE_LU", 2025) == (None, None)
    assert instruments({}, months, "NOWHERE", 2025) == (None, None)


def test_basis_hours_and_the_reports_method_notes():
    months = monthly_rows()
    assert basis_hours(months) == {"production": 788, "consumption": 700}
    notes = method_notes(months, MIX, None)
    assert len(notes) == 4
    assert "used for 700 hours, the production-based intensity for 788 hours" in notes[1]
    assert "no supplier-specific factor is configured" in notes[2]
    assert "500 gCO2e/kWh (test mix)" in notes[2]
    assert latest_year(months) == 2025
    assert latest_year(months.clear()) is None
