"""A stationary battery run for self-consumption."""

from __future__ import annotations

import numpy as np


def self_consumption_dispatch(
    surplus_w: np.ndarray,
    capacity_kwh: float,
    power_kw: float,
    efficiency: float,
    soc_min_pct: float,
    soc_max_pct: float,
    step_h: float = 0.25,
) -> tuple[np.ndarray, np.ndarray]:
    """Charge from PV surplus, discharge into deficits, within power and SoC bounds.

    Parameters
    ----------
    surplus_w : np.ndarray
        PV production minus site demand per step [W]; positive is surplus.
    capacity_kwh, power_kw : float
        Usable capacity [kWh] and charge/discharge power limit [kW].
    efficiency : float
        Round-trip efficiency [-], split evenly between charge and discharge.
    soc_min_pct, soc_max_pct : float
        State-of-charge bounds [%].

    Returns
    -------
    power_w, soc_pct : np.ndarray
        Battery power per step [W] (positive charging, negative discharging) and the
        state of charge at the end of each step [%].
    """
    eta = efficiency**0.5
    e_min, e_max = capacity_kwh * soc_min_pct / 100, capacity_kwh * soc_max_pct / 100
    energy = (e_min + e_max) / 2
    power = np.zeros_like(surplus_w, dtype=float)
    soc = np.zeros_like(surplus_w, dtype=float)
    limit = power_kw * 1000
    for i, s in enumerate(surplus_w):
        if s > 0:
            p = min(s, limit, (e_max - energy) * 1000 / (step_h * eta))
            energy += p * step_h * eta / 1000
        else:
            p = -min(-s, limit, (energy - e_min) * 1000 * eta / step_h)
            energy += p * step_h / eta / 1000
        power[i] = p
        soc[i] = 100 * energy / capacity_kwh
    return power, soc
