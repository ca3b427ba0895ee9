"""Parse and validate the fixed planning scenario JSON of the ``novaenergy plan`` command.

The format (issue 6, "CLI contract")::

    {"start_utc": "2026-11-24T12:00:00Z", "slot_minutes": 15, "slots": 96,
     "grid": {"import_price_eur_per_mwh": [...], "export_price_eur_per_mwh": [...],
              "ci_g_per_kwh": [...], "max_import_kw": 400, "max_export_kw": 50,
              "peak_charge_eur_per_kw": 12.0, "co2_price_eur_per_t": 80},
     "site": {"base_load_kw": [...], "pv_kw": [...]},
     "battery": {"id": "bess-1", "capacity_kwh": 200, "soc_kwh": 100, "min_soc_kwh": 20,
                 "max_soc_kwh": 190, "max_charge_kw": 100, "max_discharge_kw": 100,
                 "efficiency": 0.92, "final_soc_kwh": 100},
     "evs": [{"id": "truck-01", "arrival_slot": 0, "departure_slot": 40, "capacity_kwh": 300,
              "soc_kwh": 240, "min_soc_kwh": 60, "energy_needed_kwh": 80, "max_charge_kw": 22,
              "max_discharge_kw": 11, "v2g": true}],
     "jobs": [{"id": "shredder-1", "power_kw": 150, "duration_slots": 8, "earliest_slot": 0,
               "deadline_slot": 96, "interruptible": false}]}

Rules beyond the example:

- Arrays have exactly ``slots`` entries. Absent ``site``, ``battery``, ``evs`` or ``jobs`` mean
  "no such device"; absent ``grid`` fields default to: export price 0, carbon intensity 0,
  import and export limits unlimited, peak charge 0, CO2 price 0. ``import_price_eur_per_mwh``
  is required.
- Slots are half-open: a vehicle is plugged in during slots ``arrival_slot`` up to but not
  including ``departure_slot``; a job runs inside ``earliest_slot`` up to but not including
  ``deadline_slot``. A departure or deadline after the horizon is allowed (intraday re-plans).
- ``final_soc_kwh`` defaults to the battery's initial ``soc_kwh``; ``v2g`` and
  ``interruptible`` default to false. Unknown fields are rejected, so typos do not pass silently;
  so is a key given twice in one object (JSON would keep only the last).
- Numbers must be plausible for a site (see ``MAX_*`` below): a power of 10^9 kW is a unit
  mix-up, and it would leave the solver in numerical trouble instead of giving a plan. Slot
  indices are at most ``MAX_SLOT_INDEX`` and the horizon must end before the year 10000.
- The file is UTF-8 JSON; a byte-order mark is allowed.

Every bad field is reported at once in one :class:`ScenarioError`, each message naming the field
path and the problem, e.g. ``grid.import_price_eur_per_mwh: expected 96 numbers, got 95``.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

PV_CURTAILMENT_ID = "pv-curtailment"

MAX_SLOTS = 100_000
"""Most slots in one horizon [-]."""
MAX_SLOT_INDEX = 1_000_000
"""Largest arrival, departure, earliest or deadline slot and job duration [slots]."""
MAX_POWER_KW = 1e6
"""Largest power of any device or grid limit [kW] (1 GW)."""
MAX_ENERGY_KWH = 1e7
"""Largest energy of any battery or vehicle [kWh] (10 GWh)."""
MAX_ABS_PRICE_EUR_PER_MWH = 1e5
"""Largest absolute energy price [EUR/MWh]; day-ahead prices are capped at -500 and 4,000."""
MAX_CI_G_PER_KWH = 1e4
"""Largest carbon intensity [g/kWh]; lignite is about 1,100."""
MAX_PEAK_CHARGE_EUR_PER_KW = 1e4
"""Largest peak-demand charge [EUR/kW]."""
MAX_CO2_PRICE_EUR_PER_T = 1e4
"""Largest CO2 price [EUR/t]."""
MIN_EFFICIENCY = 0.1
"""Lowest round-trip efficiency of a battery [-]; hydrogen storage is about 0.35."""


class ScenarioError(ValueError):
    """A scenario that cannot be planned; ``errors`` lists one message per bad field."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("invalid scenario: " + "; ".join(self.errors))


