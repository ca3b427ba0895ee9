"""Checks on the site assets: contract suites, raw meter suites and the hourly balance.

Smart-meter data quality: the raw meter exports (before validation) and the validated
``meter_readings`` are checked on the ``meter_readings`` asset, device telemetry on
``device_telemetry``; blocking suites stop ``site_energy_hourly`` in the same run.
Every daily suite stores its results per day in ``data_quality_results``.
"""

import dagster as dg
import polars as pl

from assets_defs.checks.contract_checks import ContractCheckSpec, build_contract_checks
from assets_defs.checks.raw_meter_checks import build_raw_meter_checks
from assets_defs.partitions import window_of
from assets_defs.resources import LakeResource, SiteResource
from pipelines import data_quality, lake

BALANCE_TOLERANCE_KWH = 0.01

#: Largest power a device of the site may report [W]: twice the sample site's 1 MW
#: grid connection (no battery, charger or inverter behind it comes near).
DEVICE_POWER_CAP_W = 2_000_000.0
#: Largest energy per 15-min sample at that power [Wh].
DEVICE_ENERGY_CAP_WH = DEVICE_POWER_CAP_W * 900 / 3600

#: Telemetry value ranges per unit, and the unit each known metric must carry.
TELEMETRY_UNIT_RANGES = {
    "W": (-DEVICE_POWER_CAP_W, DEVICE_POWER_CAP_W),
    "%": (0.0, 100.0),
    "Wh": (0.0, DEVICE_ENERGY_CAP_WH),
}
TELEMETRY_METRIC_UNITS = {"power_w": "W", "soc_pct": "%", "energy_wh": "Wh"}


def _registered_meters(lake_root: str, site_id: str) -> int:
    return lake.read_partition(lake_root, "meter_registry", site_id).height


def _meter_capacity(lake_root: str, frame: pl.DataFrame) -> pl.DataFrame:
    registry = lake.scan(lake_root, "meter_registry").collect()
    return data_quality.with_capacity(frame, registry, on=("site_id", "meter_id"))


meter_readings_checks = build_contract_checks(
    "meter_readings",
    ContractCheckSpec(
        dataset="meter_readings",
        ranges={"energy_wh": (0, None), "interval_s": (60, 3600)},
        series=("site_id", "meter_id"),
        interval_s=900,
        expected_series=_registered_meters,
        capacity=_meter_capacity,
        check_types=True,
    ),
)

# The raw exports behind meter_readings, before validation.
raw_meter_readings_checks = build_raw_meter_checks("meter_readings")

# device_telemetry is the raw telemetry files conformed to the contract, row for row,
# so this suite checks the raw telemetry; nothing validates it before site_energy_hourly.
device_telemetry_checks = build_contract_checks(
    "device_telemetry",
    ContractCheckSpec(
        dataset="device_telemetry",
        unit_ranges=TELEMETRY_UNIT_RANGES,
        metric_units=TELEMETRY_METRIC_UNITS,
        series=("site_id", "device_id", "metric"),
        interval_s=900,
        samples=True,  # the sample site writes one per 15 min, MQTT devices one per second
        check_types=True,
    ),
)

site_energy_hourly_checks = build_contract_checks(
    "site_energy_hourly",
    ContractCheckSpec(
        dataset="site_energy_hourly",
        ranges={
            c: (0, None)
            for c in (
                "consumption_kwh",
                "pv_production_kwh",
                "pv_self_consumed_kwh",
                "grid_import_kwh",
                "grid_export_kwh",
                "battery_charge_kwh",
                "battery_discharge_kwh",
                "ev_charge_kwh",
                "ev_discharge_kwh",
            )
        },
        series=("site_id",),
        interval_s=3600,
    ),
)


meter_registry_checks = build_contract_checks(
    "meter_registry",
    ContractCheckSpec(dataset="meter_registry", ranges={"max_power_w": (1, 1e9)}, daily=False),
)

fleet_vehicles_checks = build_contract_checks(
    "fleet",
    ContractCheckSpec(
        dataset="fleet_vehicles",
        ranges={
            "capacity_kwh": (1, 2000),
            "max_charge_kw": (0, 1000),
            "max_discharge_kw": (0, 1000),
        },
        daily=False,
    ),
)

fleet_trips_checks = build_contract_checks(
    "fleet",
    ContractCheckSpec(dataset="fleet_trips", ranges={"energy_kwh": (0, 2000)}, daily=False),
)


@dg.asset_check(
    asset="site_energy_hourly",
    blocking=True,
    description="Sources equal sinks in every complete hour.",
)
def site_energy_balance(
    context: dg.AssetCheckExecutionContext, lake_store: LakeResource, site: SiteResource
) -> dg.AssetCheckResult:
    window = window_of(context.op_execution_context)
    hourly = lake.read_window(
        lake_store.root,
        "site_energy_hourly",
        window.start,
        window.end,
        [s.site_id for s in site.for_runs(context)],
    )
    residual = hourly.filter(pl.col("quality") == "complete").select(
        "hour_utc",
        (
            pl.col("grid_import_kwh")
            + pl.col("pv_production_kwh")
            + pl.col("battery_discharge_kwh")
            + pl.col("ev_discharge_kwh")
            - pl.col("consumption_kwh")
            - pl.col("battery_charge_kwh")
            - pl.col("ev_charge_kwh")
            - pl.col("grid_export_kwh")
        ).alias("residual_kwh"),
    )
    worst = float(residual["residual_kwh"].abs().max() or 0.0)
    return dg.AssetCheckResult(
        passed=worst <= BALANCE_TOLERANCE_KWH,
        metadata={"hours_checked": residual.height, "max_abs_residual_kwh": worst},
    )
