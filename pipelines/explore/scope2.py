"""Scope 2: the monthly totals in the lake, the report files, and an audit recomputation.

The dashboard reads ``scope2_monthly`` and the report files the CLI writes
(``scope2_<site>_<year>.pdf`` and ``scope2_<site>_<year>_<table>.csv``). The audit
notebook recomputes the totals along a path independent of :mod:`pipelines.scope2`
(:func:`independent_hourly`) and compares them with the lake and the report
(:func:`compare_monthly`, :func:`compare_report`).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import polars as pl

from pipelines import lake
from pipelines.certificates.matching import consumption_kwh_expr
from pipelines.scope2 import (
    DEFAULT_RESIDUAL_MIX_FILE,
    Scope2InputError,
    load_residual_mix,
    method_statement,
)
from pipelines.scope2_report_model import ResidualMix, SupplierFactor

REPORT_TABLES = ("summary", "monthly", "hourly_matching", "flags", "lineage")
TOTALS = ("location_based_t_co2e", "market_based_t_co2e")
# scope2_monthly columns the audit recomputes
AUDITED = (
    *TOTALS,
    "consumption_mwh",
    "grid_import_mwh",
    "pv_self_consumed_mwh",
    "covered_by_certificates_mwh",
    "supplier_covered_mwh",
    "residual_mix_mwh",
)
# where each audited number comes from: dataset.columns and how
LINEAGE = {
    "consumption_mwh": "site_energy_hourly.grid_import_kwh + pv_self_consumed_kwh, summed",
    "grid_import_mwh": "site_energy_hourly.grid_import_kwh, summed",
    "pv_self_consumed_mwh": "site_energy_hourly.pv_self_consumed_kwh, summed",
    "covered_by_certificates_mwh": "go_ledger_events (cancel/claim for the site).quantity_wh "
    "per consumption_hour_utc, min(cancelled, consumption) per hour, summed",
    "supplier_covered_mwh": "min(consumption - covered, grid import) per hour when a "
    "supplier factor is configured, else 0",
    "residual_mix_mwh": "consumption - covered - supplier-covered per hour, summed",
    "location_based_t_co2e": "site_energy_hourly.grid_import_kwh x "
    "grid_carbon_intensity_hourly.ci_direct_g_per_kwh (consumption basis, else production, "
    "else the period mean), summed",
    "market_based_t_co2e": "supplier-covered x supplier factor + residual-mix MWh x "
    "residual mix g/kWh (residual_mix_placeholder.csv or RESIDUAL_MIX_FILE), summed",
}
_REPORT_FILE = re.compile(
    r"^scope2_(?P<site>.+)_(?P<year>\d{4})(?:_(?P<table>[a-z_]+))?\.(pdf|csv)$"
)


# ------------------------------------------------------------------ dashboard reads


def scope2_months(lake_root: str | Path, site_id: str) -> pl.DataFrame:
    """``scope2_monthly`` rows of the site [tCO2e, MWh], by month (UTC)."""
    return lake.read_partition(lake_root, "scope2_monthly", site_id).sort("month")


def report_files(reports_dir: str | Path, site_id: str) -> dict[int, dict[str, Path]]:
    """The Scope 2 report files of a site in ``<reports_dir>/scope2``, by year.

    Returns
    -------
    dict
        year -> {"pdf": path, "summary": path, "flags": path, ...}, only files present.
    """
    folder = Path(reports_dir) / "scope2"
    found: dict[int, dict[str, Path]] = {}
    for path in sorted(folder.glob(f"scope2_{site_id}_*")):
        match = _REPORT_FILE.match(path.name)
        if not match or match["site"] != site_id:
            continue
        name = match["table"] or "pdf"
        if name == "pdf" and path.suffix != ".pdf":
            continue
        found.setdefault(int(match["year"]), {})[name] = path
    return dict(sorted(found.items()))


def report_instruments(
    files: dict[str, Path],
) -> tuple[ResidualMix | None, SupplierFactor | None]:
    """The residual mix and supplier factor a report was made with, from its CSV files.

    Both None when the report has no lineage or summary CSV.
    """
    if "lineage" not in files or "summary" not in files:
        return None, None
    lineage = dict(pl.read_csv(files["lineage"], infer_schema=False).iter_rows())
    summary = dict(pl.read_csv(files["summary"]).select("metric", "value").iter_rows())
    zone, year = lineage.get("residual_mix_zone_year", " 0").rsplit(" ", 1)
    mix = ResidualMix(
        zone=zone,
        year=int(year),
        g_per_kwh=float(summary["residual_mix_g_per_kwh"]),
        source=lineage.get("residual_mix_source", ""),
        is_placeholder=lineage.get("residual_mix_is_placeholder", "") == "true",
    )
    supplier = (
        SupplierFactor(
            float(summary["supplier_factor_g_per_kwh"]), lineage.get("supplier_factor_source", "")
        )
        if "supplier_factor_g_per_kwh" in summary
        else None
    )
    return mix, supplier


def instruments(
    files: dict[str, Path], monthly: pl.DataFrame, zone: str, year: int
) -> tuple[ResidualMix | None, SupplierFactor | None]:
    """The residual mix and supplier factor behind a year's figures.

    From the year's report (:func:`report_instruments`) when it exists; else the packaged
    residual mix when its factor is the one in ``scope2_monthly`` (the lake does not record
    which file was used), and no supplier factor unless the months say one covered some
    consumption (then unknown: None, None).
    """
    if "lineage" in files and "summary" in files:
        return report_instruments(files)
    if monthly.is_empty() or monthly["supplier_covered_mwh"].sum() > 0:
        return None, None
    try:
        mix = load_residual_mix(DEFAULT_RESIDUAL_MIX_FILE, zone, year)
    except Scope2InputError:
        return None, None
    used = monthly["residual_mix_g_per_kwh"].unique().to_list()
    return (mix if used == [mix.g_per_kwh] else None), None


def basis_hours(monthly: pl.DataFrame) -> dict[str, int]:
    """Hours per location-based intensity basis, summed over ``location_basis`` strings."""
    hours: dict[str, int] = {}
    for text in monthly["location_basis"].drop_nulls():
        for item in filter(None, text.split(",")):
            basis, count = item.rsplit(":", 1)
            hours[basis] = hours.get(basis, 0) + int(count)
    return hours


def method_notes(
    monthly: pl.DataFrame, residual_mix: ResidualMix, supplier: SupplierFactor | None
) -> list[str]:
    """The report's own method statement (:func:`pipelines.scope2.method_statement`)."""
    hours = basis_hours(monthly)
    bases = pl.DataFrame({"ci_basis": [b for b, n in hours.items() for _ in range(n)]})
    return method_statement(bases.cast({"ci_basis": pl.String}), residual_mix, supplier)