@dataclass(frozen=True)
class Grid:
    """Grid connection: prices [EUR/MWh], intensity [g/kWh], limits [kW], charges."""

    import_price_eur_per_mwh: np.ndarray
    export_price_eur_per_mwh: np.ndarray
    ci_g_per_kwh: np.ndarray
    max_import_kw: float
    max_export_kw: float
    peak_charge_eur_per_kw: float
    co2_price_eur_per_t: float


@dataclass(frozen=True)
class Battery:
    """Stationary battery: energies [kWh], powers [kW], round-trip efficiency [-]."""

    id: str
    capacity_kwh: float
    soc_kwh: float
    min_soc_kwh: float
    max_soc_kwh: float
    max_charge_kw: float
    max_discharge_kw: float
    efficiency: float
    final_soc_kwh: float


@dataclass(frozen=True)
class EV:
    """Electric vehicle: slots [-], energies [kWh], powers [kW]."""

    id: str
    arrival_slot: int
    departure_slot: int
    capacity_kwh: float
    soc_kwh: float
    min_soc_kwh: float
    energy_needed_kwh: float
    max_charge_kw: float
    max_discharge_kw: float
    v2g: bool


@dataclass(frozen=True)
class Job:
    """Flexible job: power [kW], duration and window [slots]."""

    id: str
    power_kw: float
    duration_slots: int
    earliest_slot: int
    deadline_slot: int
    interruptible: bool


@dataclass(frozen=True)
class Scenario:
    """A validated planning scenario; arrays have ``slots`` entries."""

    start_utc: datetime
    slot_minutes: int
    slots: int
    grid: Grid
    base_load_kw: np.ndarray
    pv_kw: np.ndarray
    has_pv: bool
    battery: Battery | None
    evs: tuple[EV, ...]
    jobs: tuple[Job, ...]

    @property
    def dt_h(self) -> float:
        """Slot length [h]."""
        return self.slot_minutes / 60.0

    def slot_start(self, slot: int) -> datetime:
        """Start of ``slot`` [UTC]; slots past the horizon are extrapolated."""
        return self.start_utc + timedelta(minutes=self.slot_minutes * slot)

    def slot_starts(self) -> list[datetime]:
        """Start of every slot of the horizon [UTC]."""
        return [self.slot_start(t) for t in range(self.slots)]


_GRID_KEYS = {
    "import_price_eur_per_mwh",
    "export_price_eur_per_mwh",
    "ci_g_per_kwh",
    "max_import_kw",
    "max_export_kw",
    "peak_charge_eur_per_kw",
    "co2_price_eur_per_t",
}
_SITE_KEYS = {"base_load_kw", "pv_kw"}
_BATTERY_KEYS = {
    "id",
    "capacity_kwh",
    "soc_kwh",
    "min_soc_kwh",
    "max_soc_kwh",
    "max_charge_kw",
    "max_discharge_kw",
    "efficiency",
    "final_soc_kwh",
}
_EV_KEYS = {
    "id",
    "arrival_slot",
    "departure_slot",
    "capacity_kwh",
    "soc_kwh",
    "min_soc_kwh",
    "energy_needed_kwh",
    "max_charge_kw",
    "max_discharge_kw",
    "v2g",
}
_JOB_KEYS = {"id", "power_kw", "duration_slots", "earliest_slot", "deadline_slot", "interruptible"}
_TOP_KEYS = {"start_utc", "slot_minutes", "slots", "grid", "site", "battery", "evs", "jobs"}


