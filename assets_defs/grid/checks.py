"""Checks on the grid assets."""

from __future__ import annotations

from assets_defs.checks.contract_checks import ContractCheckSpec, build_contract_checks

grid_generation_mix_checks = build_contract_checks(
    "grid_generation_mix",
    ContractCheckSpec(
        dataset="grid_generation_mix",
        ranges={"energy_mwh": (0, 200_000)},
        series=("zone", "production_type", "mode"),
        interval_s=3600,
    ),
)

day_ahead_prices_checks = build_contract_checks(
    "day_ahead_prices",
    ContractCheckSpec(
        dataset="day_ahead_prices",
        ranges={"price_eur_per_mwh": (-500, 4000), "interval_s": (900, 3600)},
        series=("zone", "interval_s"),
        interval_s=3600,
    ),
)

grid_carbon_intensity_checks = build_contract_checks(
    "grid_carbon_intensity_hourly",
    ContractCheckSpec(
        dataset="grid_carbon_intensity_hourly",
        ranges={"ci_direct_g_per_kwh": (0, 1200), "ci_lifecycle_g_per_kwh": (0, 1200)},
        series=("zone", "basis"),
        interval_s=3600,
    ),
)
