"""Checks on the grid assets."""

import dagster as dg
import polars as pl

from assets_defs.checks.contract_checks import ContractCheckSpec, build_contract_checks
from assets_defs.partitions import window_of
from assets_defs.resources import LakeResource
from pipelines import lake
from pipelines.emission_factors import largest_factors

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

grid_wind_solar_forecast_checks = build_contract_checks(
    "grid_wind_solar_forecast",
    ContractCheckSpec(
        dataset="grid_wind_solar_forecast",
        ranges={"power_mw": (0, 300_000)},
        series=("zone", "production_type"),
        interval_s=3600,
    ),
)

grid_crossborder_flows_checks = build_contract_checks(
    "grid_crossborder_flows",
    ContractCheckSpec(
        dataset="grid_crossborder_flows",
        ranges={"flow_mwh": (0, 50_000)},
        series=("zone_from", "zone_to"),
        interval_s=3600,
    ),
)

grid_load_checks = build_contract_checks(
    "grid_load",
    ContractCheckSpec(
        dataset="grid_load",
        ranges={"load_mw": (0, 500_000)},
        series=("zone", "interval_s"),
        interval_s=3600,
    ),
)

_MAX_DIRECT, _MAX_LIFECYCLE = largest_factors()

grid_carbon_intensity_checks = build_contract_checks(
    "grid_carbon_intensity_hourly",
    ContractCheckSpec(
        dataset="grid_carbon_intensity_hourly",
        # an intensity is a weighted mean of factors: it can never leave [0, largest factor]
        ranges={
            "ci_direct_g_per_kwh": (0, _MAX_DIRECT),
            "ci_lifecycle_g_per_kwh": (0, _MAX_LIFECYCLE),
        },
        series=("zone", "basis"),
        interval_s=3600,
    ),
)

MAX_FLAGGED_SHARE = 0.05


@dg.asset_check(
    asset="grid_carbon_intensity_hourly",
    description=f"At most {MAX_FLAGGED_SHARE:.0%} of the window's hours are flagged (missing or partial).",
)
def grid_carbon_intensity_flagged_share(
    context: dg.AssetCheckExecutionContext, lake_store: LakeResource
) -> dg.AssetCheckResult:
    window = window_of(context.op_execution_context)
    ci = lake.read_window(lake_store.root, "grid_carbon_intensity_hourly", window.start, window.end)
    flagged = ci.filter(pl.col("quality") != "complete").height
    share = flagged / ci.height if ci.height else 1.0
    return dg.AssetCheckResult(
        passed=share <= MAX_FLAGGED_SHARE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"hours": ci.height, "flagged_hours": flagged, "flagged_share": share},
    )
