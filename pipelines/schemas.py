"""Column schemas of the lake datasets: the data contract in code.

Names carry units (see the glossary in ``data/README.md``). Every timestamp is
timezone-aware UTC. A dataset written through :mod:`pipelines.lake` is cast to
its schema here, so a reader never sees a drifting type.
"""

from __future__ import annotations

import polars as pl

UTC_TS = pl.Datetime("us", "UTC")

SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "meter_registry": {
        "site_id": pl.String,
        "meter_id": pl.String,
        "kind": pl.String,
        "description": pl.String,
        "max_power_w": pl.Float64,
    },
    "meter_readings": {
        "site_id": pl.String,
        "meter_id": pl.String,
        "ts_utc": UTC_TS,
        "interval_s": pl.Int32,
        "energy_wh": pl.Float64,
        "quality": pl.String,
    },
    "meter_quarantine": {
        "source": pl.String,
        "row_number": pl.Int64,
        "raw_row": pl.String,
        "reason": pl.String,
        "ingested_at_utc": UTC_TS,
    },
    "device_telemetry": {
        "site_id": pl.String,
        "device_id": pl.String,
        "ts_utc": UTC_TS,
        "metric": pl.String,
        "value": pl.Float64,
        "unit": pl.String,
    },
    "site_energy_hourly": {
        "site_id": pl.String,
        "hour_utc": UTC_TS,
        "consumption_kwh": pl.Float64,
        "pv_production_kwh": pl.Float64,
        "pv_self_consumed_kwh": pl.Float64,
        "grid_import_kwh": pl.Float64,
        "grid_export_kwh": pl.Float64,
        "battery_charge_kwh": pl.Float64,
        "battery_discharge_kwh": pl.Float64,
        "ev_charge_kwh": pl.Float64,
        "ev_discharge_kwh": pl.Float64,
        "intervals_expected": pl.Int32,
        "intervals_present": pl.Int32,
        "quality": pl.String,
    },
    "grid_generation_mix": {
        "zone": pl.String,
        "ts_utc": UTC_TS,
        "production_type": pl.String,
        "mode": pl.String,
        "interval_s": pl.Int32,
        "energy_mwh": pl.Float64,
        "source": pl.String,
    },
    "day_ahead_prices": {
        "zone": pl.String,
        "ts_utc": UTC_TS,
        "interval_s": pl.Int32,
        "price_eur_per_mwh": pl.Float64,
        "source": pl.String,
    },
    "grid_load": {
        "zone": pl.String,
        "ts_utc": UTC_TS,
        "interval_s": pl.Int32,
        "load_mw": pl.Float64,
        "source": pl.String,
    },
    "grid_crossborder_flows": {
        "zone": pl.String,
        "zone_from": pl.String,
        "zone_to": pl.String,
        "hour_utc": UTC_TS,
        "flow_mwh": pl.Float64,
    },
    "grid_wind_solar_forecast": {
        "zone": pl.String,
        "ts_utc": UTC_TS,
        "production_type": pl.String,
        "power_mw": pl.Float64,
        "source": pl.String,
    },
    "grid_carbon_intensity_forecast": {
        "zone": pl.String,
        "hour_utc": UTC_TS,
        "issued_at_utc": UTC_TS,
        "ci_lifecycle_g_per_kwh": pl.Float64,
        "model": pl.String,
    },
    "grid_carbon_intensity_hourly": {
        "zone": pl.String,
        "hour_utc": UTC_TS,
        "basis": pl.String,
        "ci_direct_g_per_kwh": pl.Float64,
        "ci_lifecycle_g_per_kwh": pl.Float64,
        "generation_mwh": pl.Float64,
        "quality": pl.String,
        "factor_table_version": pl.String,
    },
    "go_hourly_matching": {
        "site_id": pl.String,
        "hour_utc": UTC_TS,
        "consumption_kwh": pl.Float64,
        "certificates_issued_kwh": pl.Float64,
        "certificates_available_kwh": pl.Float64,
        "certificates_cancelled_kwh": pl.Float64,
        "matched_kwh": pl.Float64,
        "cfe_score": pl.Float64,
        "flags": pl.String,
    },
    "go_bundles": {
        "bundle_id": pl.Int64,
        "device_id": pl.String,
        "range_start": pl.Int64,
        "range_end": pl.Int64,
        "quantity_wh": pl.Int64,
        "status": pl.String,
        "account_id": pl.String,
        "zone": pl.String,
        "production_hour_utc": UTC_TS,
        "from_storage": pl.Boolean,
        "issued_at_utc": UTC_TS,
        "use_by_utc": UTC_TS,
        "expires_at_utc": UTC_TS,
        "beneficiary_site_id": pl.String,
        "consumption_hour_utc": UTC_TS,
        "consumption_zone": pl.String,
        "cancelled_at_utc": UTC_TS,
        "storage_device_id": pl.String,
    },
    "go_ledger_events": {
        "event_id": pl.Int64,
        "event_type": pl.String,
        "bundle_id": pl.Int64,
        "parent_bundle_id": pl.Int64,
        "range_start": pl.Int64,
        "range_end": pl.Int64,
        "quantity_wh": pl.Int64,
        "status": pl.String,
        "device_id": pl.String,
        "zone": pl.String,
        "production_hour_utc": UTC_TS,
        "account_id": pl.String,
        "from_account_id": pl.String,
        "beneficiary_site_id": pl.String,
        "consumption_hour_utc": UTC_TS,
        "from_storage": pl.Boolean,
        "recorded_at_utc": UTC_TS,
    },
    "scope2_monthly": {
        "site_id": pl.String,
        "month": pl.String,
        "location_based_t_co2e": pl.Float64,
        "market_based_t_co2e": pl.Float64,
        "consumption_mwh": pl.Float64,
        "grid_import_mwh": pl.Float64,
        "pv_self_consumed_mwh": pl.Float64,
        "covered_by_certificates_mwh": pl.Float64,
        "supplier_covered_mwh": pl.Float64,
        "residual_mix_mwh": pl.Float64,
        "hourly_cfe_score": pl.Float64,
        "annual_match_score": pl.Float64,
        "residual_mix_g_per_kwh": pl.Float64,
        "location_basis": pl.String,
        "factor_table_version": pl.String,
    },
    "vampire_load_events": {
        "site_id": pl.String,
        "meter_id": pl.String,
        "start_utc": UTC_TS,
        "end_utc": UTC_TS,
        "excess_kwh": pl.Float64,
        "excess_cost_eur": pl.Float64,
        "excess_co2_kg": pl.Float64,
        "mean_excess_power_w": pl.Float64,
        "score": pl.Float64,
    },
    "vampire_alerts": {
        "site_id": pl.String,
        "meter_id": pl.String,
        "start_utc": UTC_TS,
        "end_utc": UTC_TS,
        "severity": pl.String,
        "message": pl.String,
        "excess_kwh": pl.Float64,
        "excess_cost_eur": pl.Float64,
        "excess_co2_kg": pl.Float64,
    },
    "load_forecast": {
        "site_id": pl.String,
        "ts_utc": UTC_TS,
        "issued_at_utc": UTC_TS,
        "power_w": pl.Float64,
        "model": pl.String,
    },
    "pv_forecast": {
        "site_id": pl.String,
        "ts_utc": UTC_TS,
        "issued_at_utc": UTC_TS,
        "power_w": pl.Float64,
        "model": pl.String,
    },
    "data_quality_results": {
        "dataset": pl.String,
        "day_utc": UTC_TS,
        "suite": pl.String,
        "expectation": pl.String,
        "column": pl.String,
        "success": pl.Boolean,
        "observed": pl.String,
        "evaluated_at_utc": UTC_TS,
    },
    "fleet_vehicles": {
        "site_id": pl.String,
        "vehicle_id": pl.String,
        "capacity_kwh": pl.Float64,
        "max_charge_kw": pl.Float64,
        "max_discharge_kw": pl.Float64,
        "v2g_allowed": pl.Boolean,
        "owner_account": pl.String,
        "charger_id": pl.String,
    },
    "fleet_trips": {
        "site_id": pl.String,
        "vehicle_id": pl.String,
        "depart_utc": UTC_TS,
        "arrive_utc": UTC_TS,
        "energy_kwh": pl.Float64,
    },
}

