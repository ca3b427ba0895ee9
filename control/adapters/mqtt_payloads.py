"""MQTT payloads: batched telemetry readings and setpoints, as JSON.

A telemetry message is a JSON list of readings (a single reading object is accepted)::

    [{"ts_utc": "2025-03-27T10:00:00Z", "metric": "power_w", "value": 1200.5, "unit": "W"}, ...]

A setpoint is ``{"seq": 17, "running": true, "power_w": 120000.0,
"valid_until": "2025-03-27T10:15:00Z"}``; ``power_w`` [W] is optional.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl

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


#: JSON shape of a telemetry message for the vectorised decoder.
_MESSAGE_DTYPE = pl.List(
    pl.Struct({"ts_utc": pl.String, "metric": pl.String, "value": pl.Float64, "unit": pl.String})
)
#: Tokens the vectorised decoder would coerce (booleans to 1/0) or not parse (NaN);
#: messages holding them take the strict per-message path.
_SLOW_PATTERN = r"true|false|NaN|Infinity"
_CHUNK = 2000
_ROW_SCHEMA = {
    "site_id": pl.String,
    "device_id": pl.String,
    "ts_utc": pl.Datetime("us", "UTC"),
    "metric": pl.String,
    "value": pl.Float64,
    "unit": pl.String,
}


@dataclass
class DecodedBatch:
    """Rows of a batch of telemetry messages and what was rejected, with reasons."""

    frame: pl.DataFrame
    readings_in: int = 0
    messages_rejected: int = 0
    readings_rejected: int = 0
    reasons: list[str] = field(default_factory=list)


def decode_telemetry_batch(site_id: str, messages: list[tuple[str, bytes]]) -> DecodedBatch:
    """Decode many (device_id, payload) telemetry messages at once.

    Chunks of messages are parsed by Polars in one go. A chunk Polars cannot parse, and
    any message with booleans or non-finite numbers, is decoded message by message with
    :func:`decode_telemetry`, which names what is wrong. Both paths accept and reject the
    same readings.
    """
    out = DecodedBatch(pl.DataFrame(schema=_ROW_SCHEMA))
    frames, strict = [], []
    for i in range(0, len(messages), _CHUNK):
        chunk = messages[i : i + _CHUNK]
        try:
            frame, slow = _decode_fast(site_id, chunk, out)
        except pl.exceptions.PolarsError:
            strict += chunk
            continue
        frames.append(frame)
        strict += slow
    for device_id, payload in strict:
        try:
            rows, reasons = decode_telemetry(site_id, device_id, payload)
        except PayloadError as exc:
            out.messages_rejected += 1
            out.reasons.append(f"{device_id}: message rejected: {exc}")
            continue
        out.readings_in += len(rows) + len(reasons)
        out.readings_rejected += len(reasons)
        out.reasons += [f"{device_id}: {r}" for r in reasons]
        if rows:
            frames.append(pl.DataFrame(rows, schema=_ROW_SCHEMA, orient="row"))
    if frames:
        out.frame = pl.concat(frames, how="vertical")
    return out


def _decode_fast(
    site_id: str, messages: list[tuple[str, bytes]], out: DecodedBatch
) -> tuple[pl.DataFrame, list[tuple[str, bytes]]]:
    """Rows of the chunk's ordinary messages, and the messages left for the strict path.

    Raises a Polars error (before touching ``out``) when the chunk cannot be parsed.
    """
    msgs = pl.DataFrame(
        {
            "device_id": pl.Series([d for d, _ in messages], dtype=pl.String),
            "payload": pl.Series([p for _, p in messages], dtype=pl.Binary).cast(pl.String),
        }
    ).with_columns(pl.col("payload").str.contains(_SLOW_PATTERN).alias("strict"))
    slow = msgs.filter(pl.col("strict"))
    parsed = msgs.filter(~pl.col("strict")).select(
        "device_id",
        pl.when(pl.col("payload").str.starts_with("{"))
        .then(pl.concat_str(pl.lit("["), pl.col("payload"), pl.lit("]")))
        .otherwise(pl.col("payload"))
        .str.json_decode(_MESSAGE_DTYPE)
        .alias("r"),
    )
    rows = (
        parsed.filter(pl.col("r").is_not_null())
        .explode("r")
        .filter(pl.col("r").is_not_null())
        .unnest("r")
        .with_columns(
            pl.col("ts_utc").str.to_datetime(
                format="%Y-%m-%dT%H:%M:%S%.f%#z", time_unit="us", time_zone="UTC", strict=False
            )
        )
    )
    ok = (
        pl.col("ts_utc").is_not_null()
        & (pl.col("metric").str.len_chars() > 0)
        & pl.col("unit").is_not_null()
        & pl.col("value").is_not_null()
    ).fill_null(False)
    bad = rows.filter(~ok)
    null_msgs = parsed.filter(pl.col("r").is_null())["device_id"]
    out.messages_rejected += null_msgs.len()
    out.reasons += [f"{d}: message rejected: not a list of readings" for d in null_msgs]
    out.readings_in += rows.height
    out.readings_rejected += bad.height
    out.reasons += [
        f"{r['device_id']}: reading rejected: ts_utc (ISO 8601 with time zone), metric, "
        f"value and unit are required, got {r}"
        for r in bad.head(5).iter_rows(named=True)
    ]
    frame = rows.filter(ok).select(
        pl.lit(site_id).alias("site_id"), "device_id", "ts_utc", "metric", "value", "unit"
    )
    return frame, [(d, p.encode()) for d, p in slow.select("device_id", "payload").iter_rows()]
