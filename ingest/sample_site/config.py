"""Configuration of the embedded sample site "warehouse-b"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class SiteConfig:
    """A German light-industry warehouse near Potsdam, in the DE_LU bidding zone.

    Energies and powers carry their units in the names; ``start``/``end`` are UTC days,
    end exclusive. The same config always generates the same data.
    """

    site_id: str = "warehouse-b"
    zone: str = "DE_LU"
    timezone: str = "Europe/Berlin"
    start: date = date(2025, 1, 1)
    end: date = date(2026, 1, 1)
    seed: int = 42
    latitude: float = 52.39
    longitude: float = 13.06
    try_region: int = 4  # DWD test reference year region 04, station Potsdam
    pv_inverters: int = 5  # each ~59 kWp DC on a 50 kW AC inverter
    pv_tilt_deg: float = 15.0
    pv_azimuth_deg: float = 180.0
    building_base_kwh_per_year: float = 450_000.0
    battery_capacity_kwh: float = 200.0
    battery_power_kw: float = 100.0
    battery_efficiency: float = 0.92  # round trip
    battery_soc_min_pct: float = 10.0
    battery_soc_max_pct: float = 95.0
    n_trucks: int = 6
    truck_capacity_kwh: float = 120.0
    charger_power_kw: float = 22.0
