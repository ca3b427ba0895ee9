"""GHG Protocol Scope 2, location-based and market-based, built hour by hour.

Location-based: Σ_h grid_import_h × CI_h, with CI_h the grid's direct (combustion)
intensity in the site's zone: consumption-based when known, else production-based,
else the period mean of known hours (counted as ``gap_filled``). Self-consumed PV is
not Scope 2.

Market-based, per hour, in the Scope 2 Guidance's order of instruments: consumption
covered by certificates cancelled for the site in the same hour is zero-emission; the
rest takes the supplier-specific factor where one is configured, up to the metered grid
import; whatever remains takes the residual mix. The site's own PV whose certificates
were sold is not covered, so it lands in the residual mix.

Annual and monthly figures are sums of the hours. Periods are UTC calendar months.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl

from pipelines.certificates.matching import (
    FLAG_RULES,
    cfe_score_expr,
    consumption_kwh_expr,
    matched_kwh_expr,
)
from pipelines.schemas import conform
from pipelines.scope2_report_model import ResidualMix, Scope2Report, SupplierFactor

DEFAULT_RESIDUAL_MIX_FILE = Path(__file__).parent / "data" / "residual_mix_placeholder.csv"
BASIS_ORDER = ("consumption", "production")


class Scope2InputError(ValueError):
    """The inputs cannot give a Scope 2 figure (no consumption, no residual mix, ...)."""


def load_residual_mix(path: str | Path, zone: str, year: int) -> ResidualMix:
    """The residual-mix factor of ``zone`` and ``year`` from a CSV with its source.

    The CSV has zone, year, g_per_kwh [gCO2e/kWh], source and is_placeholder.

    Raises
    ------
    Scope2InputError
        When the file has no row for the zone and year: a residual mix is never guessed.
    """
    table = pl.read_csv(path, schema_overrides={"g_per_kwh": pl.Float64, "year": pl.Int64})
    row = table.filter((pl.col("zone") == zone) & (pl.col("year") == year))
    if row.height != 1:
        raise Scope2InputError(
            f"{path} has no residual mix for zone {zone} and year {year}; add the AIB "
            "European Residual Mix figure with its source"
        )
    r = row.row(0, named=True)
    return ResidualMix(
        zone=zone,
        year=year,
        g_per_kwh=r["g_per_kwh"],
        source=r["source"],
        is_placeholder=str(r["is_placeholder"]).lower() in ("true", "1", "yes"),
    )


def supplier_factor(g_per_kwh: str | float | None, source: str) -> SupplierFactor | None:
    """A supplier-specific factor from settings; empty means none.

    Raises
    ------
    Scope2InputError
        When a factor is given without its source, or is not a number >= 0.
    """
    if g_per_kwh is None or str(g_per_kwh).strip() == "":
        return None
    try:
        value = float(g_per_kwh)
    except ValueError as exc:
        raise Scope2InputError(f"supplier factor {g_per_kwh!r} is not a number") from exc
    if value < 0 or not source.strip():
        raise Scope2InputError("a supplier factor needs a value >= 0 [g/kWh] and its source")
    return SupplierFactor(value, source)


def hourly_intensity_for_scope2(intensity: pl.DataFrame, hours: pl.Series) -> pl.DataFrame:
    """Direct grid intensity per hour, the best basis first, gaps filled with the mean.

    Parameters
    ----------
    intensity : pl.DataFrame
        ``grid_carbon_intensity_hourly`` rows of the site's zone.
    hours : pl.Series
        The hours that need a factor.

    Returns
    -------
    pl.DataFrame
        hour_utc, ci_g_per_kwh [gCO2e/kWh] (direct), ci_basis (``consumption``,
        ``production`` or ``gap_filled``) and factor_table_version.
    """
    known = intensity.filter(
        pl.col("ci_direct_g_per_kwh").is_not_null() & (pl.col("quality") != "missing")
    ).with_columns(
        pl.col("basis").replace_strict({b: i for i, b in enumerate(BASIS_ORDER)}).alias("rank")
    )
    best = (
        known.sort("hour_utc", "rank")
        .unique("hour_utc", keep="first", maintain_order=True)
        .select(
            "hour_utc",
            pl.col("ci_direct_g_per_kwh").alias("ci_g_per_kwh"),
            pl.col("basis").alias("ci_basis"),
            "factor_table_version",
        )
    )
    out = (
        pl.DataFrame({"hour_utc": hours})
        .unique()
        .sort("hour_utc")
        .join(best, on="hour_utc", how="left")
    )
    if best.height == 0:
        raise Scope2InputError("no grid carbon intensity for any hour of the period")
    mean = best["ci_g_per_kwh"].mean()
    version = ",".join(sorted(best["factor_table_version"].unique().to_list()))
    return out.with_columns(
        pl.col("ci_basis").fill_null("gap_filled"),
        pl.col("ci_g_per_kwh").fill_null(mean),
        pl.col("factor_table_version").fill_null(version),
    )


def scope2_hourly(
    energy: pl.DataFrame,
    matching: pl.DataFrame,
    intensity: pl.DataFrame,
    residual_mix: ResidualMix,
    supplier: SupplierFactor | None = None,
) -> pl.DataFrame:
    """Location- and market-based emissions of every hour of one site.

    Parameters
    ----------
    energy : pl.DataFrame
        ``site_energy_hourly`` rows of the site [kWh].
    matching : pl.DataFrame
        ``go_hourly_matching`` rows of the site [kWh].
    intensity : pl.DataFrame
        ``grid_carbon_intensity_hourly`` rows of the site's zone.
    residual_mix : ResidualMix
    supplier : SupplierFactor, optional

    Returns
    -------
    pl.DataFrame
        One row per hour: consumption_kwh, grid_import_kwh, pv_self_consumed_kwh,
        certificates_available_kwh, certificates_cancelled_kwh, matched_kwh, cfe_score,
        supplier_covered_kwh, residual_mix_kwh, ci_g_per_kwh, ci_basis,
        factor_table_version, location_based_kg_co2e, market_based_kg_co2e [kgCO2e], flags.
    """
    base = energy.select("site_id", "hour_utc", "grid_import_kwh", "pv_self_consumed_kwh").join(
        matching.drop("consumption_kwh", strict=False),
        on=["site_id", "hour_utc"],
        how="full",
        coalesce=True,
    )
    base = base.with_columns(
        *(
            pl.col(c).fill_null(0.0)
            for c in (
                "grid_import_kwh",
                "pv_self_consumed_kwh",
                "certificates_available_kwh",
                "certificates_cancelled_kwh",
            )
        )
    ).with_columns(consumption_kwh_expr())
    ci = hourly_intensity_for_scope2(intensity, base["hour_utc"])
    sf = supplier.g_per_kwh if supplier else 0.0
    return (
        base.join(ci, on="hour_utc", how="left")
        .with_columns(matched_kwh_expr())
        .with_columns(
            cfe_score_expr(),
            (
                pl.min_horizontal(
                    pl.col("consumption_kwh") - pl.col("matched_kwh"), "grid_import_kwh"
                )
                if supplier
                else pl.lit(0.0)
            ).alias("supplier_covered_kwh"),
        )
        .with_columns(
            (
                pl.col("consumption_kwh") - pl.col("matched_kwh") - pl.col("supplier_covered_kwh")
            ).alias("residual_mix_kwh"),
            (pl.col("grid_import_kwh") * pl.col("ci_g_per_kwh") / 1000.0).alias(
                "location_based_kg_co2e"
            ),
        )
        .with_columns(
            (
                (
                    pl.col("supplier_covered_kwh") * sf
                    + pl.col("residual_mix_kwh") * residual_mix.g_per_kwh
                )
                / 1000.0
            ).alias("market_based_kg_co2e")
        )
        .sort("site_id", "hour_utc")
    )


def scope2_monthly(hourly: pl.DataFrame, residual_mix: ResidualMix) -> pl.DataFrame:
    """Roll :func:`scope2_hourly` rows up to ``scope2_monthly`` (UTC months) [t, MWh]."""
    monthly = (
        hourly.with_columns(pl.col("hour_utc").dt.strftime("%Y-%m").alias("month"))
        .group_by("site_id", "month")
        .agg(
            (pl.col("location_based_kg_co2e").sum() / 1000).alias("location_based_t_co2e"),
            (pl.col("market_based_kg_co2e").sum() / 1000).alias("market_based_t_co2e"),
            *(
                (pl.col(f"{c}_kwh").sum() / 1000).alias(f"{c}_mwh")
                for c in (
                    "consumption",
                    "grid_import",
                    "pv_self_consumed",
                    "supplier_covered",
                    "residual_mix",
                )
            ),
            (pl.col("matched_kwh").sum() / 1000).alias("covered_by_certificates_mwh"),
            (pl.col("certificates_available_kwh").sum() / 1000).alias("available_mwh"),
            pl.col("ci_basis").value_counts(sort=True).alias("bases"),
            pl.col("factor_table_version")
            .unique()
            .sort()
            .str.join(",")
            .alias("factor_table_version"),
        )
        .with_columns(
            _share("covered_by_certificates_mwh", "consumption_mwh").alias("hourly_cfe_score"),
            _share(pl.min_horizontal("available_mwh", "consumption_mwh"), "consumption_mwh").alias(
                "annual_match_score"
            ),
            pl.lit(residual_mix.g_per_kwh).alias("residual_mix_g_per_kwh"),
            pl.col("bases")
            .list.eval(
                pl.element().struct.field("ci_basis")
                + pl.lit(":")
                + pl.element().struct.field("count").cast(pl.String)
            )
            .list.join(",")
            .alias("location_basis"),
        )
        .sort("site_id", "month")
    )
    return conform(monthly, "scope2_monthly")


def _share(num, den: str) -> pl.Expr:
    num = pl.col(num) if isinstance(num, str) else num
    return pl.when(pl.col(den) > 0).then(num / pl.col(den)).otherwise(0.0)


def content_hash(*frames: pl.DataFrame) -> str:
    """SHA-256 of the frames' CSV text, sorted by every column: same inputs, same hash."""
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(frame.sort(frame.columns).write_csv().encode())
    return digest.hexdigest()