# ------------------------------------------------------------------ audit recomputation


def _year(lake_root: str | Path, dataset: str, entity: str, year: int) -> pl.DataFrame:
    return lake.read_window(lake_root, dataset, date(year, 1, 1), date(year + 1, 1, 1), [entity])


def intensity_by_hour(intensity: pl.DataFrame, hours: pl.Series) -> pl.DataFrame:
    """Direct grid intensity of each hour: consumption basis, else production, else mean.

    Written apart from :func:`pipelines.scope2.hourly_intensity_for_scope2` (a pivot
    instead of a ranked de-duplication) so the audit does not inherit its bugs.

    Returns
    -------
    pl.DataFrame
        hour_utc, ci_g_per_kwh [gCO2e/kWh], ci_basis.
    """
    known = intensity.filter(
        pl.col("ci_direct_g_per_kwh").is_not_null() & (pl.col("quality") != "missing")
    )
    wide = known.pivot(
        "basis", index="hour_utc", values="ci_direct_g_per_kwh", aggregate_function="first"
    )
    for basis in ("consumption", "production"):
        if basis not in wide.columns:
            wide = wide.with_columns(pl.lit(None, pl.Float64).alias(basis))
    best = wide.select(
        "hour_utc",
        pl.coalesce("consumption", "production").alias("ci_g_per_kwh"),
        pl.when(pl.col("consumption").is_not_null())
        .then(pl.lit("consumption"))
        .otherwise(pl.lit("production"))
        .alias("ci_basis"),
    )
    mean = best["ci_g_per_kwh"].mean()
    return (
        pl.DataFrame({"hour_utc": hours.unique().sort()})
        .join(best, on="hour_utc", how="left")
        .with_columns(
            pl.col("ci_basis").fill_null("gap_filled"), pl.col("ci_g_per_kwh").fill_null(mean)
        )
    )