class _Checker:
    """Collects field errors while reading a scenario document."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, path: str, problem: str) -> None:
        self.errors.append(f"{path}: {problem}")

    def obj(self, value: Any, path: str, keys: set[str]) -> dict | None:
        if not isinstance(value, dict):
            self.fail(path, f"expected an object, got {_kind(value)}")
            return None
        for k in sorted(set(value) - keys):
            name = _visible(k)
            self.fail(
                f"{path}.{name}" if path else name,
                f"unknown field (known: {', '.join(sorted(keys))})",
            )
        return value

    def number(
        self,
        d: dict,
        key: str,
        path: str,
        *,
        default: float | None = None,
        lo: float | None = None,
        hi: float | None = None,
        lo_open: bool = False,
    ) -> float | None:
        p = f"{path}.{key}" if path else key
        if key not in d:
            if default is None:
                self.fail(p, "missing")
            return default
        v = d[key]
        if not _finite_number(v):
            self.fail(p, f"expected a finite number, got {_kind(v)}")
            return default
        if lo is not None and (v <= lo if lo_open else v < lo):
            self.fail(p, f"must be {'>' if lo_open else '>='} {lo:g}, got {v:g}")
            return default
        if hi is not None and v > hi:
            self.fail(p, f"must be <= {hi:g}, got {v:g}")
            return default
        return float(v)

    def integer(
        self, d: dict, key: str, path: str, *, lo: int | None = None, hi: int | None = None
    ) -> int | None:
        p = f"{path}.{key}" if path else key
        if key not in d:
            self.fail(p, "missing")
            return None
        v = d[key]
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int):
            self.fail(p, f"expected an integer, got {_kind(v)}")
            return None
        if lo is not None and v < lo:
            self.fail(p, f"must be >= {lo}, got {_short(v)}")
            return None
        if hi is not None and v > hi:
            self.fail(p, f"must be <= {hi}, got {_short(v)}")
            return None
        return v

    def flag(self, d: dict, key: str, path: str) -> bool:
        v = d.get(key, False)
        if not isinstance(v, bool):
            self.fail(f"{path}.{key}", f"expected true or false, got {_kind(v)}")
            return False
        return v

    def ident(self, d: dict, path: str) -> str | None:
        v = d.get("id")
        if not isinstance(v, str) or not v.strip():
            self.fail(f"{path}.id", f"expected a non-empty string, got {_kind(v)}")
            return None
        if v == PV_CURTAILMENT_ID:
            self.fail(f"{path}.id", f"{PV_CURTAILMENT_ID!r} is reserved for PV curtailment")
            return None
        return v

    def array(
        self,
        d: dict,
        key: str,
        path: str,
        n: int | None,
        *,
        required: bool = False,
        lo: float | None = None,
        hi: float | None = None,
    ) -> np.ndarray | None:
        p = f"{path}.{key}"
        if key not in d:
            if required:
                self.fail(p, "missing")
            return None
        v = d[key]
        if not isinstance(v, list):
            self.fail(p, f"expected a list of {n} numbers, got {_kind(v)}")
            return None
        if n is not None and len(v) != n:
            self.fail(p, f"expected {n} numbers, got {len(v)}")
            return None
        bad = [i for i, x in enumerate(v) if not _finite_number(x)]
        if bad:
            self.fail(p, f"entry {bad[0]} is {_kind(v[bad[0]])}, expected a finite number")
            return None
        arr = np.asarray(v, dtype=float)
        if lo is not None and (arr < lo).any():
            i = int(np.argmax(arr < lo))
            self.fail(p, f"entry {i} is {arr[i]:g}, must be >= {lo:g}")
            return None
        if hi is not None and (arr > hi).any():
            i = int(np.argmax(arr > hi))
            self.fail(p, f"entry {i} is {arr[i]:g}, must be <= {hi:g}")
            return None
        return arr


def _visible(key: str) -> str:
    """A field name as the user can see it: quoted when it holds blanks at its ends, control
    or invisible characters (``'slots\\u200b'``, ``' slots'``), else as it is."""
    return key if key and key.isprintable() and key.strip() == key else repr(key)


def _finite_number(v: Any) -> bool:
    """Whether ``v`` is a JSON number (not a boolean) that fits a finite float."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an int beyond the float range
        return False


