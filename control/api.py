"""The control service's HTTP API (FastAPI; OpenAPI at ``/docs``), on loopback by default.

Reads are open: health, devices, setpoints (wanted and sent), the plan in force, island mode
and recent events. Writes (manual overrides) need ``Authorization: Bearer <token>``: a
missing token answers 401, a wrong one 403, and without a configured token every write is
403 (read-only API).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated

import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AwareDatetime, BaseModel, Field, model_validator

from control.model import Override
from control.service import ControlService


class OverrideIn(BaseModel):
    """A manual setpoint: ``power_w`` [W] until ``expires_at`` (aware) or for ``ttl_s`` [s]."""

    power_w: float = Field(description="Setpoint [W]; positive draws from the site bus.")
    expires_at: AwareDatetime | None = Field(None, description="End of the override (UTC).")
    ttl_s: float | None = Field(None, gt=0, description="Or its duration from now [s].")
    reason: str = Field("", max_length=500)

    @model_validator(mode="after")
    def _one_expiry(self) -> OverrideIn:
        if (self.expires_at is None) == (self.ttl_s is None):
            raise ValueError("give exactly one of expires_at and ttl_s")
        return self


class OverrideOut(BaseModel):
    device_id: str
    power_w: float
    expires_at: datetime
    reason: str


def _override_out(ov: Override) -> OverrideOut:
    return OverrideOut(
        device_id=ov.device_id, power_w=ov.power_w, expires_at=ov.expires_at, reason=ov.reason
    )


_BEARER = HTTPBearer(auto_error=False, description="The control API token from settings.")


def _writer(token: str | None) -> Callable:
    def require(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]) -> None:
        if token is None:
            raise HTTPException(403, "read-only: no API token is configured")
        if creds is None:
            raise HTTPException(
                401, "bearer token required", headers={"WWW-Authenticate": "Bearer"}
            )
        if not secrets.compare_digest(creds.credentials.encode(), token.encode()):
            raise HTTPException(403, "invalid token")

    return require


def create_app(service: ControlService, token: str | None) -> FastAPI:
    """The API over a running :class:`ControlService`.

    Parameters
    ----------
    service : ControlService
    token : str or None
        Bearer token for writes; None or empty makes the API read-only.
    """
    token = token or None
    app = FastAPI(
        title="NovaEnergy control service",
        description="Devices, setpoints, plan, island mode, events and manual overrides.",
        version="1",
    )
    can_write = Depends(_writer(token))

    @app.get("/health", tags=["status"])
    def health() -> dict:
        """Liveness: the last cycle, mode, plan in force and device counts."""
        now = service.clock.now()
        last = service.last_tick
        fresh = last is not None and (now - last).total_seconds() <= 3 * service.config.cycle_s
        online = sum(s.state.online for s in service.devices.values())
        return {
            "status": "ok" if fresh else "starting" if last is None else "stalled",
            "site_id": service.config.site_id,
            "mode": service.state.mode,
            "last_cycle_utc": last,
            "cycles": service.ticks,
            "plan_id": service.state.plan_id,
            "devices_online": online,
            "devices_offline": len(service.devices) - online,
            "read_only": token is None,
        }

    def device_view(device_id: str) -> dict:
        status = service.devices.get(device_id)
        state = status.state if status else None
        return {
            "device_id": device_id,
            "protocol": service.registry[device_id].protocol,
            "online": None if state is None else state.online,
            "power_w": None if state is None else state.power_w,
            "soc_pct": None if state is None else state.soc_pct,
            "read_at_utc": None if state is None else state.at,
            "error": None if status is None else status.error,
        }

    @app.get("/devices", tags=["devices"])
    def devices() -> list[dict]:
        """Every device with its last reading and whether it is online."""
        return [device_view(d) for d in service.registry.ids()]

    @app.get("/devices/{device_id}", tags=["devices"])
    def device(device_id: str) -> dict:
        """One device's last reading."""
        if device_id not in service.registry:
            raise HTTPException(404, f"unknown device {device_id}")
        return device_view(device_id)

    @app.get("/setpoints", tags=["setpoints"])
    def setpoints() -> dict:
        """Per device: what the last decision wants and what the device last acknowledged."""
        decision = service.decision
        wanted = decision.setpoints if decision else {}
        out = []
        for d in sorted(set(wanted) | set(service.state.sent)):
            w, s = wanted.get(d), service.state.sent.get(d)
            out.append(
                {
                    "device_id": d,
                    "wanted": None
                    if w is None
                    else {
                        "power_w": w.power_w,
                        "valid_until_utc": w.valid_until,
                        "source": w.source,
                        "clamped": w.clamped,
                    },
                    "sent": None
                    if s is None
                    else {
                        "power_w": s.power_w,
                        "valid_until_utc": s.valid_until,
                        "source": s.source,
                        "sent_at_utc": s.sent_at,
                        "command_id": s.command_id,
                        "ack_status": s.ack_status,
                    },
                }
            )
        return {
            "mode": service.state.mode,
            "clamps": list(decision.clamps) if decision else [],
            "setpoints": out,
        }

    @app.get("/plan", tags=["plan"])
    def plan() -> dict:
        """The plan slot in force; ``stale`` when no valid plan covers now (safe defaults)."""
        slot = service.plan
        info = getattr(service.plan_source, "info", None)
        body = {"stale": slot is None, "plan_id": None if slot is None else slot.plan_id}
        if slot is not None:
            body |= {
                "slot_start_utc": slot.slot_start,
                "slot_end_utc": slot.slot_end,
                "power_w": dict(slot.power_w),
            }
        if slot is not None and info is not None:
            body |= {
                "kind": info.kind,
                "created_at_utc": info.created_at,
                "valid_from_utc": info.valid_from,
                "valid_until_utc": info.valid_until,
            }
        return body

    @app.get("/island", tags=["status"])
    def island() -> dict:
        """Operating mode, the island state machine's state and its recent transitions."""
        events = [
            e for e in service.recorder.recent_events(500) if e["event_type"].startswith("island_")
        ]
        return {"mode": service.state.mode, "state": service.state.island, "events": events[:50]}

    @app.get("/events", tags=["status"])
    def events(
        limit: Annotated[int, Query(ge=1, le=500)] = 100, event_type: str | None = None
    ) -> list[dict]:
        """Recent service events, newest first (also landed in ``control_events``)."""
        return service.recorder.recent_events(limit, event_type)

    @app.get("/overrides", tags=["overrides"])
    def overrides() -> list[OverrideOut]:
        """Overrides in force."""
        return [_override_out(o) for _, o in sorted(service.overrides().items())]

    @app.get("/overrides/{device_id}", tags=["overrides"])
    def get_override(device_id: str) -> OverrideOut:
        """A device's override in force (404 if none or expired)."""
        ov = service.overrides().get(device_id)
        if ov is None:
            raise HTTPException(404, f"no override in force for {device_id}")
        return _override_out(ov)

    @app.put("/overrides/{device_id}", tags=["overrides"], dependencies=[can_write])
    def put_override(device_id: str, body: OverrideIn) -> OverrideOut:
        """Hold a device at ``power_w`` until the expiry; applied from the next cycle."""
        now = service.clock.now()
        expires = body.expires_at or now + timedelta(seconds=body.ttl_s)
        try:
            ov = service.set_override(device_id, body.power_w, expires, body.reason)
        except KeyError:
            raise HTTPException(404, f"unknown device {device_id}") from None
        except ValueError as error:
            raise HTTPException(422, str(error)) from None
        return _override_out(ov)

    @app.delete("/overrides/{device_id}", tags=["overrides"], dependencies=[can_write])
    def delete_override(device_id: str) -> OverrideOut:
        """End a device's override now (404 if none in force)."""
        ov = service.clear_override(device_id)
        if ov is None:
            raise HTTPException(404, f"no override in force for {device_id}")
        return _override_out(ov)

    return app


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the composition root owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


async def serve_api(
    app: FastAPI,
    host: str = "127.0.0.1",
    port: int = 8000,
    stop: asyncio.Event | None = None,
    on_started: Callable[[int], None] | None = None,
) -> None:
    """Serve ``app`` with uvicorn until ``stop`` is set (or the task is cancelled).

    ``port`` 0 picks a free port; ``on_started`` is called with the bound port.
    """
    server = _Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve())
    stopping = asyncio.ensure_future(stop.wait() if stop is not None else asyncio.Event().wait())
    try:
        while not server.started and not serving.done():
            await asyncio.sleep(0.01)
        if not server.started:
            raise OSError(f"control API could not listen on {host}:{port}")
        if on_started is not None:
            on_started(server.servers[0].sockets[0].getsockname()[1])
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, SystemExit):
            await serving
