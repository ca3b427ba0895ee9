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

    All hours are solved in one batched linear solve.

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
        quality and factor_table_version. A zone that imports, in an hour, from a zone
        without production data gets null intensity and quality ``missing_neighbour``:
        the import's origin is unknown, so nothing is guessed.
    """
    zones = sorted(production["zone"].unique().to_list())
    hours = production["hour_utc"].unique().sort()
    n, n_hours = len(zones), hours.len()
    zone_idx = pl.DataFrame({"zone": zones, "zi": np.arange(n)})
    hour_idx = pl.DataFrame({"hour_utc": hours, "hi": np.arange(n_hours)})
    prod = production.join(zone_idx, on="zone").join(hour_idx, on="hour_utc")
    hi, zi = prod["hi"].to_numpy(), prod["zi"].to_numpy()
    gen = np.zeros((n_hours, n))
    present = np.zeros((n_hours, n), dtype=bool)
    emissions = np.zeros((n_hours, n, len(CI_COLUMNS)))
    gen[hi, zi] = prod["generation_mwh"].to_numpy()
    present[hi, zi] = prod[CI_COLUMNS[1]].is_not_null().to_numpy()  # a 'missing' hour is no source
    for k, col in enumerate(CI_COLUMNS):
        emissions[hi, zi, k] = prod[col].fill_null(0.0).to_numpy() * gen[hi, zi]

    f = np.zeros((n_hours, n, n))
    unknown = np.zeros((n_hours, n), dtype=bool)
    fl = (
        flows.join(hour_idx, on="hour_utc")
        .join(zone_idx.rename({"zone": "zone_to", "zi": "dst"}), on="zone_to")
        .join(zone_idx.rename({"zone": "zone_from", "zi": "src"}), on="zone_from", how="left")
    )
    fh, dst = fl["hi"].to_numpy(), fl["dst"].to_numpy()
    src = fl["src"].fill_null(-1).to_numpy()
    known = src >= 0
    known[known] = present[fh[known], src[known]]
    np.add.at(f, (fh[known], src[known], dst[known]), fl["flow_mwh"].to_numpy()[known])
    unknown[fh[~known], dst[~known]] = True

    inflow = gen + f.sum(axis=1)
    alive = inflow > 0
    matrix = -np.transpose(f, (0, 2, 1))
    diag = np.where(alive, inflow, 1.0)  # a dead zone solves to 0 and is masked below
    matrix[:, np.arange(n), np.arange(n)] = diag
    x = np.linalg.solve(matrix, np.where(alive[..., None], emissions, 0.0))
    x[~alive | unknown] = np.nan

    out = prod.select("zone", "hour_utc", "generation_mwh", "factor_table_version", "hi", "zi")
    bad = unknown[hi, zi]
    return (
        out.with_columns(
            pl.Series(CI_COLUMNS[0], x[hi, zi, 0]).fill_nan(None),
            pl.Series(CI_COLUMNS[1], x[hi, zi, 1]).fill_nan(None),
            pl.lit("consumption").alias("basis"),
            pl.Series("quality", np.where(bad, "missing_neighbour", "complete")),
        )
        .select(
            "zone",
            "hour_utc",
            "basis",
            *CI_COLUMNS,
            "generation_mwh",
            "quality",
            "factor_table_version",
        )
        .sort("zone", "hour_utc")
    )