def _short(v: Any) -> str:
    """``repr(v)``, cut to 40 characters (a JSON integer may have thousands of digits)."""
    text = repr(v)
    return text if len(text) <= 40 else f"{text[:20]}... ({len(text)} characters)"


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return f"boolean {str(v).lower()}"
    if isinstance(v, (int, float)):
        return f"number {_short(v)}"
    if isinstance(v, str):
        return f"string {v[:40]!r}"
    if isinstance(v, list):
        return f"a list of {len(v)}"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


def _parse_start(c: _Checker, raw: dict) -> datetime | None:
    v = raw.get("start_utc")
    if v is None:
        c.fail("start_utc", "missing")
        return None
    if not isinstance(v, str):
        c.fail("start_utc", f"expected an ISO 8601 timestamp string, got {_kind(v)}")
        return None
    try:
        ts = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        c.fail("start_utc", f"not an ISO 8601 timestamp: {v!r}")
        return None
    if ts.tzinfo is None:
        c.fail("start_utc", f"needs a UTC offset or 'Z', got {v!r}")
        return None
    try:
        return ts.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
        c.fail("start_utc", f"out of range in UTC: {v!r}")
        return None


def _check_horizon(c: _Checker, start: datetime, minutes: int, last_slot: int) -> None:
    """Fail unless the start of ``last_slot`` is a representable time (before year 10000)."""
    try:
        start + timedelta(minutes=minutes * last_slot)
    except OverflowError:
        c.fail(
            "start_utc",
            f"the horizon (up to slot {last_slot} of {minutes} min) would end after year 9999",
        )


def _parse_grid(c: _Checker, raw: Any, n: int | None) -> Grid | None:
    g = c.obj(raw, "grid", _GRID_KEYS)
    if g is None:
        return None
    price = {"lo": -MAX_ABS_PRICE_EUR_PER_MWH, "hi": MAX_ABS_PRICE_EUR_PER_MWH}
    imp = c.array(g, "import_price_eur_per_mwh", "grid", n, required=True, **price)
    exp = c.array(g, "export_price_eur_per_mwh", "grid", n, **price)
    ci = c.array(g, "ci_g_per_kwh", "grid", n, lo=0.0, hi=MAX_CI_G_PER_KWH)
    power = {"default": math.inf, "lo": 0.0, "hi": MAX_POWER_KW}
    max_imp = c.number(g, "max_import_kw", "grid", **power)
    max_exp = c.number(g, "max_export_kw", "grid", **power)
    peak = c.number(
        g, "peak_charge_eur_per_kw", "grid", default=0.0, lo=0.0, hi=MAX_PEAK_CHARGE_EUR_PER_KW
    )
    co2 = c.number(
        g, "co2_price_eur_per_t", "grid", default=0.0, lo=0.0, hi=MAX_CO2_PRICE_EUR_PER_T
    )
    if imp is None or n is None:
        return None
    zeros = np.zeros(n)
    return Grid(
        imp,
        exp if exp is not None else zeros,
        ci if ci is not None else zeros,
        max_imp,
        max_exp,
        peak,
        co2,
    )


