"""Certificate assets: settle the ledger, match hourly, export, and report Scope 2."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl

from assets_defs.metadata import PREVIEW_ROWS, frame_metadata, sites_metadata
from assets_defs.partitions import (
    every_day,
    single_run,
    site_daily_partitions,
    site_partitions,
    window_of,
)
from assets_defs.resources import CertificatesResource, LakeResource, Scope2Resource, SiteResource
from assets_defs.site.assets import meter_readings, meter_registry, site_energy_hourly
from pipelines import lake
from pipelines.certificates import audit, export, settlement
from pipelines.certificates.matching import (
    certificates_by_site_hour,
    hourly_matching,
    matching_scores,
)
from pipelines.schemas import empty_frame
from pipelines.scope2_lake import site_year_report

GROUP = "certificates"


def _utc(day) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _months(days: list) -> list[tuple]:
    """Split a window's days into calendar-month chunks (first day, end exclusive)."""
    chunks: dict[tuple[int, int], list] = {}
    for d in days:
        chunks.setdefault((d.year, d.month), []).append(d)
    return [(c[0], c[-1] + timedelta(days=1)) for c in chunks.values()]


@dg.asset(
    partitions_def=site_daily_partitions,
    backfill_policy=single_run,
    deps=[meter_readings, meter_registry, site_energy_hourly],
    group_name=GROUP,
    kinds={"duckdb"},
    # the ledger file has one writer: on a shared instance, limit this pool to 1
    # (`dagster instance concurrency set go_ledger 1`, README "Running at scale")
    pool="go_ledger",
    description="Granular certificate ledger: mint per PV meter and hour, cancel against the "
    "site's metered consumption in the same hour, sell the rest; snapshots go_bundles and "
    "go_ledger_events to the lake.",
)
def go_ledger(
    context: dg.AssetExecutionContext,
    lake_store: LakeResource,
    site: SiteResource,
    certificates: CertificatesResource,
) -> dg.MaterializeResult:
    window = window_of(context)
    sites = site.for_runs(context)
    totals: dict[str, int] = {}
    deferred = 0
    con = certificates.connect()
    try:
        for s in sites:
            registry = lake.read_partition(lake_store.root, "meter_registry", s.site_id)
            devices = settlement.pv_devices(registry, s.zone)
            # month by month, each settled as of its own end (use-by dates stay honest)
            for start, end in _months(window.days):
                readings = lake.read_window(
                    lake_store.root, "meter_readings", start, end, [s.site_id]
                )
                energy = lake.read_window(
                    lake_store.root, "site_energy_hourly", start, end, [s.site_id]
                )
                production, n_deferred = settlement.metered_production(readings, devices)
                deferred += n_deferred
                report = settlement.settle(
                    con,
                    devices,
                    production,
                    settlement.metered_consumption(energy, s.zone),
                    _utc(start),
                    _utc(end),
                    certificates.policy(),
                    certificates.sale_account,
                )
                for k, v in report.as_dict().items():
                    totals[k] = totals.get(k, 0) + v
        violations = audit.invariant_violations(con)
        snapshots = {"go_bundles": audit.bundles(con), "go_ledger_events": audit.events(con)}
        for dataset, frame in snapshots.items():
            lake.write_partition(lake_store.root, dataset, frame, site.zone)  # one zone
    finally:
        con.close()
    if violations:
        raise dg.Failure(f"ledger invariants broken: {violations[:5]}")
    bundles = snapshots["go_bundles"]
    return dg.MaterializeResult(
        metadata=frame_metadata(
            bundles,
            preview=bundles.tail(PREVIEW_ROWS),
            **totals,
            ledger_events=snapshots["go_ledger_events"].height,
            device_hours_deferred=deferred,
            window=str(window),
            **sites_metadata(sites),
        )
    )


