"""Injected vampire loads: machinery left on at night or over a weekend.

The ground truth goes to a labels frame that no detector reads.
"""

from __future__ import annotations

import numpy as np
import polars as pl

# meter -> (excess power range [W], typical duration range [h])
SCENARIOS = {
    "load-shredder-2": ((12_000, 16_000), (6, 9)),  # line left idling overnight
    "load-compressed-air": ((6_000, 9_000), (8, 56)),  # compressor left on, over a weekend too
    "load-hvac": ((4_000, 7_000), (6, 10)),  # no night set-back
    "load-lighting": ((8_000, 11_000), (5, 9)),  # hall lights left on
    "load-3dprinters": ((3_000, 5_000), (6, 10)),  # printers idling hot
}
EVENTS_PER_30_DAYS = 2.5


def inject_vampires(
    cal: pl.DataFrame, loads_w: dict[str, np.ndarray], rng: np.random.Generator, site_id: str
):
    """Add vampire events to the sub-meter series in place; return the labels.

    An event starts at an off-hours quarter hour that follows a working quarter hour
    (the moment someone should have switched the machine off), lasts a random duration
    within off-hours, and adds a roughly constant excess power.

    Returns
    -------
    pl.DataFrame
        site_id, meter_id, start_utc, end_utc (exclusive), excess_power_w [W].
    """
    off = cal["off_hours"].to_numpy()
    ts = cal["ts_utc"]
    n = len(off)
    # moments the site goes quiet: off-hours now, working hours a quarter before
    candidates = np.flatnonzero(off[1:] & ~off[:-1]) + 1
    n_events = rng.poisson(EVENTS_PER_30_DAYS * n / (96 * 30))
    chosen = (
        np.sort(rng.choice(candidates, size=min(n_events, len(candidates)), replace=False))
        if len(candidates)
        else []
    )
    busy_until: dict[str, int] = {}
    labels = []
    meters = sorted(SCENARIOS)
    for start in (int(s) for s in chosen):
        meter = meters[rng.integers(len(meters))]
        if busy_until.get(meter, -1) >= start:
            continue
        (p_lo, p_hi), (d_lo, d_hi) = SCENARIOS[meter]
        steps = int(rng.uniform(d_lo, d_hi) * 4)
        end = start
        while end < min(n, start + steps) and off[end]:
            end += 1
        if end - start < 8:  # under two hours is not a vampire load
            continue
        excess = float(rng.uniform(p_lo, p_hi))
        loads_w[meter][start:end] += excess * rng.normal(1, 0.03, end - start).clip(0.9, 1.1)
        busy_until[meter] = end
        end_ts = ts[end] if end < n else ts[n - 1] + (ts[1] - ts[0])
        labels.append((site_id, meter, ts[start], end_ts, excess))
    return pl.DataFrame(
        labels,
        schema={
            "site_id": pl.String,
            "meter_id": pl.String,
            "start_utc": pl.Datetime("us", "UTC"),
            "end_utc": pl.Datetime("us", "UTC"),
            "excess_power_w": pl.Float64,
        },
        orient="row",
    )
