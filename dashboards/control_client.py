"""A small client for the control service's HTTP API (``control/api.py``).

Reads are open; overrides need the API's bearer token. Reads return plain dicts or Polars
frames with power in kW and times as aware UTC datetimes, so the dashboard only formats
them; writes mirror the API's body (power in W). Nothing here touches Streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import polars as pl

TIMEOUT_S = 3.0
"""Connect and read timeout of every call [s]: a dashboard must not hang on a dead service."""

UTC_TS = pl.Datetime("us", "UTC")


class ControlApiError(RuntimeError):
    """The API answered with an error (``status_code``, ``detail`` from its body)."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"{status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


class ControlUnreachable(ControlApiError):
    """Nothing answered at the API's address (refused, timed out or not HTTP)."""

    def __init__(self, base_url: str, reason: str) -> None:
        super().__init__(0, f"control API not reachable at {base_url}: {reason}")


def _call(
    method: str,
    base_url: str,
    path: str,
    token: str | None = None,
    json: dict | None = None,
    params: dict | None = None,
) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    # TLS settings only matter for https; building them costs ~40 ms per call on plain http
    tls = base_url.startswith("https:")
    try:
        with httpx.Client(base_url=base_url, timeout=TIMEOUT_S, verify=tls) as http:
            response = http.request(method, path, headers=headers, json=json, params=params)
    except httpx.HTTPError as error:  # refused, timeout, bad URL, protocol error
        raise ControlUnreachable(base_url, type(error).__name__) from error
    if response.is_error:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise ControlApiError(response.status_code, str(detail))
    return response.json()


def _utc(column: str) -> pl.Expr:
    return pl.col(column).str.to_datetime(time_zone="UTC", time_unit="us")


def _kw(watts: float | None) -> float | None:
    return None if watts is None else watts / 1000


def health(base_url: str) -> dict:
    """``GET /health``: status, site, mode, last cycle, plan id, devices on/offline, read_only."""
    return _call("GET", base_url, "/health")


def island(base_url: str) -> dict:
    """``GET /island``: mode, island state and its recent transitions."""
    return _call("GET", base_url, "/island")


def plan(base_url: str) -> dict:
    """``GET /plan``: the plan slot in force (``stale`` True when none covers now)."""
    return _call("GET", base_url, "/plan")


DEVICE_SCHEMA = {
    "device_id": pl.String,
    "protocol": pl.String,
    "online": pl.Boolean,
    "power_kw": pl.Float64,
    "soc_pct": pl.Float64,
    "read_at_utc": pl.String,
    "error": pl.String,
}


def devices(base_url: str) -> pl.DataFrame:
    """``GET /devices``: one row per device, its last reading [kW, %] and whether it is online."""
    rows = [
        {**d, "power_kw": _kw(d["power_w"]), "read_at_utc": d["read_at_utc"]}
        for d in _call("GET", base_url, "/devices")
    ]
    return pl.DataFrame(rows, schema=DEVICE_SCHEMA).with_columns(_utc("read_at_utc"))


SETPOINT_SCHEMA = {
    "device_id": pl.String,
    "wanted_kw": pl.Float64,
    "source": pl.String,
    "valid_until_utc": pl.String,
    "clamped": pl.Boolean,
    "sent_kw": pl.Float64,
    "sent_at_utc": pl.String,
    "ack_status": pl.String,
}


def setpoints(base_url: str) -> tuple[pl.DataFrame, list[str]]:
    """``GET /setpoints``: per device the wanted and the last sent setpoint [kW]; the clamps.

    Returns
    -------
    frame : polars.DataFrame
        device_id, wanted_kw, source (plan, override, island, safe_default, offline),
        valid_until_utc, clamped, sent_kw, sent_at_utc and ack_status.
    clamps : list of str
        The limits the last decision applied, one line each.
    """
    body = _call("GET", base_url, "/setpoints")
    rows = []
    for s in body["setpoints"]:
        wanted, sent = s["wanted"] or {}, s["sent"] or {}
        rows.append(
            {
                "device_id": s["device_id"],
                "wanted_kw": _kw(wanted.get("power_w")),
                "source": wanted.get("source"),
                "valid_until_utc": wanted.get("valid_until_utc"),
                "clamped": wanted.get("clamped"),
                "sent_kw": _kw(sent.get("power_w")),
                "sent_at_utc": sent.get("sent_at_utc"),
                "ack_status": sent.get("ack_status"),
            }
        )
    frame = pl.DataFrame(rows, schema=SETPOINT_SCHEMA)
    frame = frame.with_columns(_utc("valid_until_utc"), _utc("sent_at_utc"))
    return frame, list(body["clamps"])


EVENT_SCHEMA = {
    "ts_utc": pl.String,
    "event_type": pl.String,
    "device_id": pl.String,
    "detail": pl.String,
}


def events(base_url: str, limit: int = 50) -> pl.DataFrame:
    """``GET /events``: the newest ``limit`` service events, newest first."""
    rows = [
        {k: None if e.get(k) is None else str(e[k]) for k in EVENT_SCHEMA}
        for e in _call("GET", base_url, "/events", params={"limit": limit})
    ]
    return pl.DataFrame(rows, schema=EVENT_SCHEMA).with_columns(_utc("ts_utc"))


OVERRIDE_SCHEMA = {
    "device_id": pl.String,
    "power_kw": pl.Float64,
    "expires_at_utc": UTC_TS,
    "reason": pl.String,
}


def _override_row(o: dict) -> dict:
    return {
        "device_id": o["device_id"],
        "power_kw": _kw(o["power_w"]),
        "expires_at_utc": datetime.fromisoformat(o["expires_at"]).astimezone(UTC),
        "reason": o["reason"],
    }


def overrides(base_url: str) -> pl.DataFrame:
    """``GET /overrides``: the manual overrides in force [kW]."""
    rows = [_override_row(o) for o in _call("GET", base_url, "/overrides")]
    return pl.DataFrame(rows, schema=OVERRIDE_SCHEMA)


@dataclass(frozen=True)
class ControlSnapshot:
    """Everything the Control page shows, read in one go.

    Attributes
    ----------
    health, island, plan : dict
        The bodies of ``/health``, ``/island`` and ``/plan``.
    devices : polars.DataFrame
        Per device: last reading [kW, %], online, the setpoint wanted [kW] with its source,
        the setpoint last sent [kW] with its ack, and the override in force [kW] with its end.
    clamps : list of str
        The limits the last decision applied.
    events : polars.DataFrame
        Recent service events, newest first.
    """

    health: dict
    island: dict
    plan: dict
    devices: pl.DataFrame
    clamps: list[str]
    events: pl.DataFrame


def snapshot(base_url: str, event_limit: int = 50) -> ControlSnapshot:
    """Read the whole service state (raises :class:`ControlUnreachable` when it is down)."""
    wanted, clamps = setpoints(base_url)
    held = overrides(base_url).select(
        "device_id", pl.col("power_kw").alias("override_kw"), "expires_at_utc"
    )
    table = (
        devices(base_url)
        .join(wanted, on="device_id", how="left")
        .join(held, on="device_id", how="left")
        .sort("device_id")
    )
    return ControlSnapshot(
        health(base_url),
        island(base_url),
        plan(base_url),
        table,
        clamps,
        events(base_url, event_limit),
    )


def set_override(
    base_url: str,
    token: str,
    device_id: str,
    power_w: float,
    ttl_s: float | None = None,
    expires_at: datetime | None = None,
    reason: str = "",
) -> dict:
    """``PUT /overrides/{device_id}``: hold a device at ``power_w`` [W] until the expiry.

    Parameters
    ----------
    base_url, token : str
        The API and its bearer token.
    device_id : str
    power_w : float
        Setpoint [W]; positive draws from the site bus, negative feeds it.
    ttl_s : float, optional
        Duration from now [s]; give this or ``expires_at``.
    expires_at : datetime, optional
        Aware end of the override.
    reason : str
        Logged with the override.

    Returns
    -------
    dict
        The override in force: device_id, power_kw [kW], expires_at_utc (aware), reason.

    Raises
    ------
    ControlApiError
        401 without a token, 403 with a wrong one (or a read-only API), 404 for an unknown
        device, 422 for a power outside the device's limits or a bad expiry.
    """
    body: dict[str, Any] = {"power_w": power_w, "reason": reason}
    if ttl_s is not None:
        body["ttl_s"] = ttl_s
    if expires_at is not None:
        body["expires_at"] = expires_at.isoformat()
    got = _call("PUT", base_url, f"/overrides/{device_id}", token, json=body)
    return _override_row(got)


def clear_override(base_url: str, token: str, device_id: str) -> dict:
    """``DELETE /overrides/{device_id}``: end a device's override now (404 if none)."""
    return _override_row(_call("DELETE", base_url, f"/overrides/{device_id}", token))
