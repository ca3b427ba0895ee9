"""Random fleet-day planning scenarios, shared by the fleet tests and the planning benchmark.

One day of 96 quarter-hour slots from 12:00 UTC: a PV profile peaking at 300 kW, an evening
price peak, a 60 kW base load, a 200 kWh battery, three jobs (a 150 kW non-interruptible
shredder, an interruptible and a non-interruptible 4 kW printer) and ``n_evs`` vehicles with
random arrivals, departures, capacities, SoC, needs and charger powers, about 30 % of them
V2G-capable.
"""

from __future__ import annotations

import numpy as np

SLOTS = 96
"""Slots per scenario (15 minutes each) [-]."""
BASE_LOAD_KW = 60.0
"""Flat site base load [kW]."""
MAX_EXPORT_KW = 50.0
"""Grid export limit [kW]."""

JOBS = (
    {
        "id": "shredder-1",
        "power_kw": 150,
        "duration_slots": 8,
        "earliest_slot": 0,
        "deadline_slot": 96,
        "interruptible": False,
    },
    {
        "id": "printer-1",
        "power_kw": 4,
        "duration_slots": 12,
        "earliest_slot": 0,
        "deadline_slot": 96,
        "interruptible": True,
    },
    {
        "id": "printer-2",
        "power_kw": 4,
        "duration_slots": 6,
        "earliest_slot": 20,
        "deadline_slot": 70,
        "interruptible": False,
    },
)
"""The three jobs of every scenario."""

BATTERY = {
    "id": "bess-1",
    "capacity_kwh": 200,
    "soc_kwh": 100,
    "min_soc_kwh": 20,
    "max_soc_kwh": 190,
    "max_charge_kw": 100,
    "max_discharge_kw": 100,
    "efficiency": 0.92,
    "final_soc_kwh": 100,
}
"""The site battery of every scenario."""


def _evs(rng: np.random.Generator, n_evs: int) -> list[dict]:
    """``n_evs`` random vehicles plugging in during the first 15 h of the day."""
    width = max(2, len(str(n_evs - 1)))
    evs = []
    for i in range(n_evs):
        arr = int(rng.integers(0, 60))
        cap = float(rng.choice([60, 100, 300]))
        soc = float(rng.uniform(0.1, 0.6) * cap)
        evs.append(
            {
                "id": f"ev-{i:0{width}d}",
                "arrival_slot": arr,
                "departure_slot": int(arr + rng.integers(8, 60)),
                "capacity_kwh": cap,
                "soc_kwh": soc,
                "min_soc_kwh": 0.1 * cap,
                "energy_needed_kwh": float(rng.uniform(0, 0.5) * cap),
                "max_charge_kw": float(rng.choice([11, 22, 50])),
                "max_discharge_kw": 11.0,
                "v2g": bool(rng.random() < 0.3),
            }
        )
    return evs


def fleet_scenario(seed: int, n_evs: int = 50, max_import_kw: float = 400) -> dict:
    """A random fleet-day scenario document (as decoded from JSON).

    Parameters
    ----------
    seed : int
        Random seed; the same seed gives the same scenario.
    n_evs : int
        Number of vehicles [-].
    max_import_kw : float
        Grid import limit [kW].

    Returns
    -------
    dict
        A valid scenario for :func:`pipelines.planning.scenario.parse_scenario`.
    """
    rng = np.random.default_rng(seed)
    hour = (12 + np.arange(SLOTS) * 0.25) % 24
    pv = np.clip(300 * np.sin((hour - 7) / 10 * np.pi), 0, None)
    price = 80 + 60 * ((hour >= 17) & (hour < 21)) + rng.normal(0, 10, SLOTS)
    evs = _evs(rng, n_evs)
    return {
        "start_utc": "2026-11-24T12:00:00Z",
        "slot_minutes": 15,
        "slots": SLOTS,
        "grid": {
            "import_price_eur_per_mwh": price.tolist(),
            "export_price_eur_per_mwh": (0.4 * price).tolist(),
            "ci_g_per_kwh": (350 - pv / 3).tolist(),
            "max_import_kw": max_import_kw,
            "max_export_kw": MAX_EXPORT_KW,
            "peak_charge_eur_per_kw": 12.0,
            "co2_price_eur_per_t": 80,
        },
        "site": {"base_load_kw": [BASE_LOAD_KW] * SLOTS, "pv_kw": pv.tolist()},
        "battery": dict(BATTERY),
        "evs": evs,
        "jobs": [dict(j) for j in JOBS],
    }