def method_statement(
    hourly: pl.DataFrame, residual_mix: ResidualMix, supplier: SupplierFactor | None
) -> list[str]:
    """The paragraphs that state how the figures were made."""
    bases = dict(hourly["ci_basis"].value_counts().iter_rows())
    supplier_text = (
        f"then a supplier-specific factor of {supplier.g_per_kwh:g} gCO2e/kWh "
        f"({supplier.source}) up to the metered grid import; "
        if supplier
        else "no supplier-specific factor is configured; "
    )
    return [
        "Dual reporting under the GHG Protocol Scope 2 Guidance (2015): both totals are "
        "sums of hourly figures for UTC calendar months. Consumption is metered grid import "
        "plus self-consumed on-site PV.",
        "Location-based: each hour's metered grid import times the grid's direct (combustion) "
        "carbon intensity of the bidding zone, computed from ENTSO-E generation per "
        "production type. The consumption-based intensity (imports traced through "
        f"cross-border flows) was used for {bases.get('consumption', 0)} hours, the "
        f"production-based intensity for {bases.get('production', 0)} hours, and "
        f"{bases.get('gap_filled', 0)} hours without data took the period mean. "
        "Self-consumed PV is not Scope 2 and carries no location-based emissions.",
        "Market-based: certificates (granular Guarantees of Origin, one per Wh and hour) "
        "cancelled for the site cover consumption in their own production hour and bidding "
        f"zone only; {supplier_text}the rest takes the residual mix of "
        f"{residual_mix.g_per_kwh:g} gCO2e/kWh ({residual_mix.source}). On-site PV whose "
        "certificates were transferred to another account is not covered and takes the "
        "residual mix.",
        "Hourly CFE score = sum over hours of min(certificates, consumption) / total "
        "consumption. The annual match, min(total certificates, total consumption) / total "
        "consumption, is shown for comparison; it is never lower.",
    ]


