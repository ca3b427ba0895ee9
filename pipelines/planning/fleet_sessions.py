"""A fleet's plugged-in sessions inside a planning horizon, from its routes and telemetry.

A vehicle is plugged into its own charger from the end of one route (``arrive_utc``) to the
start of its next route (``depart_utc``). It should leave with ``departure_soc_pct`` of its
capacity, and it comes back from a route with that much less the route's energy.

The state of charge of a vehicle already plugged in when the horizon starts is measured,
not assumed: its arrival state of charge plus the energy its charger delivered since
arrival, integrated from the charger's power telemetry (15-minute mean power samples,
positive = charging). A vehicle whose arrival is not on record (no route in the lookback)
is taken to be at its departure target. A vehicle whose next route is not on record is
planned to leave at the end of the horizon, so V2G never drains it below what an unknown
next route may need.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

TELEMETRY_INTERVAL = timedelta(minutes=15)


@dataclass(frozen=True)
class Session:
    """One plugged-in stay of a vehicle, as a scenario EV plus where it plugs in.

    Attributes
    ----------
    ev : dict
        The scenario's EV entry (id, slots, energies [kWh], powers [kW], v2g).
    vehicle_id, charger_id, owner_account : str
        The vehicle, the charger that serves it, and who is paid for its V2G energy.
    """

    ev: dict
    vehicle_id: str
    charger_id: str
    owner_account: str


def _charged_kwh(charger_power: pl.DataFrame, charger_id: str, since: datetime, until: datetime):
    rows = charger_power.filter(
        (pl.col("device_id") == charger_id) & pl.col("ts_utc").is_between(since, until, "left")
    )
    hours = TELEMETRY_INTERVAL / timedelta(hours=1)
    return float(rows["value"].sum()) * hours / 1000.0


def _stays(trips: pl.DataFrame) -> list[tuple[datetime | None, datetime | None, float]]:
    """(arrival, departure, energy of the route it arrived from) per stay; None = unknown."""
    stays: list[tuple[datetime | None, datetime | None, float]] = []
    prev_arrive, prev_energy = None, 0.0
    for depart, arrive, energy in (
        trips.sort("depart_utc").select("depart_utc", "arrive_utc", "energy_kwh").iter_rows()
    ):
        stays.append((prev_arrive, depart, prev_energy))
        prev_arrive, prev_energy = arrive, energy
    stays.append((prev_arrive, None, prev_energy))
    return stays


def ev_sessions(
    vehicles: pl.DataFrame,
    trips: pl.DataFrame,
    charger_power: pl.DataFrame,
    start_utc: datetime,
    slots: int,
    slot_minutes: int,
    departure_soc_pct: float = 90.0,
    min_soc_pct: float = 10.0,
) -> list[Session]:
    """The sessions of every vehicle that is plugged in at some slot of the horizon.

    Parameters
    ----------
    vehicles : polars.DataFrame
        ``fleet_vehicles`` rows: vehicle_id, capacity_kwh, max_charge_kw, max_discharge_kw,
        v2g_allowed, owner_account, charger_id.
    trips : polars.DataFrame
        ``fleet_trips`` rows (vehicle_id, depart_utc, arrive_utc, energy_kwh) covering at
        least a week before the horizon and its whole length.
    charger_power : polars.DataFrame
        Charger telemetry up to the plan's creation: device_id, ts_utc, value [W].
    start_utc : datetime
        First slot of the horizon [UTC].
    slots, slot_minutes : int
        Horizon length [slots] and slot length [min].
    departure_soc_pct, min_soc_pct : float
        Target state of charge at departure and lowest allowed state of charge [%].

    Returns
    -------
    list of Session
        In vehicle order; a vehicle with two stays in the horizon has ids ``truck-1`` and
        ``truck-1#2``.
    """
    step = timedelta(minutes=slot_minutes)
    end_utc = start_utc + slots * step
    out: list[Session] = []
    for v in vehicles.sort("vehicle_id").iter_rows(named=True):
        cap = float(v["capacity_kwh"])
        target = cap * departure_soc_pct / 100
        floor = cap * min_soc_pct / 100
        mine = trips.filter(pl.col("vehicle_id") == v["vehicle_id"])
        n = 0
        for arrive, depart, route_kwh in _stays(mine):
            if (depart is not None and depart <= start_utc) or (
                arrive is not None and arrive >= end_utc
            ):
                continue
            if arrive is None:
                soc = target
            elif arrive < start_utc:
                charged = _charged_kwh(charger_power, v["charger_id"], arrive, start_utc)
                soc = min(cap, max(0.0, target - route_kwh + charged))
            else:
                soc = max(0.0, target - route_kwh)
            arrival = 0 if arrive is None else max(0, math.ceil((arrive - start_utc) / step))
            departure = slots if depart is None else (depart - start_utc) // step
            if departure <= arrival:
                continue
            n += 1
            ev = {
                "id": v["vehicle_id"] if n == 1 else f"{v['vehicle_id']}#{n}",
                "arrival_slot": int(arrival),
                "departure_slot": int(departure),
                "capacity_kwh": cap,
                "soc_kwh": round(soc, 3),
                "min_soc_kwh": floor,
                "energy_needed_kwh": round(max(0.0, target - soc), 3),
                "max_charge_kw": float(v["max_charge_kw"]),
                "max_discharge_kw": float(v["max_discharge_kw"]),
                "v2g": bool(v["v2g_allowed"]),
            }
            out.append(Session(ev, v["vehicle_id"], v["charger_id"], v["owner_account"]))
    return out
