"""Power limits of a site's controllable devices, and the setpoints that break them.

One table of limits serves the plan's asset check here and the control service's clamp.
Power is positive when a device draws from the site bus [W].
"""

from __future__ import annotations

import polars as pl

from pipelines.planning.scenario import PV_CURTAILMENT_ID
from pipelines.planning.site_scenario import SiteSpec

LIMIT_SCHEMA = {"device_id": pl.String, "min_w": pl.Float64, "max_w": pl.Float64}
TOLERANCE_W = 1.0
"""Setpoints within this of a limit are rounding, not violations [W]."""


def device_limits(spec: SiteSpec, vehicles: pl.DataFrame, jobs: pl.DataFrame) -> pl.DataFrame:
    """Lowest and highest power of every controllable device [W].

    Parameters
    ----------
    spec : SiteSpec
        The site (battery power limits).
    vehicles : polars.DataFrame
        ``fleet_vehicles``: a charger may discharge only if its vehicle allows V2G.
    jobs : polars.DataFrame
        Job queue (device_id, power_kw): a machine runs at 0 or up to its job power.

    Returns
    -------
    polars.DataFrame
        device_id, min_w, max_w.
    """
    rows = []
    if spec.battery is not None:
        b = spec.battery
        rows.append((b.device_id, -b.max_discharge_kw * 1000, b.max_charge_kw * 1000))
    for v in vehicles.iter_rows(named=True):
        discharge = v["max_discharge_kw"] if v["v2g_allowed"] else 0.0
        rows.append((v["charger_id"], -discharge * 1000, v["max_charge_kw"] * 1000))
    for device, kw in jobs.group_by("device_id").agg(pl.col("power_kw").max()).iter_rows():
        rows.append((device, 0.0, kw * 1000))
    rows.append((PV_CURTAILMENT_ID, 0.0, float("inf")))
    return pl.DataFrame(rows, schema=LIMIT_SCHEMA, orient="row")


def limit_violations(setpoints: pl.DataFrame, limits: pl.DataFrame) -> pl.DataFrame:
    """Setpoint rows outside their device's limits, or for a device with no limits.

    Returns the offending rows of ``setpoints`` with min_w, max_w and a ``problem``.
    """
    joined = setpoints.join(limits, on="device_id", how="left")
    problem = (
        pl.when(pl.col("min_w").is_null())
        .then(pl.lit("unknown device"))
        .when(pl.col("power_w") < pl.col("min_w") - TOLERANCE_W)
        .then(pl.lit("below minimum"))
        .when(pl.col("power_w") > pl.col("max_w") + TOLERANCE_W)
        .then(pl.lit("above maximum"))
    )
    return joined.with_columns(problem.alias("problem")).filter(pl.col("problem").is_not_null())
