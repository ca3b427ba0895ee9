"""The control service's values: what the policy reads and what it decides.

Powers are in W, positive when a device draws from the site bus (charging, running,
importing); state of charge in %; times are aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class DeviceLimit:
    """Power range of one controllable device [W] and its kind.

    ``kind`` is ``battery``, ``charger``, ``load`` (a switchable machine) or ``pv`` (the
    curtailment device ``pv-curtailment``, whose power is the PV not produced).
    ``critical`` loads stay powered in island mode while the battery allows;
    ``shed_priority`` orders the others (lowest is shed first, restored last).
    """

    device_id: str
    kind: str
    min_w: float
    max_w: float
    critical: bool = False
    shed_priority: int = 0


@dataclass(frozen=True)
class SiteLimits:
    """The grid connection [W] and every device's limits."""

    max_import_w: float
    max_export_w: float
    devices: dict[str, DeviceLimit]


@dataclass(frozen=True)
class DeviceState:
    """Latest telemetry of one device; None for what it did not report."""

    device_id: str
    online: bool
    power_w: float | None = None
    soc_pct: float | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class GridState:
    """The grid meter: net exchange [W] (positive imports), frequency [Hz], voltage [V]."""

    power_w: float | None
    frequency_hz: float | None = None
    voltage_v: float | None = None
    at: datetime | None = None
    grid_ok_signal: bool | None = None  # an explicit grid-status signal, when the site has one


@dataclass(frozen=True)
class Snapshot:
    """Everything measured at one control cycle."""

    devices: dict[str, DeviceState]
    grid: GridState


@dataclass(frozen=True)
class PlanSlot:
    """The setpoints of the plan in force for the current slot."""

    plan_id: str
    slot_start: datetime
    slot_end: datetime
    power_w: dict[str, float]


@dataclass(frozen=True)
class Override:
    """A manual setpoint for one device until ``expires_at``."""

    device_id: str
    power_w: float
    expires_at: datetime
    reason: str = ""


@dataclass(frozen=True)
class Setpoint:
    """What a device is told, until when, and why (``plan``, ``override``,
    ``safe_default``, ``island``, ``offline``); ``clamped`` says a limit changed it."""

    device_id: str
    power_w: float
    valid_until: datetime
    source: str
    clamped: bool = False


@dataclass(frozen=True)
class Clamp:
    """One limit the policy enforced: what was asked [W], what was given [W], which limit
    (``min_w``, ``max_w``, ``max_import_w``, ``max_export_w``)."""

    device_id: str
    asked_w: float
    given_w: float
    limit: str

    def __str__(self) -> str:
        return f"{self.device_id}: asked {self.asked_w:.0f} W, given {self.given_w:.0f} W ({self.limit})"


@dataclass
class Decision:
    """The policy's output for one cycle: setpoints, every clamp it made, the mode.

    ``clamps`` holds each clamp as a line of text; ``clamp_details`` the same clamps as values.
    """

    setpoints: dict[str, Setpoint]
    clamps: list[str] = field(default_factory=list)
    mode: str = "grid"
    notes: list[str] = field(default_factory=list)
    clamp_details: list[Clamp] = field(default_factory=list)
