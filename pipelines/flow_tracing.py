"""Consumption-based carbon intensity by flow tracing.

For every hour, solve for all zones at once (Tranberg et al. 2019)::

    x_i · (G_i + Σ_j F_ji) = e_i + Σ_j F_ji · x_j

with G_i the zone's generation [MWh], e_i = Σ_k E_ik·EF_k its production emissions
[MWh·g/kWh] and F_ji ≥ 0 the physical flow from zone j into zone i [MWh]. A zone's
consumption-based intensity is the mix of its own generation and of what it imports,
each at the intensity of where it came from. Emissions are conserved:
Σ_i x_i·(G_i + imports_i − exports_i) = Σ_i e_i.
"""

from __future__ import annotations

import numpy as np
import polars as pl

CI_COLUMNS = ("ci_direct_g_per_kwh", "ci_lifecycle_g_per_kwh")


def solve_hour(
    generation_mwh: np.ndarray, emissions: np.ndarray, flows_mwh: np.ndarray
) -> np.ndarray:
    """Consumption-based intensities of n zones in one hour.

    Parameters
    ----------
    generation_mwh : np.ndarray, shape (n,)
        G_i [MWh].
    emissions : np.ndarray, shape (n, m)
        e_i for m factor bases (e.g. direct and lifecycle) [MWh·gCO2eq/kWh].
    flows_mwh : np.ndarray, shape (n, n)
        F[j, i] = flow from zone j to zone i [MWh], zero diagonal, non-negative.

    Returns
    -------
    np.ndarray, shape (n, m)
        x_i [gCO2eq/kWh]; NaN for a zone with neither generation nor imports.
    """
    inflow = generation_mwh + flows_mwh.sum(axis=0)
    matrix = np.diag(inflow) - flows_mwh.T
    alive = inflow > 0
    out = np.full(emissions.shape, np.nan)
    if alive.any():
        sub = matrix[np.ix_(alive, alive)]
        out[alive] = np.linalg.solve(sub, emissions[alive])
    return out


def consumption_intensity(production: pl.DataFrame, flows: pl.DataFrame) -> pl.DataFrame:
    """Hourly consumption-based intensity of every zone in ``production``.

    Parameters
    ----------
    production : pl.DataFrame
        Production-based rows (zone, hour_utc, generation_mwh, ci_direct_g_per_kwh,
        ci_lifecycle_g_per_kwh, factor_table_version), as from
        :func:`pipelines.carbon_intensity.production_intensity`.
    flows : pl.DataFrame
        zone_from, zone_to, hour_utc, flow_mwh [MWh] (physical flows, ≥ 0).

    Returns
    -------
    pl.DataFrame
        zone, hour_utc, basis (``consumption``), both intensities, generation_mwh,
        quality and factor_table_version. An hour in which a zone imports from a zone
        without production data gets null intensity and quality
        ``missing_neighbour``: the import's origin is unknown, so nothing is guessed.
    """
    zones = sorted(production["zone"].unique().to_list())
    index = {z: i for i, z in enumerate(zones)}
    n = len(zones)
    rows = []
    flows_by_hour = {h: part for (h,), part in flows.group_by("hour_utc")}
    for (hour,), part in production.sort("zone").group_by("hour_utc", maintain_order=True):
        gen = np.zeros(n)
        emis = np.zeros((n, len(CI_COLUMNS)))
        present = np.zeros(n, dtype=bool)
        for r in part.iter_rows(named=True):
            i = index[r["zone"]]
            gen[i] = r["generation_mwh"]
            emis[i] = [r[c] * r["generation_mwh"] for c in CI_COLUMNS]
            present[i] = True
        f = np.zeros((n, n))
        unknown_source = set()
        hour_flows = flows_by_hour.get(hour)
        if hour_flows is not None:
            for src, dst, mwh in hour_flows.select("zone_from", "zone_to", "flow_mwh").iter_rows():
                if dst not in index:
                    continue
                if src not in index or not present[index[src]]:
                    unknown_source.add(dst)
                    continue
                f[index[src], index[dst]] += mwh
        x = solve_hour(gen, emis, f)
        version = part["factor_table_version"][0]
        for zone in part["zone"]:
            i = index[zone]
            bad = zone in unknown_source
            rows.append(
                {
                    "zone": zone,
                    "hour_utc": hour,
                    "basis": "consumption",
                    CI_COLUMNS[0]: None if bad else float(x[i, 0]),
                    CI_COLUMNS[1]: None if bad else float(x[i, 1]),
                    "generation_mwh": float(gen[i]),
                    "quality": "missing_neighbour" if bad else "complete",
                    "factor_table_version": version,
                }
            )
    return pl.DataFrame(
        rows,
        schema={
            "zone": pl.String,
            "hour_utc": pl.Datetime("us", "UTC"),
            "basis": pl.String,
            CI_COLUMNS[0]: pl.Float64,
            CI_COLUMNS[1]: pl.Float64,
            "generation_mwh": pl.Float64,
            "quality": pl.String,
            "factor_table_version": pl.String,
        },
    ).sort("zone", "hour_utc")
