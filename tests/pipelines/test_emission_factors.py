import polars as pl
import pytest

from pipelines.emission_factors import (
    FACTOR_TABLE_VERSION,
    factors_for,
    load_factor_table,
    load_psr_types,
)


def test_default_table_matches_the_domain_reference():
    version, factors = load_factor_table()
    assert version == FACTOR_TABLE_VERSION == "default-v1"
    table = {
        (r["mode"], r["year"]): (r["ci_direct_g_per_kwh"], r["ci_lifecycle_g_per_kwh"])
        for r in factors.iter_rows(named=True)
    }
    assert table[("coal", None)] == (760, 820)
    assert table[("gas", None)] == (370, 490)
    assert table[("oil", None)] == (406, 650)
    assert table[("unknown", None)] == (575, 700)
    assert table[("battery_discharge", 2025)] == (297.68, 358.44)
    assert table[("hydro_discharge", 2023)] == (303.98, 365.65)
    assert factors["source"].null_count() == 0


def test_every_psr_type_has_a_factor_in_every_year():
    _, factors = load_factor_table()
    psr = load_psr_types()
    assert psr.height == 21
    for year in (2023, 2024, 2025):
        gen = pl.DataFrame({"production_type": psr["psr_type"], "mode": "generation"}).with_columns(
            pl.datetime(year, 6, 1, time_zone="UTC").alias("ts_utc")
        )
        assert factors_for(gen, factors)["ci_lifecycle_g_per_kwh"].null_count() == 0


def test_storage_charge_and_discharge_take_their_own_factors():
    _, factors = load_factor_table()
    mix = pl.DataFrame(
        {
            "production_type": ["B10", "B10", "B25"],
            "mode": ["generation", "consumption", "generation"],
        }
    ).with_columns(pl.datetime(2024, 1, 1, time_zone="UTC").alias("ts_utc"))
    out = factors_for(mix, factors)
    assert out["factor_mode"].to_list() == [
        "hydro_discharge",
        "hydro_storage_charge",
        "battery_discharge",
    ]
    assert out["ci_lifecycle_g_per_kwh"].to_list() == [350.96, 0.0, 382.58]


def test_a_year_without_a_storage_factor_is_an_error_not_zero():
    _, factors = load_factor_table()
    mix = pl.DataFrame({"production_type": ["B25"], "mode": ["generation"]}).with_columns(
        pl.datetime(2019, 1, 1, time_zone="UTC").alias("ts_utc")
    )
    with pytest.raises(ValueError, match="no emission factor"):
        factors_for(mix, factors)


def test_unknown_psr_type_is_an_error():
    _, factors = load_factor_table()
    mix = pl.DataFrame({"production_type": ["B99"], "mode": ["generation"]}).with_columns(
        pl.datetime(2024, 1, 1, time_zone="UTC").alias("ts_utc")
    )
    with pytest.raises(ValueError, match="B99"):
        factors_for(mix, factors)


def test_germany_overrides_apply_only_to_their_zone_and_years():
    from datetime import UTC, datetime

    from pipelines.carbon_intensity import production_intensity
    from pipelines.emission_factors import load_overrides

    version, factors = load_factor_table()
    o_version, overrides = load_overrides("de-v1")
    assert o_version == "overrides-de-v1"
    rows = []
    for zone in ("DE_LU", "FR"):
        for year in (2022, 2024):
            rows.append((zone, datetime(year, 6, 1, 12, tzinfo=UTC), "B02", "generation", 100.0))
    mix = pl.DataFrame(
        rows, schema=["zone", "ts_utc", "production_type", "mode", "energy_mwh"], orient="row"
    )
    ci = production_intensity(mix, factors, f"{version}+{o_version}", overrides)
    got = {
        (r["zone"], r["hour_utc"].year): (r["ci_direct_g_per_kwh"], r["ci_lifecycle_g_per_kwh"])
        for r in ci.iter_rows(named=True)
    }
    assert got[("DE_LU", 2024)] == (1080.40, 1140.40)
    assert got[("DE_LU", 2022)] == (760, 820)  # no override in force: the default table
    assert got[("FR", 2024)] == (760, 820)
    assert set(ci["factor_table_version"]) == {"default-v1+overrides-de-v1"}
    # in every year: lifecycle = direct + 60 for coal and + 120 for gas
    diff = overrides.with_columns(
        (pl.col("ci_lifecycle_g_per_kwh") - pl.col("ci_direct_g_per_kwh")).round(2).alias("d")
    )
    assert set(diff.filter(pl.col("mode") == "coal")["d"]) == {60.0} and set(
        diff.filter(pl.col("mode") == "gas")["d"]
    ) == {120.0}
