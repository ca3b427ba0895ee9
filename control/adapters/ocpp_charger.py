"""The ``Charger`` port for one connected OCPP station.

``set_power`` reads the station's limits once (GetVariables / GetConfiguration), then sends a
SetChargingProfile (TxProfile during a transaction, else TxDefaultProfile) in W or A. On OCPP
2.1 a ``Dynamic`` profile is sent once and later setpoints go by ``UpdateDynamicSchedule``;
discharge is a ``CentralSetpoint`` period. When the station answers NotImplemented or
rejects a feature (Dynamic, V2X, TxProfile), that is recorded in ``capabilities`` and the
next simpler form is sent instead. A station that goes away or never answers raises
:class:`StationUnavailable`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.exceptions import NotSupportedError, OCPPError

from control.adapters.ocpp_handlers import CsmsContext
from control.adapters.ocpp_limits import limits_request, parse_limits
from control.adapters.ocpp_profiles import (
    PROFILE_ID,
    TX_DEFAULT,
    TX_PROFILE,
    StationLimits,
    Target,
    dynamic_update_21,
    is_discharge,
    profile_16,
    profile_21,
    profile_201,
)

LOG = logging.getLogger(__name__)
_NOT_THERE = (OcppNotImplemented, NotSupportedError)


class StationUnavailable(ConnectionError):
    """The station disconnected, or did not answer within the response timeout."""


@dataclass
class Ack:
    """A station's answer to one power command.

    Attributes
    ----------
    action : str
        The OCPP action that got the final answer.
    status : str
        ``Accepted``, ``Rejected`` or ``NotImplemented``.
    sent_at_utc, acked_at_utc : datetime
        When the command went out and when its last answer came back.
    payload : dict
        The final request as sent (camelCase wire form).
    fallbacks : list of str
        Features given up on the way (e.g. ``Dynamic``, ``V2X``, ``TxProfile``).
    """

    action: str
    status: str
    sent_at_utc: datetime
    acked_at_utc: datetime
    payload: dict
    fallbacks: list[str] = field(default_factory=list)


def wire_payload(request: object) -> dict:
    """The camelCase payload ``ocpp`` puts on the wire for a request dataclass."""
    return remove_nones(snake_to_camel_case(serialize_as_dict(request)))


class OcppCharger:
    """``Charger`` port of one connected station (built by the CSMS per connection).

    Parameters
    ----------
    handler : ocpp ChargePoint
        The connection's CSMS handler.
    ctx : CsmsContext
        Shared CSMS state (transactions, telemetry, clock).
    max_offline_s : int
        ``maxOfflineDuration`` of OCPP 2.1 profiles [s].
    v2x_allowed : bool
        Whether discharge may be requested from this station at all.
    stack_level : int
        Wanted stack level, capped at the station's maximum.
    """

    def __init__(
        self,
        handler,
        ctx: CsmsContext,
        max_offline_s: int = 900,
        v2x_allowed: bool = True,
        stack_level: int = 1,
    ) -> None:
        self.handler = handler
        self.station_id: str = handler.id
        self.version: str = handler._ocpp_version
        self.ctx = ctx
        self.max_offline_s = max_offline_s
        self.v2x_allowed = v2x_allowed
        self.stack_level = stack_level
        self.capabilities: dict[str, str] = {}
        self.closed = asyncio.Event()
        self.last_ack: Ack | None = None
        self._limits_task: asyncio.Future | None = None
        # (purpose, discharging, validTo) of the live Dynamic profile, if any
        self._dynamic: tuple[str, bool, datetime] | None = None
        self._lock = asyncio.Lock()

    async def call(self, request: object) -> object:
        """Send one request (``suppress=False``) and return its result.

        Raises
        ------
        StationUnavailable
            The connection closed first, or no answer came within the response timeout.
        ocpp.exceptions.OCPPError
            The station answered with a CALLERROR.
        """
        if self.closed.is_set():
            raise StationUnavailable(f"{self.station_id} is not connected")
        sent = asyncio.ensure_future(self.handler.call(request, suppress=False))
        gone = asyncio.ensure_future(self.closed.wait())
        try:
            await asyncio.wait({sent, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if not sent.done():
            sent.cancel()
            raise StationUnavailable(
                f"{self.station_id} disconnected during {type(request).__name__}"
            )
        try:
            return sent.result()
        except TimeoutError as error:
            raise StationUnavailable(f"{self.station_id}: no answer ({error})") from error

    async def limits(self) -> StationLimits:
        """The station's smart-charging limits, read once (defaults if it cannot tell).

        Concurrent callers share one read; a read that failed (no answer) is retried.
        """
        task = self._limits_task
        if task is None or (task.done() and task.exception() is not None):
            task = self._limits_task = asyncio.ensure_future(self._read_limits())
        return await asyncio.shield(task)

    def prefetch_limits(self) -> None:
        """Start reading the limits now (after boot), so the first push is one round trip."""

        async def read() -> None:
            try:
                await self.limits()
            except (StationUnavailable, OCPPError) as error:
                LOG.info("%s: limits not read after boot (%s)", self.station_id, error)

        asyncio.ensure_future(read())

    async def _read_limits(self) -> StationLimits:
        base = StationLimits()
        request = limits_request(self.version)
        action = type(request).__name__
        try:
            return parse_limits(self.version, await self.call(request), base)
        except OCPPError as error:  # NotImplemented, or an answer that breaks the schema
            self.capabilities[action] = error.code
            LOG.info("%s: %s %s, using default limits", self.station_id, action, error.code)
            return base

    async def power(self) -> float | None:
        """The station's last metered power [W], None before its first meter value."""
        return self.ctx.telemetry.latest.get((self.station_id, "power_w"))

    async def set_power(self, power_w: float, valid_until: datetime) -> Ack:
        """Hold ``power_w`` [W] (negative discharges) until ``valid_until`` (aware UTC)."""
        return await self.set_schedule([(self.ctx.now(), power_w)], valid_until)

    async def set_schedule(
        self, slots: Sequence[tuple[datetime, float]], valid_until: datetime
    ) -> Ack:
        """Send a schedule of ``(slot_start_utc, power_w)`` steps valid until ``valid_until``.

        Steps beyond the station's periods per schedule are dropped (the last one holds).
        """
        async with self._lock:
            return await self._set_schedule(list(slots), valid_until)

    def _target(self) -> Target:
        active = self.ctx.transactions.active(self.station_id)
        if active is None or self.version == "1.6" and not active[1]:
            return Target(TX_DEFAULT, 0, None)
        tx_id, evse_id = active
        return Target(TX_PROFILE, evse_id or 1, tx_id)

    def _request(self, slots, valid_until, limits, target, dynamic, v2x) -> object:
        now = self.ctx.now()
        stack = min(self.stack_level, limits.max_stack_level)
        if self.version == "2.1":
            return profile_21(
                slots, valid_until, now, limits, target, stack, self.max_offline_s, dynamic, v2x
            )
        build = profile_16 if self.version == "1.6" else profile_201
        return build(slots, valid_until, now, limits, target, stack)

    async def _send(self, request, sent_at: datetime, fallbacks: list[str]) -> Ack:
        action = type(request).__name__
        try:
            status = (await self.call(request)).status
        except _NOT_THERE as error:
            self.capabilities[action] = error.code
            status = "NotImplemented"
        ack = Ack(action, str(status), sent_at, self.ctx.now(), wire_payload(request), fallbacks)
        self.last_ack = ack
        return ack

    async def _set_schedule(self, slots, valid_until: datetime) -> Ack:
        sent_at = self.ctx.now()
        if "SetChargingProfile" in self.capabilities:
            return Ack("SetChargingProfile", "NotImplemented", sent_at, sent_at, {})
        limits = await self.limits()
        target = self._target()
        fallbacks: list[str] = []
        v2x = self.v2x_allowed and self.version == "2.1" and "V2X" not in self.capabilities
        if any(p < 0 for _, p in slots) and not v2x:
            fallbacks.append("V2X")
        dynamic = self.version == "2.1" and len(slots) == 1 and "Dynamic" not in self.capabilities
        discharging = v2x and slots[0][1] < 0
        live = self._dynamic
        if (
            dynamic
            and live
            and live[:2] == (target.purpose, discharging)
            and valid_until <= live[2]
        ):
            if "UpdateDynamicSchedule" not in self.capabilities:
                request = dynamic_update_21(PROFILE_ID[target.purpose], slots[0][1], limits)
                ack = await self._send(request, sent_at, fallbacks)
                if ack.status == "Accepted":
                    return ack
                fallbacks.append("UpdateDynamicSchedule")
        while True:
            request = self._request(slots, valid_until, limits, target, dynamic, v2x)
            ack = await self._send(request, sent_at, fallbacks)
            if ack.status == "Accepted":
                live = (target.purpose, is_discharge(request), valid_until)
                self._dynamic = live if dynamic else None
                return ack
            self._dynamic = None
            if ack.status != "Rejected":
                return ack
            if dynamic:
                dynamic = False
                if not is_discharge(request):  # else the V2X part may be what was rejected
                    self.capabilities["Dynamic"] = "Rejected"
                fallbacks.append("Dynamic")
            elif v2x and is_discharge(request):
                v2x = False
                self.capabilities["V2X"] = "Rejected"
                fallbacks.append("V2X")
            elif target.purpose == TX_PROFILE:
                target = Target(TX_DEFAULT, 0, None)
                fallbacks.append("TxProfile")
            else:
                return ack
