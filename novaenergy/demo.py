"""``novaenergy demo``: build the sample site and materialize every asset."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import dagster as dg

from assets_defs.catalog import ASSETS, CHECKS
from assets_defs.partitions import is_site_scoped, register_sites, run_target
from assets_defs.resources import (
    CertificatesResource,
    PlanningResource,
    Scope2Resource,
    SiteResource,
    build_resources,
)
from novaenergy.console import steps
from novaenergy.scope2_run import write_site_year
from novaenergy.settings import Settings
from pipelines.planning.site_scenario import KINDS
from pipelines.warehouse import connect_read_only


@dataclass(frozen=True)
class DemoResult:
    checks_passed: int
    checks_failed: list[str]
    summary: dict
    report_path: Path


def resources_for(settings: Settings) -> dict:
    site = SiteResource(
        site_id=settings.site_id,
        grid_region=settings.grid_region,
        timezone=settings.site_timezone,
        sample_start=settings.sample_start.isoformat(),
        sample_end=settings.sample_end.isoformat(),
        sample_seed=settings.sample_seed,
        max_export_limit_kw=settings.max_export_limit_kw,
        sites_file=settings.sites_file,
    )
    return build_resources(
        settings.lake_root,
        settings.raw_root,
        settings.drop_dir,
        settings.warehouse_path,
        site,
        settings.entsoe_api_key,
        settings.emission_factor_overrides,
        CertificatesResource(
            ledger_path=settings.go_ledger_path,
            export_dir=settings.go_export_dir,
            sale_account=settings.go_sale_account,
            use_by_months=settings.go_use_by_months,
            expiry_months=settings.go_expiry_months,
        ),
        Scope2Resource(
            residual_mix_file=settings.residual_mix_file,
            supplier_factor_g_per_kwh=settings.supplier_factor_g_per_kwh,
            supplier_factor_source=settings.supplier_factor_source,
        ),
        PlanningResource(
            max_import_kw=settings.max_import_limit_kw,
            peak_charge_eur_per_kw=settings.peak_charge_eur_per_kw,
            co2_price_eur_per_t=settings.co2_price_eur_per_t,
            import_surcharge_eur_per_mwh=settings.import_surcharge_eur_per_mwh,
        ),
    )


# Dagster's console logger defaults to DEBUG; the demo shows progress instead.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _instance() -> dg.DagsterInstance:
    # With DAGSTER_HOME set (make demo does), runs show up in the Dagster UI.
    return (
        dg.DagsterInstance.get()
        if os.environ.get("DAGSTER_HOME")
        else dg.DagsterInstance.ephemeral()
    )


def instance_with_sites(site_ids: list[str]) -> dg.DagsterInstance:
    """An ephemeral instance that knows ``site_ids`` as partitions of the site assets."""
    instance = dg.DagsterInstance.ephemeral()
    register_sites(instance, site_ids)
    return instance


def _run_configs(asset: dg.AssetsDefinition) -> list[dict]:
    """One run per asset; the planner twice, as the day-ahead and then the intraday run
    would (both as of the newest telemetry, see :class:`assets_defs.planning.assets.PlanConfig`)."""
    if asset.node_def.name != "site_plans":
        return [{}]
    return [{"ops": {"site_plans": {"config": {"kind": kind}}}} for kind in KINDS]


def materialize_all(
    settings: Settings, instance: dg.DagsterInstance | None = None
) -> tuple[int, list[str]]:
    """Materialize every asset (and run its checks) over the sample period, one asset
    per run in dependency order so progress can be shown; a site asset once per site
    served. Returns (passed, failed checks)."""
    resources = resources_for(settings)
    instance = instance or _instance()
    sites = resources["site"].site_ids()
    register_sites(instance, sites)
    first, last = settings.sample_start, settings.sample_end - timedelta(days=1)
    passed, failed = 0, []
    runs = [
        (asset, config, site_id)
        for asset in ASSETS
        for config in _run_configs(asset)
        for site_id in (sites if is_site_scoped(asset.partitions_def) else [settings.site_id])
    ]
    with steps(len(runs), "materializing") as advance:
        for asset, config, site_id in runs:
            checks = [c for c in CHECKS if any(k.asset_key in asset.keys for k in c.check_keys)]
            result = dg.materialize(
                [asset, *checks],
                resources=resources,
                instance=instance,
                run_config={**QUIET, **config},
                raise_on_error=True,
                **run_target(asset.partitions_def, first, last, site_id),
            )
            for evaluation in result.get_asset_check_evaluations():
                if evaluation.passed:
                    passed += 1
                else:
                    failed.append(
                        f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
                    )
            kind = config.get("ops", {}).get("site_plans", {}).get("config", {}).get("kind")
            label = "+".join(k.to_user_string() for k in asset.keys)
            where = (
                f" @ {site_id}" if len(sites) > 1 and is_site_scoped(asset.partitions_def) else ""
            )
            advance(label + (f" ({kind})" if kind else "") + where)
    return passed, failed


def summarize(settings: Settings) -> dict:
    """Headline figures read back through the warehouse views."""
    zone = settings.grid_region.removeprefix("EU_ENTSOE_")
    with connect_read_only(settings.warehouse_path) as con:
        rows = {
            view: con.execute(f"SELECT count(*) FROM {view}").fetchone()[0]
            for view in (
                "meter_readings",
                "meter_quarantine",
                "device_telemetry",
                "site_energy_hourly",
                "grid_generation_mix",
                "day_ahead_prices",
                "grid_carbon_intensity_hourly",
                "grid_carbon_intensity_forecast",
                "go_bundles",
                "go_ledger_events",
                "go_hourly_matching",
                "scope2_monthly",
                "vampire_load_events",
                "vampire_alerts",
                "setpoint_plans",
                "plan_runs",
                "v2g_settlements",
                "load_forecast",
                "pv_forecast",
                "data_quality_results",
            )
        }
        energy = con.execute(
            """
            SELECT sum(consumption_kwh) / 1000, sum(pv_production_kwh) / 1000,
                   sum(pv_self_consumed_kwh) / 1000, sum(grid_import_kwh) / 1000,
                   sum(grid_export_kwh) / 1000, sum(ev_charge_kwh) / 1000,
                   count(*) FILTER (WHERE quality <> 'complete')
            FROM site_energy_hourly
            """
        ).fetchone()
        ci = con.execute(
            """
            SELECT sum(e.grid_import_kwh * c.ci_direct_g_per_kwh) / 1e6,
                   sum(e.grid_import_kwh * c.ci_lifecycle_g_per_kwh) / 1e6,
                   sum(c.ci_lifecycle_g_per_kwh * c.generation_mwh) / sum(c.generation_mwh),
                   count(*) FILTER (WHERE c.quality <> 'complete')
            FROM grid_carbon_intensity_hourly c
            LEFT JOIN site_energy_hourly e ON e.hour_utc = c.hour_utc
            WHERE c.zone = $zone AND c.basis = 'production'
            """,
            {"zone": zone},
        ).fetchone()
        alerts = con.execute(
            "SELECT count(*), sum(excess_kwh), sum(excess_cost_eur), sum(excess_co2_kg), "
            "arg_max(message, excess_kwh) FROM vampire_alerts"
        ).fetchone()
        fc = con.execute(
            """
            SELECT count(*),
                   avg(abs(f.ci_lifecycle_g_per_kwh - a.ci_lifecycle_g_per_kwh)),
                   avg(abs(y.ci_lifecycle_g_per_kwh - a.ci_lifecycle_g_per_kwh))
            FROM grid_carbon_intensity_forecast f
            JOIN grid_carbon_intensity_hourly a
              ON a.hour_utc = f.hour_utc AND a.zone = f.zone AND a.basis = 'production'
            JOIN grid_carbon_intensity_hourly y
              ON y.hour_utc = f.hour_utc - INTERVAL 1 DAY AND y.zone = f.zone AND y.basis = 'production'
            """
        ).fetchone()
        plans = con.execute(
            """
            SELECT kind, plan_id, valid_from_utc, valid_until_utc, cost_eur, baseline_cost_eur,
                   avoided_cost_eur, avoided_co2_kg, ev_shortfall_kwh, explanations,
                   input_fallbacks
            FROM plan_runs ORDER BY created_at_utc
            """
        ).fetchall()
        v2g = con.execute(
            "SELECT basis, count(DISTINCT vehicle_id), sum(discharged_kwh), sum(amount_eur) "
            "FROM v2g_settlements GROUP BY basis ORDER BY basis"
        ).fetchall()
    keys = [
        "consumption_mwh",
        "pv_production_mwh",
        "pv_self_consumed_mwh",
        "grid_import_mwh",
        "grid_export_mwh",
        "ev_charge_mwh",
        "incomplete_hours",
    ]
    return {
        "site_id": settings.site_id,
        "period": f"{settings.sample_start} .. {settings.sample_end} (end exclusive)",
        "rows": rows,
        "energy": {
            k: (round(v, 3) if isinstance(v, float) else v)
            for k, v in zip(keys, energy, strict=True)
        },
        "vampire_loads": {
            "alerts": alerts[0],
            "excess_kwh": round(alerts[1] or 0.0, 1),
            "excess_cost_eur": round(alerts[2] or 0.0, 2),
            "excess_co2_kg": round(alerts[3] or 0.0, 1),
            "largest": alerts[4],
        },
        "plans": [
            {
                "kind": p[0],
                "plan_id": p[1],
                "horizon_utc": f"{p[2]:%Y-%m-%d %H:%M} .. {p[3]:%Y-%m-%d %H:%M}",
                "cost_eur": round(p[4], 2),
                "baseline_cost_eur": round(p[5], 2),
                "avoided_cost_eur": round(p[6], 2),
                "avoided_co2_kg": round(p[7], 1),
                "ev_shortfall_kwh": round(p[8], 1),
                "explanations": json.loads(p[9]),
                "input_fallback_slots": json.loads(p[10]),
            }
            for p in plans
        ],
        "v2g": {
            basis: {"vehicles": n, "discharged_kwh": round(kwh, 1), "amount_eur": round(eur, 2)}
            for basis, n, kwh, eur in v2g
        },
        "grid": {
            "zone": settings.grid_region.removeprefix("EU_ENTSOE_"),
            "mix": "synthetic (sample site)",
            "annual_lifecycle_ci_g_per_kwh": round(ci[2] or 0.0, 1),
            "missing_hours": ci[3],
            "forecast_hours": fc[0],
            "forecast_mae_g_per_kwh": round(fc[1] or 0.0, 1),
            "persistence_mae_g_per_kwh": round(fc[2] or 0.0, 1),
        },
    }


def scope2_reports(settings: Settings) -> list[dict]:
    """Write the Scope 2 report of every year in the sample period; their headline figures."""
    out = []
    for year in range(
        settings.sample_start.year, (settings.sample_end - timedelta(days=1)).year + 1
    ):
        report, files = write_site_year(
            settings, settings.site_id, year, Path(settings.reports_dir) / "scope2"
        )
        out.append(
            {
                "year": year,
                "location_based_t_co2e": round(report.location_based_t_co2e, 3),
                "market_based_t_co2e": round(report.market_based_t_co2e, 3),
                "consumption_mwh": round(report.consumption_mwh, 3),
                "covered_by_certificates_mwh": round(report.covered_by_certificates_mwh, 3),
                "hourly_cfe_score": round(report.hourly_cfe_score, 4),
                "annual_match_score": round(report.annual_match_score, 4),
                "residual_mix": f"{report.residual_mix.g_per_kwh:g} g/kWh"
                + (" (PLACEHOLDER)" if report.residual_mix.is_placeholder else ""),
                "pdf": str(files["pdf"]),
            }
        )
    return out


def run_demo(settings: Settings, instance: dg.DagsterInstance | None = None) -> DemoResult:
    passed, failed = materialize_all(settings, instance=instance)
    summary = summarize(settings)
    summary["scope2"] = scope2_reports(settings)
    summary["checks"] = {"passed": passed, "failed": failed}
    report = Path(settings.reports_dir) / "demo_summary.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return DemoResult(passed, failed, summary, report)
