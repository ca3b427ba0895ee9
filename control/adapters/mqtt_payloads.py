"""MQTT payloads: batched telemetry readings and setpoints, as JSON.

A telemetry message is a JSON list of readings (a single reading object is accepted)::

    [{"ts_utc": "2025-03-27T10:00:00Z", "metric": "power_w", "value": 1200.5, "unit": "W"}, ...]

A setpoint is ``{"seq": 17, "running": true, "power_w": 120000.0,
"valid_until": "2025-03-27T10:15:00Z"}``; ``power_w`` [W] is optional.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime

#: One telemetry row: site_id, device_id, ts_utc, metric, value, unit.
Row = tuple[str, str, datetime, str, float, str]


class PayloadError(ValueError):
    """A message that cannot be decoded at all; the reason is the message."""


def iso_z(ts: datetime) -> str:
    """``ts`` as ISO 8601 UTC with a ``Z`` suffix (what devices send)."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ts(value) -> datetime:
    if not isinstance(value, str):
        raise ValueError("ts_utc is not a string")
    ts = datetime.fromisoformat(value)
    if ts.tzinfo is None:
        raise ValueError(f"ts_utc {value!r} has no time zone")
    return ts.astimezone(UTC)


def _reading(site_id: str, device_id: str, item) -> Row:
    if not isinstance(item, dict):
        raise ValueError("reading is not an object")
    metric, value, unit = item.get("metric"), item.get("value"), item.get("unit")
    if not isinstance(metric, str) or not metric:
        raise ValueError("metric missing")
    if not isinstance(unit, str):
        raise ValueError("unit missing")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"value {value!r} is not a finite number")
    return (site_id, device_id, _ts(item.get("ts_utc")), metric, float(value), unit)


def decode_telemetry(site_id: str, device_id: str, payload: bytes) -> tuple[list[Row], list[str]]:
    """Decode one telemetry message into rows and the reasons of rejected readings.

    Raises
    ------
    PayloadError
        When the message is not JSON or not a list of readings (nothing is usable).
    """
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"not JSON: {exc}") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise PayloadError(f"expected a list of readings, got {type(data).__name__}")
    rows, reasons = [], []
    for i, item in enumerate(data):
        try:
            rows.append(_reading(site_id, device_id, item))
        except ValueError as exc:
            reasons.append(f"reading {i}: {exc}")
    return rows, reasons


def encode_readings(readings: list[tuple[datetime, str, float, str]]) -> bytes:
    """A telemetry message from (ts_utc, metric, value, unit) readings."""
    return json.dumps(
        [{"ts_utc": iso_z(ts), "metric": m, "value": v, "unit": u} for ts, m, v, u in readings],
        separators=(",", ":"),
    ).encode()


@dataclass(frozen=True)
class Setpoint:
    """A command to one machine.

    Attributes
    ----------
    seq : int
        Strictly increasing per device; a device ignores one at or below the last applied.
    running : bool
        Run (True) or stop.
    valid_until : datetime
        After this UTC instant the device falls back to stopped.
    power_w : float or None
        The planned power [W], positive = drawing from the site bus.
    """

    seq: int
    running: bool
    valid_until: datetime
    power_w: float | None = None

    def encode(self) -> bytes:
        body = {"seq": self.seq, "running": self.running, "valid_until": iso_z(self.valid_until)}
        if self.power_w is not None:
            body["power_w"] = self.power_w
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, payload: bytes) -> Setpoint:
        """Parse a setpoint; raises :class:`PayloadError` naming what is wrong."""
        try:
            data = json.loads(payload)
            seq, running = data["seq"], data["running"]
            if not isinstance(seq, int) or isinstance(seq, bool):
                raise ValueError(f"seq {seq!r} is not an integer")
            if not isinstance(running, bool):
                raise ValueError(f"running {running!r} is not a boolean")
            power = data.get("power_w")
            if power is not None and not isinstance(power, int | float):
                raise ValueError(f"power_w {power!r} is not a number")
            return cls(seq, running, _ts(data["valid_until"]), power)
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise PayloadError(f"bad setpoint: {exc!r}") from None
