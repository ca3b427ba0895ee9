"""What a Scope 2 report holds: the figures, tables and lineage a renderer lays out.

:mod:`pipelines.scope2` computes it; the PDF and CSV writer in
:mod:`novaenergy.scope2_report` only lays it out, so every printed number comes from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl


@dataclass(frozen=True)
class ResidualMix:
    """The residual-mix emission factor with its cited source.

    Attributes
    ----------
    zone : str
        Bidding zone the factor applies to.
    year : int
        Consumption year the factor is published for.
    g_per_kwh : float
        Residual-mix emission factor [gCO2e/kWh].
    source : str
        Citation, e.g. "AIB European Residual Mix 2025, table 2, DE".
    is_placeholder : bool
        True for the sample's labelled placeholder; reports print a warning.
    """

    zone: str
    year: int
    g_per_kwh: float
    source: str
    is_placeholder: bool


@dataclass(frozen=True)
class SupplierFactor:
    """A supplier-specific emission factor [gCO2e/kWh] with its source."""

    g_per_kwh: float
    source: str


@dataclass(frozen=True)
class Scope2Report:
    """A site's Scope 2 figures for one year, ready to lay out.

    Attributes
    ----------
    site_id, zone : str
    year : int
    location_based_t_co2e, market_based_t_co2e : float
        The two totals [tCO2e].
    consumption_mwh : float
        Electricity consumed on site: grid import plus self-consumed PV [MWh].
    grid_import_mwh, pv_self_consumed_mwh : float
        Its two parts [MWh]. Only grid import enters the location-based total.
    covered_by_certificates_mwh : float
        Consumption matched by certificates cancelled for the site in the same hour [MWh].
    supplier_covered_mwh, residual_mix_mwh : float
        Market-based remainder covered by the supplier factor and by the residual mix [MWh].
    transferred_away_mwh : float
        The site's own certificates transferred to other accounts [MWh].
    hourly_cfe_score, annual_match_score : float
        Σ_h min(GC_h, load_h) / Σ_h load_h and min(ΣGC, Σload) / Σload [0..1].
    location_basis_hours : dict[str, int]
        Hours whose location-based intensity came from each basis:
        ``consumption``, ``production`` or ``gap_filled``.
    residual_mix : ResidualMix
    supplier_factor : SupplierFactor or None
    method_statement : list[str]
        Paragraphs stating the method, in the order they are printed.
    monthly : pl.DataFrame
        ``scope2_monthly`` rows of the site and year: month (``YYYY-MM``),
        location_based_t_co2e, market_based_t_co2e, consumption_mwh, grid_import_mwh,
        pv_self_consumed_mwh, covered_by_certificates_mwh, residual_mix_mwh,
        hourly_cfe_score, annual_match_score, residual_mix_g_per_kwh, factor_table_version.
    hourly : pl.DataFrame
        One row per hour: hour_utc, consumption_kwh, grid_import_kwh,
        certificates_available_kwh, certificates_cancelled_kwh, matched_kwh, cfe_score,
        ci_g_per_kwh, ci_basis, location_based_kg_co2e, market_based_kg_co2e, flags.
    flags : pl.DataFrame
        Hours an auditor should look at: hour_utc, flag, detail.
    lineage : dict[str, str]
        Input partitions, factor-table version, residual-mix source, content hash of inputs.
    """

    site_id: str
    zone: str
    year: int
    location_based_t_co2e: float
    market_based_t_co2e: float
    consumption_mwh: float
    grid_import_mwh: float
    pv_self_consumed_mwh: float
    covered_by_certificates_mwh: float
    supplier_covered_mwh: float
    residual_mix_mwh: float
    transferred_away_mwh: float
    hourly_cfe_score: float
    annual_match_score: float
    location_basis_hours: dict[str, int]
    residual_mix: ResidualMix
    supplier_factor: SupplierFactor | None
    method_statement: list[str]
    monthly: pl.DataFrame
    hourly: pl.DataFrame
    flags: pl.DataFrame
    lineage: dict[str, str] = field(default_factory=dict)