# The key that makes a row unique within each dataset; writes sort by it.
KEYS: dict[str, list[str]] = {
    "meter_registry": ["site_id", "meter_id"],
    "meter_readings": ["site_id", "meter_id", "ts_utc"],
    "meter_quarantine": ["source", "row_number", "reason", "raw_row"],
    "device_telemetry": ["site_id", "device_id", "metric", "ts_utc"],
    "site_energy_hourly": ["site_id", "hour_utc"],
    "grid_generation_mix": ["zone", "ts_utc", "production_type", "mode"],
    "day_ahead_prices": ["zone", "ts_utc", "interval_s"],
    "grid_carbon_intensity_hourly": ["zone", "hour_utc", "basis"],
    "grid_wind_solar_forecast": ["zone", "ts_utc", "production_type"],
    "grid_crossborder_flows": ["zone_from", "zone_to", "hour_utc"],
    "grid_load": ["zone", "ts_utc", "interval_s"],
    "grid_carbon_intensity_forecast": ["zone", "hour_utc", "issued_at_utc"],
    "go_hourly_matching": ["site_id", "hour_utc"],
    "go_bundles": ["bundle_id"],
    "go_ledger_events": ["event_id"],
    "scope2_monthly": ["site_id", "month"],
    "vampire_load_events": ["site_id", "meter_id", "start_utc"],
    "vampire_alerts": ["site_id", "meter_id", "start_utc"],
    "load_forecast": ["site_id", "ts_utc", "issued_at_utc"],
    "pv_forecast": ["site_id", "ts_utc", "issued_at_utc"],
    "data_quality_results": ["dataset", "day_utc", "suite", "expectation", "column"],
    "fleet_vehicles": ["site_id", "vehicle_id"],
    "fleet_trips": ["site_id", "vehicle_id", "depart_utc"],
}


def conform(df: pl.DataFrame, dataset: str) -> pl.DataFrame:
    """Select, order and cast ``df`` to the schema of ``dataset``.

    Extra columns are dropped; a missing column raises ``ValueError`` naming it.
    """
    schema = SCHEMAS[dataset]
    missing = [c for c in schema if c not in df.columns]
    if missing:
        raise ValueError(f"{dataset}: missing columns {missing}; have {df.columns}")
    return df.select([pl.col(c).cast(t, strict=True) for c, t in schema.items()])


def empty_frame(dataset: str) -> pl.DataFrame:
    """An empty frame with the schema of ``dataset``."""
    return pl.DataFrame(schema=SCHEMAS[dataset])
