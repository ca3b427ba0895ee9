"""Write a site's Scope 2 report (PDF + CSV) from the lake: shared by the CLI and the demo."""

from __future__ import annotations

from pathlib import Path

from novaenergy.scope2_report import write_scope2_report
from novaenergy.settings import Settings
from pipelines.scope2 import DEFAULT_RESIDUAL_MIX_FILE, load_residual_mix, supplier_factor
from pipelines.scope2_lake import site_year_report
from pipelines.scope2_report_model import Scope2Report


def write_site_year(
    settings: Settings, site_id: str, year: int, out_dir: str | Path
) -> tuple[Scope2Report, dict[str, Path]]:
    """Build the report of ``site_id`` and ``year`` and write its files into ``out_dir``.

    Raises
    ------
    pipelines.scope2.Scope2InputError
        No consumption or intensity for the site and year, no residual mix for the zone
        and year, or an incomplete supplier factor.
    """
    zone = settings.grid_region.removeprefix("EU_ENTSOE_")
    report = site_year_report(
        settings.lake_root,
        site_id,
        zone,
        year,
        load_residual_mix(settings.residual_mix_file or DEFAULT_RESIDUAL_MIX_FILE, zone, year),
        supplier_factor(settings.supplier_factor_g_per_kwh, settings.supplier_factor_source),
    )
    return report, write_scope2_report(report, Path(out_dir))
