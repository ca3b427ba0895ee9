"""The service's persisted state: one JSON file, replaced atomically after every change.

It holds what a restart must not forget: manual overrides, the last setpoint each device
acknowledged, the operating mode (grid or island, plus whatever the island state machine
needs), and the plan last followed. A restarted service loads it, resumes, and re-sends the
setpoints in force once.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from control.model import Override

LOG = logging.getLogger(__name__)
VERSION = 1


@dataclass(frozen=True)
class SentSetpoint:
    """A setpoint a device acknowledged.

    Attributes
    ----------
    power_w : float
        Power sent [W], positive draws from the site bus.
    valid_until : datetime
        Expiry carried on the wire [UTC].
    source : str
        Why (``plan``, ``override``, ``safe_default``, ``island``, ...).
    sent_at : datetime
        When it went out [UTC].
    command_id, plan_id : str
        The ``device_commands`` row and the plan in force (empty without one).
    ack_status : str
        The device's answer.
    """

    power_w: float
    valid_until: datetime
    source: str
    sent_at: datetime
    command_id: str = ""
    plan_id: str = ""
    ack_status: str = ""


@dataclass
class ServiceState:
    """Everything the service persists (see the module docstring)."""

    overrides: dict[str, Override] = field(default_factory=dict)
    sent: dict[str, SentSetpoint] = field(default_factory=dict)
    mode: str = "grid"
    island: dict = field(default_factory=dict)
    plan_id: str | None = None
    saved_at: datetime | None = None


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def to_dict(state: ServiceState) -> dict:
    """The JSON form of ``state`` (datetimes as ISO 8601 with offset)."""

    def enc(obj):
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(obj).items()}

    return {
        "version": VERSION,
        "overrides": {k: enc(v) for k, v in state.overrides.items()},
        "sent": {k: enc(v) for k, v in state.sent.items()},
        "mode": state.mode,
        "island": state.island,
        "plan_id": state.plan_id,
        "saved_at": state.saved_at.isoformat() if state.saved_at else None,
    }


def from_dict(data: dict) -> ServiceState:
    """The state from its JSON form."""
    overrides = {
        k: Override(
            device_id=v["device_id"],
            power_w=float(v["power_w"]),
            expires_at=_dt(v["expires_at"]),
            reason=v.get("reason", ""),
        )
        for k, v in data.get("overrides", {}).items()
    }
    sent = {
        k: SentSetpoint(
            power_w=float(v["power_w"]),
            valid_until=_dt(v["valid_until"]),
            source=v["source"],
            sent_at=_dt(v["sent_at"]),
            command_id=v.get("command_id", ""),
            plan_id=v.get("plan_id", ""),
            ack_status=v.get("ack_status", ""),
        )
        for k, v in data.get("sent", {}).items()
    }
    return ServiceState(
        overrides=overrides,
        sent=sent,
        mode=data.get("mode", "grid"),
        island=data.get("island", {}),
        plan_id=data.get("plan_id"),
        saved_at=_dt(data.get("saved_at")),
    )


class StateStore:
    """Loads and saves :class:`ServiceState` in one JSON file.

    Parameters
    ----------
    path : str or Path
        The state file, e.g. ``data/control/state-<site>.json``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> ServiceState:
        """The saved state; a fresh one when there is no file.

        A file that cannot be read is kept aside as ``<name>.corrupt-<id>`` and a fresh state
        is returned: the devices' own expiry timers cover the gap, so starting is safer than
        refusing to.
        """
        if not self.path.exists():
            return ServiceState()
        try:
            return from_dict(json.loads(self.path.read_text()))
        except (ValueError, KeyError, TypeError) as error:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{uuid.uuid4().hex[:8]}")
            os.replace(self.path, aside)
            LOG.error("state file %s unreadable (%s); moved to %s", self.path, error, aside)
            return ServiceState()

    def save(self, state: ServiceState) -> None:
        """Replace the file atomically (temporary file, fsync, rename)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with open(tmp, "w") as f:
                json.dump(to_dict(state), f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