def build_report(
    site_id: str,
    zone: str,
    year: int,
    hourly: pl.DataFrame,
    residual_mix: ResidualMix,
    supplier: SupplierFactor | None,
    transferred_away_kwh: float,
    lineage: dict[str, str],
) -> Scope2Report:
    """Assemble a :class:`Scope2Report` of one site and year from :func:`scope2_hourly`."""
    rows = hourly.filter(pl.col("hour_utc").dt.year() == year)
    if rows.is_empty() or rows["consumption_kwh"].sum() <= 0:
        raise Scope2InputError(f"no metered consumption for site {site_id} in {year}")
    monthly = scope2_monthly(rows, residual_mix)
    total = rows.select(
        *(
            pl.col(c).sum()
            for c in (
                "location_based_kg_co2e",
                "market_based_kg_co2e",
                "consumption_kwh",
                "grid_import_kwh",
                "pv_self_consumed_kwh",
                "matched_kwh",
                "supplier_covered_kwh",
                "residual_mix_kwh",
                "certificates_available_kwh",
            )
        )
    ).row(0, named=True)
    load = total["consumption_kwh"]
    flags = (
        (
            rows.filter(pl.col("flags").is_not_null())
            .select("hour_utc", pl.col("flags").str.split(",").alias("flag"))
            .explode("flag")
            .with_columns(pl.col("flag").replace_strict(FLAG_RULES, default="").alias("detail"))
        )
        if "flags" in rows.columns
        else pl.DataFrame()
    )
    return Scope2Report(
        site_id=site_id,
        zone=zone,
        year=year,
        location_based_t_co2e=total["location_based_kg_co2e"] / 1000,
        market_based_t_co2e=total["market_based_kg_co2e"] / 1000,
        consumption_mwh=load / 1000,
        grid_import_mwh=total["grid_import_kwh"] / 1000,
        pv_self_consumed_mwh=total["pv_self_consumed_kwh"] / 1000,
        covered_by_certificates_mwh=total["matched_kwh"] / 1000,
        supplier_covered_mwh=total["supplier_covered_kwh"] / 1000,
        residual_mix_mwh=total["residual_mix_kwh"] / 1000,
        transferred_away_mwh=transferred_away_kwh / 1000,
        hourly_cfe_score=total["matched_kwh"] / load,
        annual_match_score=min(total["certificates_available_kwh"], load) / load,
        location_basis_hours=dict(rows["ci_basis"].value_counts().iter_rows()),
        residual_mix=residual_mix,
        supplier_factor=supplier,
        method_statement=method_statement(rows, residual_mix, supplier),
        monthly=monthly,
        hourly=rows.select(
            "hour_utc",
            "consumption_kwh",
            "grid_import_kwh",
            "certificates_available_kwh",
            "certificates_cancelled_kwh",
            "matched_kwh",
            "cfe_score",
            "ci_g_per_kwh",
            "ci_basis",
            "location_based_kg_co2e",
            "market_based_kg_co2e",
            *(["flags"] if "flags" in rows.columns else []),
        ),
        flags=flags,
        lineage=lineage,
    )
