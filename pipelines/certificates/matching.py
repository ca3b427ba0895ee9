"""Hourly matching of consumption with certificates: the reconciliation auditors read.

Consumption here is what the site used, whoever produced it:
``consumption_kwh = grid_import_kwh + pv_self_consumed_kwh`` [kWh]. Batteries and EV
charging are inside it (they are loads on the site bus); losses too.

The hourly CFE score is Σ_h min(GC_h, load_h) / Σ_h load_h with GC_h the certificates
cancelled for the site in hour h. The annual match, min(ΣGC, Σload) / Σload, uses the
certificates available to the site over the period (its own issuance plus those of other
devices cancelled for it), so hourly ≤ annual by construction.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl

from pipelines.schemas import conform

TOLERANCE_KWH = 0.001  # 1 Wh: certificates are whole Wh, meters are not

FLAG_RULES = {
    "cancelled_exceeds_metered": "certificates cancelled for the hour exceed the metered "
    "consumption now in the lake",
    "cancelled_without_meter_data": "certificates were cancelled for an hour with no meter data",
    "incomplete_meter_hour": "certificates were cancelled for an hour whose meter data is "
    "incomplete",
    "issued_exceeds_metered_production": "certificates issued for the hour exceed the PV "
    "production now in the lake",
}


def consumption_kwh_expr() -> pl.Expr:
    """Electricity used on site [kWh]: grid import plus self-consumed PV."""
    return (pl.col("grid_import_kwh") + pl.col("pv_self_consumed_kwh")).alias("consumption_kwh")


def matched_kwh_expr() -> pl.Expr:
    """Consumption matched by certificates in the hour [kWh]: min(cancelled, consumption)."""
    return pl.min_horizontal("certificates_cancelled_kwh", "consumption_kwh").alias("matched_kwh")


def cfe_score_expr() -> pl.Expr:
    """Hourly carbon-free share [0..1]; null for an hour without consumption."""
    return (
        pl.when(pl.col("consumption_kwh") > 0)
        .then(pl.col("matched_kwh") / pl.col("consumption_kwh"))
        .alias("cfe_score")
    )


def certificates_by_site_hour(
    con: duckdb.DuckDBPyConnection,
    site_ids: list[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> pl.DataFrame:
    """Certificates per site and hour from the ledger [kWh].

    ``site_ids`` and the hours ``start <= hour_utc < end`` narrow it down; None for all.

    Returns
    -------
    pl.DataFrame
        site_id, hour_utc, certificates_issued_kwh (from the site's own devices),
        certificates_available_kwh (own issuance plus other devices' certificates
        cancelled for the site), certificates_cancelled_kwh (cancelled or claimed for the
        site in that hour).
    """
    params = {"sites": site_ids, "start": start, "end": end}

    def narrowed(site: str, hour: str) -> str:
        # filters inside each side, so a daily run reads its own hours, not the ledger
        return (
            f"($sites IS NULL OR list_contains($sites, {site})) "
            f"AND ($start IS NULL OR {hour} >= $start) AND ($end IS NULL OR {hour} < $end)"
        )

    return con.sql(
        f"""
        WITH issued AS (
            SELECT d.site_id, i.production_hour_utc AS hour_utc, sum(i.issued_wh) AS wh
            FROM go_issuances i JOIN go_devices d USING (device_id)
            WHERE {narrowed("d.site_id", "i.production_hour_utc")}
            GROUP BY ALL),
        cancelled AS (
            SELECT b.beneficiary_site_id AS site_id, b.consumption_hour_utc AS hour_utc,
                   sum(b.quantity_wh) AS wh,
                   sum(b.quantity_wh) FILTER (d.site_id <> b.beneficiary_site_id) AS foreign_wh
            FROM go_bundles b JOIN go_devices d USING (device_id)
            WHERE b.status IN ('cancelled', 'claimed')
              AND {narrowed("b.beneficiary_site_id", "b.consumption_hour_utc")}
            GROUP BY ALL)
        SELECT site_id, hour_utc,
               coalesce(i.wh, 0) / 1000.0 AS certificates_issued_kwh,
               (coalesce(i.wh, 0) + coalesce(c.foreign_wh, 0)) / 1000.0
                   AS certificates_available_kwh,
               coalesce(c.wh, 0) / 1000.0 AS certificates_cancelled_kwh
        FROM issued i FULL OUTER JOIN cancelled c USING (site_id, hour_utc)
        ORDER BY site_id, hour_utc
        """,
        params=params,
    ).pl()


def hourly_matching(energy: pl.DataFrame, certificates: pl.DataFrame) -> pl.DataFrame:
    """Match each site-hour's metered consumption with its cancelled certificates.

    Parameters
    ----------
    energy : pl.DataFrame
        ``site_energy_hourly`` rows (site_id, hour_utc, grid_import_kwh,
        pv_self_consumed_kwh, pv_production_kwh, quality) [kWh].
    certificates : pl.DataFrame
        :func:`certificates_by_site_hour` rows [kWh].

    Returns
    -------
    pl.DataFrame
        ``go_hourly_matching``: one row per site-hour present in either input, with
        consumption_kwh, certificates_*_kwh, matched_kwh = min(cancelled, consumption),
        cfe_score = matched / consumption (null without consumption) and ``flags``
        (comma-separated names from :data:`FLAG_RULES`, null when clean).
    """
    meters = energy.select(
        "site_id",
        "hour_utc",
        consumption_kwh_expr(),
        "pv_production_kwh",
        "quality",
        pl.lit(True).alias("has_meter"),
    )
    joined = (
        meters.join(certificates, on=["site_id", "hour_utc"], how="full", coalesce=True)
        .with_columns(
            pl.col("has_meter").fill_null(False),
            *(
                pl.col(c).fill_null(0.0)
                for c in (
                    "consumption_kwh",
                    "pv_production_kwh",
                    "certificates_issued_kwh",
                    "certificates_available_kwh",
                    "certificates_cancelled_kwh",
                )
            ),
        )
        .with_columns(matched_kwh_expr())
        .with_columns(cfe_score_expr(), _flags_expr())
        .sort("site_id", "hour_utc")
    )
    return conform(joined, "go_hourly_matching")


def _flags_expr() -> pl.Expr:
    cancelled = pl.col("certificates_cancelled_kwh") > 0
    conditions = {
        "cancelled_exceeds_metered": pl.col("has_meter")
        & (pl.col("certificates_cancelled_kwh") > pl.col("consumption_kwh") + TOLERANCE_KWH),
        "cancelled_without_meter_data": cancelled & ~pl.col("has_meter"),
        "incomplete_meter_hour": cancelled & (pl.col("quality") == "incomplete"),
        "issued_exceeds_metered_production": pl.col("has_meter")
        & (pl.col("certificates_issued_kwh") > pl.col("pv_production_kwh") + TOLERANCE_KWH),
    }
    parts = [pl.when(cond).then(pl.lit(name)) for name, cond in conditions.items()]
    joined = pl.concat_str(parts, separator=",", ignore_nulls=True)
    return pl.when(joined != "").then(joined).alias("flags")


def matching_scores(matching: pl.DataFrame) -> dict[str, float]:
    """Hourly CFE score and annual match of a period of ``go_hourly_matching`` rows.

    Returns
    -------
    dict
        consumption_kwh, matched_kwh, certificates_available_kwh [kWh], and
        hourly_cfe_score, annual_match_score [0..1] (0 when nothing was consumed).
    """
    totals = matching.select(
        pl.col("consumption_kwh").sum(),
        pl.col("matched_kwh").sum(),
        pl.col("certificates_available_kwh").sum(),
    ).row(0, named=True)
    load = totals["consumption_kwh"]
    return {
        **totals,
        "hourly_cfe_score": totals["matched_kwh"] / load if load > 0 else 0.0,
        "annual_match_score": min(totals["certificates_available_kwh"], load) / load
        if load > 0
        else 0.0,
    }
