"""A worked Scope 2 example computed by hand, through the real ledger and matching.

Three hours of one site in DE_LU, residual mix 700 g/kWh (test value):

=====  ======  ====  ==========  ======  =======================
hour   PV kWh  load  self-cons.  import  direct CI g/kWh (basis)
=====  ======  ====  ==========  ======  =======================
12:00  10      8     8           0       400 (consumption; production says 999)
13:00  4       10    4           6       300 (production)
20:00  0       5     0           5       500 (production)
=====  ======  ====  ==========  ======  =======================

Location-based = 6 × 300 + 5 × 500 = 4300 g. Consumption = 8 + 10 + 5 = 23 kWh.
Certificates minted: 10 kWh at 12:00, 4 kWh at 13:00. Cancelled for own use: 8 + 4 = 12.
Market-based = (23 − 12) × 700 = 7700 g. Transfer the certificates away instead and the
12 kWh move to the residual mix: 23 × 700 = 16100 g.
"""

from datetime import UTC, datetime

import polars as pl
import pytest

from pipelines.certificates.matching import certificates_by_site_hour, hourly_matching
from pipelines.scope2 import (
    DEFAULT_RESIDUAL_MIX_FILE,
    Scope2InputError,
    build_report,
    content_hash,
    hourly_intensity_for_scope2,
    load_residual_mix,
    scope2_hourly,
    scope2_monthly,
)
from pipelines.scope2_report_model import ResidualMix, SupplierFactor
from tests.pipelines.certificates.one_site import settled_ledger

H = [datetime(2025, 6, 2, h, tzinfo=UTC) for h in (12, 13, 20)]
NOW = datetime(2025, 6, 3, tzinfo=UTC)
RM = ResidualMix("DE_LU", 2025, 700.0, "test value", is_placeholder=True)


def energy() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "site_id": ["s1"] * 3,
            "hour_utc": H,
            "pv_production_kwh": [10.0, 4.0, 0.0],
            "pv_self_consumed_kwh": [8.0, 4.0, 0.0],
            "grid_import_kwh": [0.0, 6.0, 5.0],
            "quality": ["complete"] * 3,
        }
    )


def intensity() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "zone": ["DE_LU"] * 4,
            "hour_utc": [H[0], H[0], H[1], H[2]],
            "basis": ["consumption", "production", "production", "production"],
            "ci_direct_g_per_kwh": [400.0, 999.0, 300.0, 500.0],
            "quality": ["complete"] * 4,
            "factor_table_version": ["default-v1"] * 4,
        }
    )


def matched(transfer_away: bool) -> pl.DataFrame:
    con = settled_ledger(energy(), NOW, sell_first=transfer_away)
    return hourly_matching(energy(), certificates_by_site_hour(con))


@pytest.mark.parametrize(
    ("transfer_away", "supplier", "market_g", "covered_kwh"),
    [
        (False, None, 7700.0, 12.0),
        (True, None, 16100.0, 0.0),
        # supplier 200 g/kWh covers the uncovered rest up to the import (6 + 5 kWh)
        (False, SupplierFactor(200.0, "test tariff"), 11 * 200.0, 12.0),
        # sold PV: 12:00 has no import, so its 8 kWh stay residual; 13:00 gets 6 from the
        # supplier and 4 residual; 20:00 gets 5 from the supplier
        (True, SupplierFactor(200.0, "test tariff"), 11 * 200.0 + 12 * 700.0, 0.0),
    ],
)
def test_worked_example(transfer_away, supplier, market_g, covered_kwh):
    hourly = scope2_hourly(energy(), matched(transfer_away), intensity(), RM, supplier)
    assert hourly["location_based_kg_co2e"].sum() == pytest.approx(4.3)
    assert hourly["market_based_kg_co2e"].sum() == pytest.approx(market_g / 1000)
    assert hourly["matched_kwh"].sum() == pytest.approx(covered_kwh)
    assert hourly["ci_basis"].to_list() == ["consumption", "production", "production"]


def test_transfer_moves_the_self_consumed_mwh_to_the_residual_mix():
    kept = scope2_hourly(energy(), matched(False), intensity(), RM)
    sold = scope2_hourly(energy(), matched(True), intensity(), RM)
    moved_kwh = sold["residual_mix_kwh"].sum() - kept["residual_mix_kwh"].sum()
    assert moved_kwh == pytest.approx(12.0)
    assert (sold["market_based_kg_co2e"].sum() - kept["market_based_kg_co2e"].sum()) == (
        pytest.approx(12.0 * 700 / 1000)
    )
    # mint and cancel for self-consumption: the hour fully covered by own PV emits nothing
    assert kept.filter(pl.col("hour_utc") == H[0])["market_based_kg_co2e"].item() == 0.0


def test_report_totals_and_scores():
    hourly = scope2_hourly(energy(), matched(False), intensity(), RM)
    report = build_report("s1", "DE_LU", 2025, hourly, RM, None, 0.0, {"inputs": "x"})
    assert report.location_based_t_co2e == pytest.approx(0.0043)
    assert report.market_based_t_co2e == pytest.approx(0.0077)
    assert report.hourly_cfe_score == pytest.approx(12 / 23)
    assert report.annual_match_score == pytest.approx(14 / 23)
    assert report.hourly_cfe_score <= report.annual_match_score
    assert report.location_basis_hours == {"consumption": 1, "production": 2}
    assert report.monthly["month"].to_list() == ["2025-06"]
    assert report.monthly["consumption_mwh"].item() == pytest.approx(0.023)


def test_monthly_sums_equal_the_hours():
    hourly = scope2_hourly(energy(), matched(False), intensity(), RM)
    monthly = scope2_monthly(hourly, RM)
    assert monthly["market_based_t_co2e"].sum() == pytest.approx(0.0077)
    assert monthly["location_basis"].item() == "production:2,consumption:1"


def test_gap_hours_take_the_period_mean_and_say_so():
    ci = hourly_intensity_for_scope2(intensity().filter(pl.col("hour_utc") != H[2]), pl.Series(H))
    gap = ci.filter(pl.col("hour_utc") == H[2])
    assert gap["ci_basis"].item() == "gap_filled"
    assert gap["ci_g_per_kwh"].item() == pytest.approx((400.0 + 300.0) / 2)


def test_residual_mix_is_never_guessed(tmp_path):
    rm = load_residual_mix(DEFAULT_RESIDUAL_MIX_FILE, "DE_LU", 2025)
    assert rm.is_placeholder and "PLACEHOLDER" in rm.source
    with pytest.raises(Scope2InputError, match="no residual mix for zone FR"):
        load_residual_mix(DEFAULT_RESIDUAL_MIX_FILE, "FR", 2025)


def test_no_consumption_is_an_error():
    hourly = scope2_hourly(energy(), matched(False), intensity(), RM)
    with pytest.raises(Scope2InputError, match="no metered consumption"):
        build_report("s1", "DE_LU", 2024, hourly, RM, None, 0.0, {})


def test_content_hash_is_order_independent_and_sensitive():
    e = energy()
    assert content_hash(e) == content_hash(e.reverse())
    assert content_hash(e) != content_hash(e.with_columns(pl.col("grid_import_kwh") + 0.001))
