"""Checks on the certificate assets: ledger invariants, matching contract, CFE ≤ annual."""

import dagster as dg
import polars as pl

from assets_defs.certificates.assets import go_hourly_matching, go_ledger, scope2_monthly
from assets_defs.checks.contract_checks import ContractCheckSpec, build_contract_checks
from assets_defs.partitions import window_of
from assets_defs.resources import CertificatesResource, LakeResource, SiteResource
from pipelines import lake
from pipelines.certificates import audit

go_hourly_matching_checks = build_contract_checks(
    "go_hourly_matching",
    ContractCheckSpec(
        dataset="go_hourly_matching",
        ranges={
            "consumption_kwh": (0, None),
            "certificates_cancelled_kwh": (0, None),
            "matched_kwh": (0, None),
            "cfe_score": (0, 1),
        },
        series=("site_id",),
        interval_s=3600,
    ),
)


@dg.asset_check(
    asset=go_ledger,
    blocking=True,
    description="No Wh in two bundles, bundles add up to issuance, issuance within metered "
    "production, cancels within issuance and metered consumption, storage within efficiency.",
)
def go_ledger_invariants(certificates: CertificatesResource) -> dg.AssetCheckResult:
    with certificates.connect_read_only() as con:
        violations = audit.invariant_violations(con)
    return dg.AssetCheckResult(
        passed=not violations,
        metadata={"violations": len(violations), "first": "; ".join(violations[:5])},
    )


@dg.asset_check(
    asset=go_hourly_matching,
    description="Hours where certificates claim consumption the meters do not show (or "
    "other mismatches); a warning for auditors to review, listed in the Scope 2 report.",
)
def go_hourly_matching_flags(
    context: dg.AssetCheckExecutionContext, lake_store: LakeResource, site: SiteResource
) -> dg.AssetCheckResult:
    window = window_of(context.op_execution_context)
    ids = [s.site_id for s in site.for_runs(context)]
    matching = lake.read_window(
        lake_store.root, "go_hourly_matching", window.start, window.end, ids
    )
    flagged = matching.filter(pl.col("flags").is_not_null())
    counts = (
        dict(flagged["flags"].str.split(",").explode().value_counts().iter_rows())
        if flagged.height
        else {}
    )
    return dg.AssetCheckResult(
        passed=flagged.is_empty(),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"flagged_hours": flagged.height, **{k: int(v) for k, v in counts.items()}},
    )


@dg.asset_check(
    asset=scope2_monthly,
    description="Every month's hourly CFE score is at most its annual-style match, and both "
    "totals are non-negative.",
)
def scope2_monthly_consistent(
    context: dg.AssetCheckExecutionContext, lake_store: LakeResource, site: SiteResource
) -> dg.AssetCheckResult:
    site = site.for_run(context)
    monthly = lake.read_partition(lake_store.root, "scope2_monthly", site.site_id)
    bad = monthly.filter(
        (pl.col("hourly_cfe_score") > pl.col("annual_match_score") + 1e-9)
        | (pl.col("location_based_t_co2e") < 0)
        | (pl.col("market_based_t_co2e") < 0)
    )
    return dg.AssetCheckResult(
        passed=monthly.height > 0 and bad.is_empty(),
        metadata={"months": monthly.height, "inconsistent_months": bad["month"].to_list()},
    )
