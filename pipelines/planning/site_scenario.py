"""Build a site's planning scenario from lake data, and map its plan back to devices.

A plan is made at ``as_of`` (its creation time) and sees only what was known then: the
newest forecasts issued by ``as_of``, telemetry up to ``as_of``, and day-ahead prices
(published the day before they apply). Its horizon starts at the first slot boundary at
or after ``as_of``:

- ``day_ahead`` (12:00 local): to the end of the next local day, 36 h at 12:00;
- ``intraday`` (every 15 minutes): the remaining horizon of the newest day-ahead plan, or
  24 h when there is none, re-planned from the measured battery and vehicle state, as in
  model-predictive control.

Inputs with gaps are filled from the same slot a week (for PV a day) earlier, then a day
or two earlier, and the filled slots are counted in ``fallbacks``; an input with no value at all for some slot
is a :class:`PlanInputError`, never a silent zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from pipelines.planning.fleet_sessions import Session, ev_sessions
from pipelines.planning.scenario import PV_CURTAILMENT_ID
from pipelines.planning.slot_series import (
    DAY_FIRST,
    WEEK_FIRST,
    SlotSeries,
    latest_issue,
    on_slots,
    slot_starts,
)

DAY_AHEAD = "day_ahead"
INTRADAY = "intraday"
KINDS = (DAY_AHEAD, INTRADAY)
SOC_MAX_AGE = timedelta(hours=1)
"""Battery state of charge older than this is not trusted [h]."""


class PlanInputError(ValueError):
    """The lake lacks an input the plan cannot be made without."""


@dataclass(frozen=True)
class BatterySpec:
    """A stationary battery: energy [kWh], power [kW], efficiency [-], SoC limits [%]."""

    device_id: str
    capacity_kwh: float
    max_charge_kw: float
    max_discharge_kw: float
    efficiency: float
    min_soc_pct: float
    max_soc_pct: float
    final_soc_pct: float = 50.0


@dataclass(frozen=True)
class SiteSpec:
    """What the planner knows about a site that does not change from run to run.

    Attributes
    ----------
    max_import_kw, max_export_kw : float
        Grid connection limits [kW].
    peak_charge_eur_per_kw : float
        Demand charge on the horizon's highest import [EUR/kW].
    co2_price_eur_per_t : float
        Internal carbon price [EUR/tCO2].
    import_surcharge_eur_per_mwh : float
        Network charges and levies added to the day-ahead price for imports [EUR/MWh];
        exports earn the day-ahead price.
    ev_departure_soc_pct, ev_min_soc_pct : float
        Vehicle state of charge at departure and lowest allowed [%].
    """

    site_id: str
    timezone: str
    max_import_kw: float
    max_export_kw: float
    peak_charge_eur_per_kw: float
    co2_price_eur_per_t: float
    battery: BatterySpec | None
    import_surcharge_eur_per_mwh: float = 0.0
    ev_departure_soc_pct: float = 90.0
    ev_min_soc_pct: float = 10.0
    slot_minutes: int = 15


@dataclass
class PlanInputs:
    """Lake rows around the horizon; timestamps [UTC], powers [W].

    ``load_forecast`` and ``pv_forecast``: ts_utc, issued_at_utc, power_w.
    ``load_history`` and ``pv_history``: metered ts_utc, power_w (15-minute means).
    ``prices``: day_ahead_prices rows. ``ci_forecast``: hour_utc, issued_at_utc,
    ci_lifecycle_g_per_kwh; ``ci_history``: hour_utc, ci_lifecycle_g_per_kwh.
    ``telemetry``: device_telemetry rows up to ``as_of``. ``vehicles``, ``trips``: the fleet.
    ``jobs``: job_id, device_id, power_kw, duration_min, earliest_utc, deadline_utc,
    interruptible. ``plan_in_force``: setpoint rows in force before the horizon.
    """

    load_forecast: pl.DataFrame
    pv_forecast: pl.DataFrame
    load_history: pl.DataFrame
    pv_history: pl.DataFrame
    prices: pl.DataFrame
    ci_forecast: pl.DataFrame
    ci_history: pl.DataFrame
    telemetry: pl.DataFrame
    vehicles: pl.DataFrame
    trips: pl.DataFrame
    jobs: pl.DataFrame
    plan_in_force: pl.DataFrame


@dataclass
class SiteScenario:
    """A scenario ready for :func:`pipelines.planning.solve_scenario`, with its provenance.

    ``device_of`` maps each scenario device id (vehicle session, job) to the device the
    control service drives (charger, machine); ``fallbacks`` counts filled slots per
    input and ``notes`` says what was assumed.
    """

    scenario: dict
    device_of: dict[str, str]
    devices: list[str]
    sessions: list[Session]
    fallbacks: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _ceil_slot(ts: datetime, slot_minutes: int) -> datetime:
    step = timedelta(minutes=slot_minutes)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + math.ceil((ts - epoch) / step) * step


def horizon(
    kind: str,
    as_of: datetime,
    timezone: str,
    slot_minutes: int = 15,
    day_ahead_until: datetime | None = None,
) -> tuple[datetime, int]:
    """First slot [UTC] and number of slots of a plan made at ``as_of``.

    Raises
    ------
    ValueError
        Unknown ``kind``.
    """
    if kind not in KINDS:
        raise ValueError(f"plan kind must be one of {KINDS}, got {kind!r}")
    start = _ceil_slot(as_of, slot_minutes)
    if kind == DAY_AHEAD:
        tz = ZoneInfo(timezone)
        local_day = as_of.astimezone(tz).date() + timedelta(days=2)
        end = datetime.combine(local_day, time(0), tz).astimezone(UTC)
    elif day_ahead_until is not None and day_ahead_until > start:
        end = day_ahead_until
    else:
        end = start + timedelta(hours=24)
    return start, int((end - start) / timedelta(minutes=slot_minutes))


def _need(series: SlotSeries, name: str, fallbacks: dict[str, int]) -> np.ndarray:
    if series.missing:
        raise PlanInputError(
            f"{name}: no value for {series.missing} slots of the horizon, even from one, "
            "two or seven days before; land the data first"
        )
    fallbacks[name] = series.from_fallback
    return series.values


def _prices(starts: pl.Series, prices: pl.DataFrame):
    """Day-ahead prices on slots: the finest resolution first, coarser ones fill gaps."""

    def lookup(at: pl.Series) -> np.ndarray:
        values = np.full(len(at), np.nan)
        for interval_s in sorted(prices["interval_s"].unique().to_list()):
            one = prices.filter(pl.col("interval_s") == interval_s)
            s = on_slots(at, one, "ts_utc", "price_eur_per_mwh", timedelta(seconds=interval_s))
            gap = np.isnan(values)
            values[gap] = s.values[gap]
        return values

    values = lookup(starts)
    filled = 0
    for lag in WEEK_FIRST:
        gap = np.isnan(values)
        if not gap.any():
            break
        values[gap] = lookup(starts - lag)[gap]
        filled += int((gap & ~np.isnan(values)).sum())
    return SlotSeries(values, filled, int(np.isnan(values).sum()))


def _battery(spec: SiteSpec, telemetry: pl.DataFrame, as_of: datetime, notes: list[str]):
    b = spec.battery
    soc = telemetry.filter(
        (pl.col("device_id") == b.device_id)
        & (pl.col("metric") == "soc_pct")
        & pl.col("ts_utc").is_between(as_of - SOC_MAX_AGE, as_of, "both")
    ).sort("ts_utc")
    if soc.height:
        pct = float(soc["value"][-1])
    else:
        pct = b.min_soc_pct
        notes.append(
            f"{b.device_id}: no state of charge in the hour before {as_of:%Y-%m-%d %H:%M} UTC; "
            f"planned from its minimum {pct:g} % so no discharge relies on unmeasured energy"
        )
    cap = b.capacity_kwh
    return {
        "id": b.device_id,
        "capacity_kwh": cap,
        "soc_kwh": round(cap * pct / 100, 3),
        "min_soc_kwh": cap * b.min_soc_pct / 100,
        "max_soc_kwh": cap * b.max_soc_pct / 100,
        "max_charge_kw": b.max_charge_kw,
        "max_discharge_kw": b.max_discharge_kw,
        "efficiency": b.efficiency,
        "final_soc_kwh": cap * b.final_soc_pct / 100,
    }


def _jobs(
    jobs: pl.DataFrame, plan_in_force: pl.DataFrame, start: datetime, slots: int, slot_minutes: int
) -> list[dict]:
    """Scenario jobs; a job the plan in force has already started keeps running."""
    step = timedelta(minutes=slot_minutes)
    end = start + slots * step
    out = []
    for j in jobs.sort("earliest_utc", "job_id").iter_rows(named=True):
        if j["deadline_utc"] <= start or j["earliest_utc"] >= end:
            continue
        duration = math.ceil(timedelta(minutes=j["duration_min"]) / step)
        ran = plan_in_force.filter(
            (pl.col("device_id") == j["device_id"])
            & pl.col("slot_start_utc").is_between(j["earliest_utc"], start, "left")
            & (pl.col("power_w") > 0)
        ).height
        remaining = duration - ran
        if remaining <= 0:
            continue
        earliest = max(0, math.ceil((j["earliest_utc"] - start) / step))
        deadline = (j["deadline_utc"] - start) // step
        if ran and not j["interruptible"]:
            earliest, deadline = 0, remaining  # it is running: finish without a break
        out.append(
            {
                "id": j["job_id"],
                "power_kw": float(j["power_kw"]),
                "duration_slots": int(remaining),
                "earliest_slot": int(earliest),
                "deadline_slot": int(max(deadline, earliest + 1)),
                "interruptible": bool(j["interruptible"]),
            }
        )
    return out


def build_site_scenario(
    spec: SiteSpec, inputs: PlanInputs, as_of: datetime, start: datetime, slots: int
) -> SiteScenario:
    """The planning scenario of a site for ``slots`` slots from ``start``, as of ``as_of``.

    Raises
    ------
    PlanInputError
        Load, PV, prices or carbon intensity are unknown for some slot even after the
        fallback.
    """
    dt = spec.slot_minutes
    starts = slot_starts(start, slots, dt)
    quarter = timedelta(minutes=15)
    hour = timedelta(hours=1)
    fallbacks: dict[str, int] = {}
    notes: list[str] = []
    load = latest_issue(inputs.load_forecast, "ts_utc", as_of)
    pv = latest_issue(inputs.pv_forecast, "ts_utc", as_of)
    ci = latest_issue(inputs.ci_forecast, "hour_utc", as_of)
    base_w = _need(
        on_slots(starts, load, "ts_utc", "power_w", quarter, inputs.load_history),
        "load_forecast",
        fallbacks,
    )
    pv_w = _need(
        on_slots(starts, pv, "ts_utc", "power_w", quarter, inputs.pv_history, DAY_FIRST),
        "pv_forecast",
        fallbacks,
    )
    price = _need(_prices(starts, inputs.prices), "day_ahead_prices", fallbacks)
    ci_g = _need(
        on_slots(starts, ci, "hour_utc", "ci_lifecycle_g_per_kwh", hour, inputs.ci_history),
        "grid_carbon_intensity_forecast",
        fallbacks,
    )
    sessions = ev_sessions(
        inputs.vehicles,
        inputs.trips,
        inputs.telemetry.filter(pl.col("metric") == "power_w"),
        start,
        slots,
        dt,
        spec.ev_departure_soc_pct,
        spec.ev_min_soc_pct,
    )
    jobs = _jobs(inputs.jobs, inputs.plan_in_force, start, slots, dt)
    scenario = {
        "start_utc": start.isoformat().replace("+00:00", "Z"),
        "slot_minutes": dt,
        "slots": slots,
        "grid": {
            "import_price_eur_per_mwh": (price + spec.import_surcharge_eur_per_mwh).tolist(),
            "export_price_eur_per_mwh": price.tolist(),
            "ci_g_per_kwh": np.maximum(ci_g, 0.0).tolist(),
            "max_import_kw": spec.max_import_kw,
            "max_export_kw": spec.max_export_kw,
            "peak_charge_eur_per_kw": spec.peak_charge_eur_per_kw,
            "co2_price_eur_per_t": spec.co2_price_eur_per_t,
        },
        "site": {
            "base_load_kw": np.maximum(base_w / 1000, 0.0).round(3).tolist(),
            "pv_kw": np.maximum(pv_w / 1000, 0.0).round(3).tolist(),
        },
        "evs": [s.ev for s in sessions],
        "jobs": jobs,
    }
    device_of = {s.ev["id"]: s.charger_id for s in sessions}
    device_of |= dict(zip(inputs.jobs["job_id"], inputs.jobs["device_id"], strict=True))
    devices = sorted(set(inputs.vehicles["charger_id"]) | set(inputs.jobs["device_id"]))
    if spec.battery is not None:
        scenario["battery"] = _battery(spec, inputs.telemetry, as_of, notes)
        devices.insert(0, spec.battery.device_id)
    devices.append(PV_CURTAILMENT_ID)
    return SiteScenario(scenario, device_of, devices, sessions, fallbacks, notes)


def device_plan(site: SiteScenario, plan_frame: pl.DataFrame) -> pl.DataFrame:
    """The plan per controllable device: sessions summed onto chargers, jobs onto machines.

    Every device of the site gets a row in every slot (0 kW when idle), so the control
    service always has an explicit setpoint. Columns device_id, slot_start_utc, power_kw.
    """
    mapping = pl.DataFrame(
        {"device_id": list(site.device_of), "target": list(site.device_of.values())},
        schema={"device_id": pl.String, "target": pl.String},
    )
    per_device = (
        plan_frame.join(mapping, on="device_id", how="left")
        .with_columns(pl.coalesce("target", "device_id").alias("device_id"))
        .group_by("device_id", "slot_start_utc")
        .agg(pl.col("power_kw").sum())
    )
    grid = pl.DataFrame({"device_id": site.devices}).join(
        plan_frame.select("slot_start_utc").unique(), how="cross"
    )
    return (
        grid.join(per_device, on=["device_id", "slot_start_utc"], how="left")
        .with_columns(pl.col("power_kw").fill_null(0.0))
        .sort("device_id", "slot_start_utc")
    )