@dg.asset(
    partitions_def=site_daily_partitions,
    backfill_policy=single_run,
    deps=[go_ledger, site_energy_hourly],
    group_name=GROUP,
    kinds={"parquet", "polars"},
    description="Per site and hour: metered consumption, certificates cancelled, matched "
    "energy and the hourly CFE score; flags hours an auditor should look at.",
)
def go_hourly_matching(
    context: dg.AssetExecutionContext,
    lake_store: LakeResource,
    site: SiteResource,
    certificates: CertificatesResource,
) -> dg.MaterializeResult:
    window = window_of(context)
    ids = [s.site_id for s in site.for_runs(context)]
    start, end = (_utc(window.start), _utc(window.end))
    energy = lake.read_window(lake_store.root, "site_energy_hourly", window.start, window.end, ids)
    with certificates.connect_read_only() as con:
        certs = certificates_by_site_hour(con, ids, start, end)
    matching = hourly_matching(energy, certs)
    lake.write_days(lake_store.root, "go_hourly_matching", matching, ids, window.days)
    scores = matching_scores(matching)
    return dg.MaterializeResult(
        metadata=frame_metadata(
            matching,
            preview=matching.filter(pl.col("certificates_cancelled_kwh") > 0),
            flagged_hours=matching.filter(pl.col("flags").is_not_null()).height,
            hourly_cfe_score=scores["hourly_cfe_score"],
            annual_match_score=scores["annual_match_score"],
        )
    )


@dg.asset(
    partitions_def=site_partitions,
    deps=[go_ledger],
    group_name=GROUP,
    kinds={"json"},
    description="The site's certificates as EnergyTag-shaped JSON, and the transfers still "
    "waiting in the outbox for the trading and finance systems.",
)
def go_certificate_export(
    context: dg.AssetExecutionContext,
    lake_store: LakeResource,
    site: SiteResource,
    certificates: CertificatesResource,
) -> dg.MaterializeResult:
    site = site.for_run(context)
    out_dir = Path(certificates.export_dir)
    with certificates.connect_read_only() as con:
        document = export.energytag_certificates(con)
        pending = audit.pending_transfers(con)
    export.write_json(document, out_dir / f"go_certificates_{site.site_id}.json")
    pending.write_ndjson(out_dir / "go_transfer_outbox_pending.jsonl")
    return dg.MaterializeResult(
        metadata=frame_metadata(
            pending,
            row_count=len(document["granular_certificate_bundles"]),
            pending_transfers=pending.height,
            path=dg.MetadataValue.path(str(out_dir)),
        )
    )


@dg.asset(
    partitions_def=site_partitions,
    deps=[go_hourly_matching, every_day("grid_carbon_intensity_hourly")],
    group_name=GROUP,
    kinds={"parquet", "polars"},
    description="Scope 2 per site and month, location-based and market-based [tCO2e], "
    "summed from hourly figures; the PDF report is `novaenergy scope2`.",
)
def scope2_monthly(
    context: dg.AssetExecutionContext,
    lake_store: LakeResource,
    site: SiteResource,
    scope2: Scope2Resource,
) -> dg.MaterializeResult:
    site = site.for_run(context)
    energy = lake.scan(lake_store.root, "site_energy_hourly").filter(
        pl.col("site_id") == site.site_id
    )
    years = sorted(energy.select(pl.col("hour_utc").dt.year().unique()).collect().to_series())
    reports = [
        site_year_report(
            lake_store.root,
            site.site_id,
            site.zone,
            year,
            scope2.residual_mix(site.zone, year),
            scope2.supplier(),
        )
        for year in years
    ]
    monthly = pl.concat([r.monthly for r in reports]) if reports else empty_frame("scope2_monthly")
    if reports:
        lake.write_partition(lake_store.root, "scope2_monthly", monthly, site.site_id)
    headline = monthly.select(
        "month",
        "consumption_mwh",
        "location_based_t_co2e",
        "market_based_t_co2e",
        "hourly_cfe_score",
    )
    return dg.MaterializeResult(
        metadata=frame_metadata(
            monthly,
            preview=headline.tail(12),
            preview_rows=12,
            **{
                f"{r.year}": dg.MetadataValue.json(
                    {
                        "location_based_t_co2e": round(r.location_based_t_co2e, 3),
                        "market_based_t_co2e": round(r.market_based_t_co2e, 3),
                        "hourly_cfe_score": round(r.hourly_cfe_score, 4),
                        "annual_match_score": round(r.annual_match_score, 4),
                        "residual_mix_source": r.residual_mix.source,
                    }
                )
                for r in reports
            },
        )
    )
