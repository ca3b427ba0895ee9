"""SetChargingProfile, V2X and UpdateDynamicSchedule payloads from power setpoints.

Pure functions: a schedule of ``(slot_start, power_w)`` steps and the station's limits go in,
an ``ocpp`` request dataclass comes out, with the profile itself as a camelCase dict (the
wire form, so tests check exactly what is sent). Power is in W, positive charges, negative
discharges. Only total-power fields are used (see :mod:`control.adapters.ocpp_wire`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ocpp.v16 import call as call16
from ocpp.v21 import call as call21
from ocpp.v201 import call as call201

from control.adapters.ocpp_wire import utc_z

TX_DEFAULT = "TxDefaultProfile"
TX_PROFILE = "TxProfile"
PROFILE_ID = {TX_DEFAULT: 1, TX_PROFILE: 2}
"""One profile id per purpose: a new profile with the same id replaces the station's old one."""


@dataclass(frozen=True)
class StationLimits:
    """What a station accepts in a charging profile.

    The defaults are the conservative fallback used when a station cannot report its limits.

    Parameters
    ----------
    periods_per_schedule : int
        Maximum periods in one charging schedule.
    rate_units : tuple of str
        Accepted charging rate units, ``"W"`` and/or ``"A"``.
    max_stack_level : int
        Highest accepted stack level.
    voltage_v : float
        Nominal phase voltage for W to A conversion [V].
    phases : int
        Phases used for W to A conversion.
    """

    periods_per_schedule: int = 1
    rate_units: tuple[str, ...] = ("A",)
    max_stack_level: int = 0
    voltage_v: float = 230.0
    phases: int = 3

    @property
    def rate_unit(self) -> str:
        """The unit profiles are sent in: W when the station takes it, else A."""
        return "W" if "W" in self.rate_units else "A"


@dataclass(frozen=True)
class Target:
    """Where a profile goes.

    Parameters
    ----------
    purpose : str
        ``TxDefaultProfile`` or ``TxProfile``.
    evse_id : int
        EVSE (2.x) or connector (1.6); 0 is the whole station (TxDefaultProfile only).
    transaction_id : str or None
        The running transaction, required for ``TxProfile``.
    """

    purpose: str = TX_DEFAULT
    evse_id: int = 0
    transaction_id: str | None = None


def to_rate(power_w: float, unit: str, limits: StationLimits) -> float:
    """Express a power [W] in the profile's unit (W, or A per phase), one decimal."""
    if unit == "W":
        return round(power_w, 1)
    return round(power_w / (limits.voltage_v * limits.phases), 1)


def _steps(
    slots: Sequence[tuple[datetime, float]], now: datetime, limits: StationLimits
) -> list[tuple[int, float]]:
    """``(start_period [s], power_w)`` steps from ``now``, cut to the station's period limit."""
    ordered = sorted(slots)
    steps: list[tuple[int, float]] = []
    for start, power_w in ordered:
        offset = max(0, int((start - now).total_seconds()))
        if steps and offset == steps[-1][0]:
            steps[-1] = (offset, power_w)
        elif steps or offset == 0:
            steps.append((offset, power_w))
        else:  # the first slot starts later: hold 0 W until then
            steps.extend([(0, 0.0), (offset, power_w)])
    return steps[: max(1, limits.periods_per_schedule)]


def _charge_period(start: int, power_w: float, unit: str, limits: StationLimits) -> dict:
    return {"startPeriod": start, "limit": to_rate(max(power_w, 0.0), unit, limits)}


def _v2x_period(start: int, power_w: float, unit: str, limits: StationLimits) -> dict:
    if power_w >= 0:
        return _charge_period(start, power_w, unit, limits) | {"operationMode": "ChargingOnly"}
    rate = to_rate(power_w, unit, limits)
    return {
        "startPeriod": start,
        "operationMode": "CentralSetpoint",
        "setpoint": rate,
        "dischargeLimit": rate,
    }


def _profile(
    target: Target, stack_level: int, kind: str, schedule: dict, valid_until: datetime
) -> dict:
    profile = {
        "id": PROFILE_ID[target.purpose],
        "stackLevel": stack_level,
        "chargingProfilePurpose": target.purpose,
        "chargingProfileKind": kind,
        "validTo": utc_z(valid_until),
    }
    if target.purpose == TX_PROFILE:
        profile["transactionId"] = target.transaction_id
    return profile | schedule