def cancelled_by_hour(events: pl.DataFrame, site_id: str) -> pl.DataFrame:
    """Certificates cancelled or claimed for the site, per consumption hour [kWh].

    Replays the ledger's event log (each bundle counted once) instead of reading
    ``go_hourly_matching``, which the matching asset computes from the ledger's state.
    """
    return (
        events.filter(
            pl.col("event_type").is_in(["cancel", "claim"])
            & (pl.col("beneficiary_site_id") == site_id)
        )
        .unique("bundle_id", keep="last")
        .group_by(pl.col("consumption_hour_utc").alias("hour_utc"))
        .agg((pl.col("quantity_wh").sum() / 1000.0).alias("cancelled_kwh"))
        .sort("hour_utc")
    )


def independent_hourly(
    energy: pl.DataFrame,
    events: pl.DataFrame,
    intensity: pl.DataFrame,
    site_id: str,
    residual_mix: ResidualMix,
    supplier: SupplierFactor | None = None,
) -> pl.DataFrame:
    """Scope 2 of every hour, recomputed from the lake's inputs [kWh, kgCO2e].

    Parameters
    ----------
    energy : pl.DataFrame
        ``site_energy_hourly`` rows of the site.
    events : pl.DataFrame
        ``go_ledger_events`` rows of the site's zone.
    intensity : pl.DataFrame
        ``grid_carbon_intensity_hourly`` rows of the site's zone.
    site_id : str
    residual_mix : ResidualMix
    supplier : SupplierFactor, optional

    Returns
    -------
    pl.DataFrame
        hour_utc, consumption_kwh, grid_import_kwh, pv_self_consumed_kwh, cancelled_kwh,
        covered_kwh, supplier_covered_kwh, residual_mix_kwh, ci_g_per_kwh, ci_basis,
        location_kg_co2e, market_kg_co2e.
    """
    site = energy.filter(pl.col("site_id") == site_id).select(
        "hour_utc", "grid_import_kwh", "pv_self_consumed_kwh"
    )
    hours = site.join(cancelled_by_hour(events, site_id), on="hour_utc", how="full", coalesce=True)
    hours = hours.with_columns(pl.exclude("hour_utc").fill_null(0.0)).with_columns(
        consumption_kwh_expr()
    )
    factor = supplier.g_per_kwh if supplier else 0.0
    uncovered = pl.col("consumption_kwh") - pl.col("covered_kwh")
    return (
        hours.join(intensity_by_hour(intensity, hours["hour_utc"]), on="hour_utc", how="left")
        .with_columns(pl.min_horizontal("cancelled_kwh", "consumption_kwh").alias("covered_kwh"))
        .with_columns(
            (pl.min_horizontal(uncovered, "grid_import_kwh") if supplier else pl.lit(0.0)).alias(
                "supplier_covered_kwh"
            )
        )
        .with_columns((uncovered - pl.col("supplier_covered_kwh")).alias("residual_mix_kwh"))
        .with_columns(
            (pl.col("grid_import_kwh") * pl.col("ci_g_per_kwh") / 1000).alias("location_kg_co2e"),
            (
                (pl.col("supplier_covered_kwh") * factor)
                + pl.col("residual_mix_kwh") * residual_mix.g_per_kwh
            )
            .truediv(1000)
            .alias("market_kg_co2e"),
        )
        .select(
            "hour_utc",
            "consumption_kwh",
            "grid_import_kwh",
            "pv_self_consumed_kwh",
            "cancelled_kwh",
            "covered_kwh",
            "supplier_covered_kwh",
            "residual_mix_kwh",
            "ci_g_per_kwh",
            "ci_basis",
            "location_kg_co2e",
            "market_kg_co2e",
        )
        .sort("hour_utc")
    )


def independent_monthly(hourly: pl.DataFrame) -> pl.DataFrame:
    """:func:`independent_hourly` summed per UTC month, named as ``scope2_monthly`` [t, MWh]."""
    return (
        hourly.group_by(pl.col("hour_utc").dt.strftime("%Y-%m").alias("month"))
        .agg(
            (pl.col("location_kg_co2e").sum() / 1000).alias("location_based_t_co2e"),
            (pl.col("market_kg_co2e").sum() / 1000).alias("market_based_t_co2e"),
            (pl.col("consumption_kwh").sum() / 1000).alias("consumption_mwh"),
            (pl.col("grid_import_kwh").sum() / 1000).alias("grid_import_mwh"),
            (pl.col("pv_self_consumed_kwh").sum() / 1000).alias("pv_self_consumed_mwh"),
            (pl.col("covered_kwh").sum() / 1000).alias("covered_by_certificates_mwh"),
            (pl.col("supplier_covered_kwh").sum() / 1000).alias("supplier_covered_mwh"),
            (pl.col("residual_mix_kwh").sum() / 1000).alias("residual_mix_mwh"),
        )
        .sort("month")
    )