def _parse_battery(c: _Checker, raw: Any) -> Battery | None:
    b = c.obj(raw, "battery", _BATTERY_KEYS)
    if b is None:
        return None
    p = "battery"
    ident = c.ident(b, p)
    cap = c.number(b, "capacity_kwh", p, lo=0.0, lo_open=True, hi=MAX_ENERGY_KWH)
    hi = cap if cap is not None else MAX_ENERGY_KWH
    soc = c.number(b, "soc_kwh", p, lo=0.0, hi=hi)
    mn = c.number(b, "min_soc_kwh", p, lo=0.0, hi=hi)
    mx = c.number(b, "max_soc_kwh", p, lo=0.0, hi=hi)
    pc = c.number(b, "max_charge_kw", p, lo=0.0, hi=MAX_POWER_KW)
    pd = c.number(b, "max_discharge_kw", p, lo=0.0, hi=MAX_POWER_KW)
    eff = c.number(b, "efficiency", p, lo=MIN_EFFICIENCY, hi=1.0)
    final = c.number(b, "final_soc_kwh", p, default=soc if soc is not None else 0.0, lo=0.0, hi=hi)
    if mn is not None and mx is not None and mn > mx:
        c.fail(f"{p}.min_soc_kwh", f"{mn:g} is above max_soc_kwh {mx:g}")
        return None
    if final is not None and mn is not None and mx is not None and not mn <= final <= mx:
        c.fail(
            f"{p}.final_soc_kwh",
            f"{final:g} is outside [min_soc_kwh, max_soc_kwh] = [{mn:g}, {mx:g}]",
        )
        return None
    vals = (ident, cap, soc, mn, mx, pc, pd, eff, final)
    if any(v is None for v in vals):
        return None
    return Battery(*vals)  # type: ignore[arg-type]


def _parse_ev(c: _Checker, raw: Any, p: str) -> EV | None:
    e = c.obj(raw, p, _EV_KEYS)
    if e is None:
        return None
    ident = c.ident(e, p)
    arr = c.integer(e, "arrival_slot", p, lo=0, hi=MAX_SLOT_INDEX)
    dep = c.integer(e, "departure_slot", p, lo=0, hi=MAX_SLOT_INDEX)
    cap = c.number(e, "capacity_kwh", p, lo=0.0, lo_open=True, hi=MAX_ENERGY_KWH)
    hi = cap if cap is not None else MAX_ENERGY_KWH
    soc = c.number(e, "soc_kwh", p, lo=0.0, hi=hi)
    mn = c.number(e, "min_soc_kwh", p, lo=0.0, hi=hi)
    need = c.number(e, "energy_needed_kwh", p, lo=0.0, hi=MAX_ENERGY_KWH)
    pc = c.number(e, "max_charge_kw", p, lo=0.0, hi=MAX_POWER_KW)
    pd = c.number(e, "max_discharge_kw", p, default=0.0, lo=0.0, hi=MAX_POWER_KW)
    v2g = c.flag(e, "v2g", p)
    if arr is not None and dep is not None and dep <= arr:
        c.fail(f"{p}.departure_slot", f"{dep} is not after arrival_slot {arr}")
        return None
    vals = (ident, arr, dep, cap, soc, mn, need, pc, pd)
    if any(v is None for v in vals):
        return None
    return EV(*vals, v2g)  # type: ignore[arg-type]


def _parse_job(c: _Checker, raw: Any, p: str) -> Job | None:
    j = c.obj(raw, p, _JOB_KEYS)
    if j is None:
        return None
    ident = c.ident(j, p)
    power = c.number(j, "power_kw", p, lo=0.0, lo_open=True, hi=MAX_POWER_KW)
    dur = c.integer(j, "duration_slots", p, lo=1, hi=MAX_SLOT_INDEX)
    early = c.integer(j, "earliest_slot", p, lo=0, hi=MAX_SLOT_INDEX)
    dead = c.integer(j, "deadline_slot", p, lo=0, hi=MAX_SLOT_INDEX)
    inter = c.flag(j, "interruptible", p)
    if early is not None and dead is not None and dur is not None and dead - early < dur:
        c.fail(
            f"{p}.deadline_slot",
            f"window {early}..{dead} is shorter than duration_slots {dur}",
        )
        return None
    vals = (ident, power, dur, early, dead)
    if any(v is None for v in vals):
        return None
    return Job(*vals, inter)  # type: ignore[arg-type]