def profile_16(
    slots: Sequence[tuple[datetime, float]],
    valid_until: datetime,
    now: datetime,
    limits: StationLimits,
    target: Target,
    stack_level: int,
) -> call16.SetChargingProfile:
    """OCPP 1.6 SetChargingProfile; discharge is clamped to 0 W (1.6 has no V2X)."""
    unit = limits.rate_unit
    periods = [_charge_period(s, p, unit, limits) for s, p in _steps(slots, now, limits)]
    schedule = {
        "chargingSchedule": {
            "duration": max(1, int((valid_until - now).total_seconds())),
            "startSchedule": utc_z(now),
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": periods,
        }
    }
    profile = _profile(target, stack_level, "Absolute", schedule, valid_until)
    profile["chargingProfileId"] = profile.pop("id")
    if target.purpose == TX_PROFILE:
        profile["transactionId"] = int(target.transaction_id)
    return call16.SetChargingProfile(connector_id=target.evse_id, cs_charging_profiles=profile)


def profile_201(
    slots: Sequence[tuple[datetime, float]],
    valid_until: datetime,
    now: datetime,
    limits: StationLimits,
    target: Target,
    stack_level: int,
) -> call201.SetChargingProfile:
    """OCPP 2.0.1 SetChargingProfile; discharge is clamped to 0 W (2.0.1 has no V2X)."""
    unit = limits.rate_unit
    periods = [_charge_period(s, p, unit, limits) for s, p in _steps(slots, now, limits)]
    schedule = {
        "chargingSchedule": [
            {
                "id": 1,
                "duration": max(1, int((valid_until - now).total_seconds())),
                "startSchedule": utc_z(now),
                "chargingRateUnit": unit,
                "chargingSchedulePeriod": periods,
            }
        ]
    }
    profile = _profile(target, stack_level, "Absolute", schedule, valid_until)
    return call201.SetChargingProfile(evse_id=target.evse_id, charging_profile=profile)


def profile_21(
    slots: Sequence[tuple[datetime, float]],
    valid_until: datetime,
    now: datetime,
    limits: StationLimits,
    target: Target,
    stack_level: int,
    max_offline_s: int,
    dynamic: bool,
    v2x: bool = True,
) -> call21.SetChargingProfile:
    """OCPP 2.1 SetChargingProfile with V2X periods and the offline fail-safe.

    Parameters
    ----------
    max_offline_s : int
        ``maxOfflineDuration`` [s]: after this long without the CSMS the profile becomes
        permanently invalid (``invalidAfterOfflineDuration``) and the station falls back to a
        lower stack level.
    dynamic : bool
        A ``Dynamic`` profile (one period, later changed by ``UpdateDynamicSchedule``)
        instead of an ``Absolute`` schedule.
    v2x : bool
        Whether discharge periods may be sent; without it discharge is clamped to 0 W.
    """
    unit = limits.rate_unit
    steps = _steps(slots, now, limits)
    if not v2x:
        steps = [(s, max(p, 0.0)) for s, p in steps]
    periods = [_v2x_period(s, p, unit, limits) for s, p in steps]
    schedule: dict = {"id": 1, "chargingRateUnit": unit}
    if dynamic:
        schedule["chargingSchedulePeriod"] = periods[:1]
    else:
        schedule |= {
            "duration": max(1, int((valid_until - now).total_seconds())),
            "startSchedule": utc_z(now),
            "chargingSchedulePeriod": periods,
        }
    kind = "Dynamic" if dynamic else "Absolute"
    profile = _profile(target, stack_level, kind, {"chargingSchedule": [schedule]}, valid_until)
    profile |= {"maxOfflineDuration": int(max_offline_s), "invalidAfterOfflineDuration": True}
    return call21.SetChargingProfile(evse_id=target.evse_id, charging_profile=profile)


def dynamic_update_21(
    profile_id: int, power_w: float, limits: StationLimits
) -> call21.UpdateDynamicSchedule:
    """OCPP 2.1 UpdateDynamicSchedule: the new setpoint of a ``Dynamic`` profile [W]."""
    period = _v2x_period(0, power_w, limits.rate_unit, limits)
    update = {k: v for k, v in period.items() if k in ("limit", "setpoint", "dischargeLimit")}
    return call21.UpdateDynamicSchedule(charging_profile_id=profile_id, schedule_update=update)


def is_discharge(request: object) -> bool:
    """Whether a built request carries a CentralSetpoint (discharge) period."""
    profile = getattr(request, "charging_profile", None) or {}
    periods = [p for s in profile.get("chargingSchedule", []) for p in s["chargingSchedulePeriod"]]
    update = getattr(request, "schedule_update", None) or {}
    return any(p.get("operationMode") == "CentralSetpoint" for p in periods) or (
        update.get("setpoint", 0) < 0
    )
