"""Small wire-format rules shared by the OCPP CSMS and the simulated stations.

Two known pitfalls of ``ocpp==2.1.0`` live here as code: timestamps go out as ``...Z``
(some stations reject ``+00:00``), and the OCPP 2.1 per-phase fields (``limit_l2``,
``setpoint_l3``, ...) serialize as ``limitL2`` instead of ``limit_L2`` and fail validation, so
payloads use total-power fields only and :func:`per_phase_keys` lets tests prove it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

SUBPROTOCOLS = ("ocpp2.1", "ocpp2.0.1", "ocpp1.6")
"""Served subprotocols; the order is the server's preference."""

VERSION_OF = {"ocpp2.1": "2.1", "ocpp2.0.1": "2.0.1", "ocpp1.6": "1.6"}

_PER_PHASE = re.compile(r"(?i)_?L[23]$")


def utc_z(ts: datetime) -> str:
    """Format a timezone-aware time as ISO 8601 UTC with a ``Z`` suffix [ms resolution]."""
    if ts.tzinfo is None:
        raise ValueError("naive datetime: every timestamp must be timezone-aware UTC")
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_ts(text: str) -> datetime:
    """Parse an OCPP timestamp (``Z`` or an offset) to an aware UTC datetime.

    Raises
    ------
    ValueError
        ``text`` is not an ISO 8601 time, or lies outside the years 1 to 9999 in UTC.
    """
    ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    try:
        return ts.astimezone(UTC)
    except OverflowError as exc:  # 0001-01-01T00:00:00+01:00 is in year 0 in UTC
        raise ValueError(f"time out of range in UTC: {text!r}") from exc


def per_phase_keys(payload: object) -> list[str]:
    """Every key of a (nested) payload that names an L2/L3 per-phase field."""
    found: list[str] = []
    if isinstance(payload, dict):
        for key, value in payload.items():
            if isinstance(key, str) and _PER_PHASE.search(key):
                found.append(key)
            found.extend(per_phase_keys(value))
    elif isinstance(payload, list):
        for item in payload:
            found.extend(per_phase_keys(item))
    return found