def _parse_list(c: _Checker, raw: dict, key: str, parse) -> list:
    if key not in raw:
        return []
    v = raw[key]
    if not isinstance(v, list):
        c.fail(key, f"expected a list, got {_kind(v)}")
        return []
    out = [parse(c, item, f"{key}[{i}]") for i, item in enumerate(v)]
    return [x for x in out if x is not None]


def parse_scenario(raw: Any) -> Scenario:
    """Validate a scenario document (already decoded from JSON).

    Parameters
    ----------
    raw : dict
        The decoded scenario JSON.

    Returns
    -------
    Scenario
        The validated scenario with numpy arrays of ``slots`` entries.

    Raises
    ------
    ScenarioError
        One message per bad field, each naming the field path and the problem.
    """
    c = _Checker()
    top = c.obj(raw, "", _TOP_KEYS)
    if top is None:
        raise ScenarioError(["scenario: expected a JSON object at the top level"])
    start = _parse_start(c, top)
    minutes = c.integer(top, "slot_minutes", "", lo=1, hi=1440)
    n = c.integer(top, "slots", "", lo=1, hi=MAX_SLOTS)
    grid = _parse_grid(c, top["grid"], n) if "grid" in top else c.fail("grid", "missing")
    base = pv = None
    site = c.obj(top["site"], "site", _SITE_KEYS) if "site" in top else {}
    if site is not None:
        base = c.array(site, "base_load_kw", "site", n, lo=0.0, hi=MAX_POWER_KW)
        pv = c.array(site, "pv_kw", "site", n, lo=0.0, hi=MAX_POWER_KW)
    battery = _parse_battery(c, top["battery"]) if top.get("battery") is not None else None
    evs = _parse_list(c, top, "evs", _parse_ev)
    jobs = _parse_list(c, top, "jobs", _parse_job)
    ids = ([battery.id] if battery else []) + [e.id for e in evs] + [j.id for j in jobs]
    dupes = sorted(i for i, count in Counter(ids).items() if count > 1)
    if dupes:
        c.fail("id", f"device ids must be unique, repeated: {', '.join(map(_visible, dupes))}")
    if start is not None and minutes is not None and n is not None:
        ends = [e.departure_slot for e in evs] + [j.deadline_slot for j in jobs]
        _check_horizon(c, start, minutes, max([n, *ends]))
    if c.errors or start is None or minutes is None or n is None or grid is None:
        raise ScenarioError(c.errors or ["scenario: incomplete"])
    zeros = np.zeros(n)
    return Scenario(
        start_utc=start,
        slot_minutes=minutes,
        slots=n,
        grid=grid,
        base_load_kw=base if base is not None else zeros,
        pv_kw=pv if pv is not None else zeros,
        has_pv=pv is not None,
        battery=battery,
        evs=tuple(evs),
        jobs=tuple(jobs),
    )


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario JSON file.

    Parameters
    ----------
    path : str or Path
        The scenario file.

    Returns
    -------
    Scenario
        The validated scenario.

    Raises
    ------
    ScenarioError
        The file is missing, is not JSON, or has bad fields.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ScenarioError([f"{p}: cannot read the scenario file ({exc.strerror})"]) from exc
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            [f"{p}: not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8 JSON"]
        ) from exc
    try:
        raw = json.loads(text, object_pairs_hook=_object_without_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise ScenarioError(
            [f"{p}: not valid JSON at line {exc.lineno} column {exc.colno} ({exc.msg})"]
        ) from exc
    except RecursionError as exc:
        raise ScenarioError([f"{p}: not a scenario: JSON nested too deeply"]) from exc
    except ValueError as exc:  # a duplicate key, or an integer of more than 4,300 digits
        raise ScenarioError([f"{p}: not valid JSON ({exc})"]) from exc
    return parse_scenario(raw)


def _object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    """A JSON object as a dict; ValueError if a key repeats (JSON keeps only its last value)."""
    repeated = sorted(k for k, count in Counter(k for k, _ in pairs).items() if count > 1)
    if repeated:
        raise ValueError(f"key {repeated[0]!r} given twice in one object")
    return dict(pairs)
