"""A site's Scope 2 year from the lake, with the lineage an auditor needs to trace it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from pipelines import lake
from pipelines.scope2 import build_report, content_hash, scope2_hourly
from pipelines.scope2_report_model import ResidualMix, Scope2Report, SupplierFactor


def _partitions(files: list[Path]) -> str:
    if not files:
        return "none"
    days = sorted(f.parent.name.removeprefix("date=") for f in files)
    entity = files[0].parent.parent.name
    return f"{entity}, {len(files)} daily partitions {days[0]}..{days[-1]}"


def transferred_away_kwh(events: pl.DataFrame, site_id: str, year: int) -> float:
    """The site's own certificates of ``year`` transferred to other accounts [kWh].

    ``events`` are ``go_ledger_events`` rows.
    """
    return (
        events.filter(
            (pl.col("event_type") == "transfer")
            & (pl.col("from_account_id") == site_id)
            & (pl.col("production_hour_utc").dt.year() == year)
        )["quantity_wh"].sum()
        / 1000.0
    )


def site_year_report(
    lake_root: str | Path,
    site_id: str,
    zone: str,
    year: int,
    residual_mix: ResidualMix,
    supplier: SupplierFactor | None,
) -> Scope2Report:
    """Build the Scope 2 report of one site and UTC year from lake partitions.

    Reads ``site_energy_hourly`` and ``go_hourly_matching`` of the site,
    ``grid_carbon_intensity_hourly`` of its zone and the ledger's event snapshot.

    Raises
    ------
    pipelines.scope2.Scope2InputError
        When the year has no metered consumption or no grid intensity at all.
    """
    start, end = date(year, 1, 1), date(year + 1, 1, 1)
    sources = {
        "site_energy_hourly": [site_id],
        "go_hourly_matching": [site_id],
        "grid_carbon_intensity_hourly": [zone],
    }
    files = {d: lake.window_files(lake_root, d, start, end, e) for d, e in sources.items()}
    frames = {d: lake.read_window(lake_root, d, start, end, e) for d, e in sources.items()}
    intensity = frames["grid_carbon_intensity_hourly"].filter(pl.col("zone") == zone)
    hourly = scope2_hourly(
        frames["site_energy_hourly"],
        frames["go_hourly_matching"],
        intensity,
        residual_mix,
        supplier,
    )
    events = lake.read_partition(lake_root, "go_ledger_events", zone)
    lineage = {
        **{f"input {d}": _partitions(f) for d, f in files.items()},
        "input go_ledger_events": (
            f"zone={zone}, {events.height} events up to event_id {events['event_id'].max()}"
            if events.height
            else "none"
        ),
        "factor_table_version": ",".join(sorted(hourly["factor_table_version"].unique())),
        "residual_mix_source": residual_mix.source,
        "inputs_sha256": content_hash(
            frames["site_energy_hourly"], frames["go_hourly_matching"], intensity
        ),
    }
    return build_report(
        site_id,
        zone,
        year,
        hourly,
        residual_mix,
        supplier,
        transferred_away_kwh(events, site_id, year),
        lineage,
    )