def recompute_year(
    lake_root: str | Path,
    site_id: str,
    zone: str,
    year: int,
    residual_mix: ResidualMix,
    supplier: SupplierFactor | None = None,
) -> pl.DataFrame:
    """:func:`independent_hourly` of one UTC year, read from the lake."""
    intensity = _year(lake_root, "grid_carbon_intensity_hourly", zone, year)
    return independent_hourly(
        _year(lake_root, "site_energy_hourly", site_id, year),
        lake.read_partition(lake_root, "go_ledger_events", zone).filter(
            pl.col("consumption_hour_utc").dt.year() == year
        ),
        intensity.filter(pl.col("zone") == zone),
        site_id,
        residual_mix,
        supplier,
    )


def compare_monthly(ours: pl.DataFrame, theirs: pl.DataFrame) -> pl.DataFrame:
    """Month by month and figure, the audit's value next to the lake's (or report's).

    Returns
    -------
    pl.DataFrame
        month, figure, audit, lake, abs_diff; a month missing on one side shows null.
    """
    cols = [c for c in AUDITED if c in ours.columns and c in theirs.columns]
    long = [
        frame.select("month", *cols).unpivot(index="month", variable_name="figure", value_name=name)
        for frame, name in ((ours, "audit"), (theirs, "lake"))
    ]
    return (
        long[0]
        .join(long[1], on=["month", "figure"], how="full", coalesce=True)
        .with_columns((pl.col("audit") - pl.col("lake")).abs().alias("abs_diff"))
        .sort("month", "figure")
    )


def compare_report(monthly: pl.DataFrame, summary_csv: str | Path, year: int) -> pl.DataFrame:
    """The report's summary totals next to the sums of the lake's months of ``year``.

    Returns
    -------
    pl.DataFrame
        figure, lake (Σ months), report (the summary CSV), abs_diff.
    """
    summary = pl.read_csv(summary_csv).select(
        pl.col("metric").alias("figure"), pl.col("value").alias("report")
    )
    sums = (
        months_of_year(monthly, year)
        .select(pl.col(c).sum() for c in AUDITED)
        .unpivot(variable_name="figure", value_name="lake")
    )
    return sums.join(summary, on="figure", how="left").with_columns(
        (pl.col("lake") - pl.col("report")).abs().alias("abs_diff")
    )


def matching_year(lake_root: str | Path, site_id: str, year: int) -> pl.DataFrame:
    """``go_hourly_matching`` rows of the site in one UTC year [kWh]."""
    return _year(lake_root, "go_hourly_matching", site_id, year)


def compare_certificates(hourly: pl.DataFrame, matching: pl.DataFrame) -> pl.DataFrame:
    """Certificates cancelled per hour: the ledger's event log against ``go_hourly_matching``.

    Returns
    -------
    pl.DataFrame
        hour_utc, ledger_kwh (:func:`cancelled_by_hour` via :func:`independent_hourly`),
        matching_kwh (certificates_cancelled_kwh), abs_diff [kWh]; every hour of either.
    """
    return (
        hourly.select("hour_utc", pl.col("cancelled_kwh").alias("ledger_kwh"))
        .join(
            matching.select("hour_utc", pl.col("certificates_cancelled_kwh").alias("matching_kwh")),
            on="hour_utc",
            how="full",
            coalesce=True,
        )
        .with_columns(pl.col("ledger_kwh", "matching_kwh").fill_null(0.0))
        .with_columns((pl.col("ledger_kwh") - pl.col("matching_kwh")).abs().alias("abs_diff"))
        .sort("hour_utc")
    )


def lineage_table() -> pl.DataFrame:
    """Where each audited figure comes from: figure, source (dataset.columns and rule)."""
    return pl.DataFrame({"figure": list(LINEAGE), "source": list(LINEAGE.values())})


def months_of_year(monthly: pl.DataFrame, year: int) -> pl.DataFrame:
    """The ``scope2_monthly`` rows of one UTC year."""
    return monthly.filter(pl.col("month").str.starts_with(f"{year}-"))


def latest_year(monthly: pl.DataFrame) -> int | None:
    """The UTC year of the newest month in ``scope2_monthly`` rows, None when empty."""
    return int(monthly["month"].max()[:4]) if monthly.height else None
