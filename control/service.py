"""The dispatch loop: plan + telemetry + overrides → policy → setpoints on the wire.

One :meth:`ControlService.tick` reads the plan slot in force and every device, asks the pure
policy for a decision, sends the setpoints that changed or are close to expiry (in grid mode
make-before-break: a move towards a grid limit waits until the moves making room for it,
and the previous cycle's moves, show in the readings, :func:`control.policy.sequence`),
lands a
``device_commands`` row per send (with the device's answer) and the cycle's events, and
persists the state. :meth:`ControlService.run` ticks every ``cycle_s`` until stopped.

Sending is idempotent: an unchanged setpoint is re-sent only when its remaining validity
drops below ``min(resend_before_s, half its lifetime)``, and once after the service starts,
so a restarted service puts the setpoints in force back on the wire. A device that raises or
times out is marked offline and retried after ``retry_s``; it never stops the cycle.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from control.commands import CommandRecorder, new_id, to_json
from control.devices import DeviceRegistry
from control.model import (
    Decision,
    DeviceState,
    GridState,
    Override,
    PlanSlot,
    Setpoint,
    SiteLimits,
    Snapshot,
)
from control.policy import sequence
from control.ports import Clock
from control.state import SentSetpoint, StateStore

LOG = logging.getLogger(__name__)

Policy = Callable[..., Decision]
"""``decide(plan, snapshot, limits, overrides: list[Override], now, config, island=actions)
-> Decision``: :func:`control.policy.decide`; ``island`` is this cycle's
``control.island.IslandActions`` (None without the island state machine)."""


class PlanSource(Protocol):
    """Where the plan comes from (:class:`control.plan_source.LakePlanSource`)."""

    def slot_at(self, now: datetime) -> PlanSlot | None: ...


@dataclass(frozen=True)
class ServiceConfig:
    """How the loop runs.

    Attributes
    ----------
    site_id : str
    limits : SiteLimits
        Grid connection and device limits handed to the policy.
    cycle_s : float
        Time between cycles [s].
    resend_before_s : float
        An unchanged setpoint is re-sent when it expires within this [s] (or within half
        its lifetime, if shorter).
    tolerance_w : float
        Power changes up to this are not changes [W].
    io_timeout_s : float
        Longest wait for one device read or send [s].
    retry_s : float
        Wait before sending again to a device whose send failed [s].
    max_override_s : float
        Longest manual override accepted [s].
    sequence_w : float
        Setpoint moves from this size on go out make-before-break
        (:func:`control.policy.sequence`) [W].
    policy_config : object
        Passed to the policy as ``config``.
    island : control.island.IslandConfig or None
        Runs the island state machine every cycle and hands its actions to the policy
        (None: grid mode only).
    """

    site_id: str
    limits: SiteLimits
    cycle_s: float = 5.0
    resend_before_s: float = 120.0
    tolerance_w: float = 1.0
    io_timeout_s: float = 10.0
    retry_s: float = 30.0
    max_override_s: float = 24 * 3600.0
    sequence_w: float = 100.0
    policy_config: Any = None
    island: Any = None


@dataclass
class DeviceStatus:
    """What the service last saw of a device (for the API)."""

    state: DeviceState
    error: str | None = None
    retry_at: datetime | None = None


@dataclass
class _Cycle:
    now: datetime
    events: list[dict] = field(default_factory=list)
    commands: list[dict] = field(default_factory=list)


def island_state_to_dict(state) -> dict:
    """JSON form of a :class:`control.island.IslandState`."""
    out = {}
    for k, v in asdict(state).items():
        out[k] = v.isoformat() if isinstance(v, datetime) else list(v) if k == "shed" else v
    return out


def island_state_from_dict(data: dict):
    """The :class:`control.island.IslandState` of :func:`island_state_to_dict` ({} = fresh)."""
    from control.island import IslandState

    def dt(v):
        return None if v is None else datetime.fromisoformat(v)

    return IslandState(
        mode=data.get("mode", "grid"),
        since=dt(data.get("since")),
        grid_good_since=dt(data.get("grid_good_since")),
        shed=tuple(data.get("shed", ())),
        next_restore_at=dt(data.get("next_restore_at")),
    )


class ControlService:
    """The control service's loop and its live state.

    Parameters
    ----------
    config : ServiceConfig
    clock : Clock
        Time source; every timestamp the service writes comes from it.
    plan_source : PlanSource
    registry : DeviceRegistry
    policy : Policy
    recorder : CommandRecorder
    state_store : StateStore
        Loaded here; saved after every cycle and every override change.
    """

    def __init__(
        self,
        config: ServiceConfig,
        clock: Clock,
        plan_source: PlanSource,
        registry: DeviceRegistry,
        policy: Policy,
        recorder: CommandRecorder,
        state_store: StateStore,
    ) -> None:
        self.config = config
        self.clock = clock
        self.plan_source = plan_source
        self.registry = registry
        self.policy = policy
        self.recorder = recorder
        self.state_store = state_store
        self.state = state_store.load()
        for device_id, sent in self.state.sent.items():
            resume = getattr(registry.drivers.get(device_id), "resume", None)
            if resume is not None:  # control.devices.Resumable
                resume(sent)
        self.devices: dict[str, DeviceStatus] = {}
        self.plan: PlanSlot | None = None
        self.decision: Decision | None = None
        self.last_tick: datetime | None = None
        self.ticks = 0
        self._resend = set(registry.ids())  # everything goes on the wire once after a start
        self._in_flight = (0.0, 0.0)  # import last cycle's sends add, remove [W]
        self._started = False
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()

    # ------------------------------------------------------------------ the cycle

    async def tick(self) -> Decision | None:
        """Run one cycle; returns the policy's decision (None if the policy failed)."""
        async with self._lock:
            cycle = _Cycle(self.clock.now())
            if not self._started:
                self._started = True
                cycle.events.append(
                    self._event(cycle, "service_start", restored=bool(self.state.sent))
                )
            self._expire_overrides(cycle)
            self._read_plan(cycle, await asyncio.to_thread(self.plan_source.slot_at, cycle.now))
            snapshot = await self._snapshot(cycle)
            actions = self._island_step(cycle, snapshot)
            if actions is not None:
                await self._apply_island(cycle, actions)
            decision = self._decide(cycle, snapshot, actions)
            if decision is not None:
                self.decision = decision
                if self.config.island is None:
                    self._note_mode(cycle, decision)
                await self._send_due(cycle, decision, snapshot)
            self.last_tick = cycle.now
            self.ticks += 1
            self._persist(cycle)
            return decision

    def _decide(self, cycle: _Cycle, snapshot: Snapshot, actions) -> Decision | None:
        try:
            return self.policy(
                self.plan,
                snapshot,
                self.config.limits,
                list(self.state.overrides.values()),
                cycle.now,
                self.config.policy_config,
                island=actions,
            )
        except Exception as error:  # a policy bug must not take the loop down
            LOG.exception("policy failed; nothing sent this cycle")
            cycle.events.append(self._event(cycle, "policy_error", error=repr(error)))
            return None

    def _island_step(self, cycle: _Cycle, snapshot: Snapshot):
        if self.config.island is None:
            return None
        from control import island

        previous = island_state_from_dict(self.state.island)
        new, events, actions = island.step(
            previous, snapshot, self.config.limits, cycle.now, self.config.island
        )
        self.state.island = island_state_to_dict(new)
        self.state.mode = new.mode
        for e in events:
            detail = e.as_dict()
            detail.pop("device_id")
            cycle.events.append(
                self.recorder.event(e.at, f"island_{e.kind}", e.device_id, **detail)
            )
        return actions

    async def _apply_island(self, cycle: _Cycle, actions) -> None:
        # before the setpoints: a battery must form the island before loads lean on it
        try:
            changes = await self._io(self.registry.apply_island(actions))
        except Exception as error:  # retried next cycle; the setpoints still go out
            LOG.warning("island actions not applied: %r", error)
            cycle.events.append(self._event(cycle, "island_switch_error", error=repr(error)))
            return
        for change in changes:
            detail = dict(change)
            device_id = detail.pop("device_id", None)
            kind = "island_switch_error" if "error" in detail else "island_switch"
            cycle.events.append(self._event(cycle, kind, device_id, **detail))

    def _event(self, cycle: _Cycle, kind: str, device_id: str | None = None, **detail) -> dict:
        return self.recorder.event(cycle.now, kind, device_id, **detail)

    def _expire_overrides(self, cycle: _Cycle) -> None:
        for device_id, ov in list(self.state.overrides.items()):
            if ov.expires_at <= cycle.now:
                del self.state.overrides[device_id]
                cycle.events.append(
                    self._event(cycle, "override_expired", device_id, power_w=ov.power_w)
                )

    def _read_plan(self, cycle: _Cycle, plan: PlanSlot | None) -> None:
        self.plan = plan
        plan_id = plan.plan_id if plan else None
        if plan_id != self.state.plan_id:
            if plan_id is None:
                cycle.events.append(self._event(cycle, "plan_missing", previous=self.state.plan_id))
            else:
                cycle.events.append(
                    self._event(cycle, "plan_changed", plan_id=plan_id, previous=self.state.plan_id)
                )
            self.state.plan_id = plan_id

    async def _snapshot(self, cycle: _Cycle) -> Snapshot:
        ids = self.registry.ids()
        results = await asyncio.gather(
            *(self._io(self.registry[d].read()) for d in ids), return_exceptions=True
        )
        states = {}
        for device_id, result in zip(ids, results, strict=True):
            if isinstance(result, BaseException):
                LOG.warning("%s: read failed: %r", device_id, result)
                state, error = DeviceState(device_id, online=False, at=cycle.now), repr(result)
            else:
                state, error = result, None
            states[device_id] = self._update_device(cycle, device_id, state, error)
        try:
            grid = await self._io(self.registry.read_grid())
        except Exception as error:
            LOG.warning("grid read failed: %r", error)
            grid = GridState(power_w=None)
        return Snapshot(devices=states, grid=grid)

    def _update_device(
        self, cycle: _Cycle, device_id: str, state: DeviceState, error: str | None
    ) -> DeviceState:
        """Record this cycle's reading; a device without one keeps its last known state
        (:meth:`_last_known`), which the policy needs to foresee its fallback."""
        old = self.devices.get(device_id)
        was_online = None if old is None else old.state.online
        if state.online != was_online and (was_online is not None or not state.online):
            kind = "device_online" if state.online else "device_offline"
            cycle.events.append(self._event(cycle, kind, device_id, error=error))
        if not state.online and state.power_w is None and old is not None:
            state = self._last_known(old.state, cycle.now)
        self.devices[device_id] = DeviceStatus(state, error, old.retry_at if old else None)
        return state

    def _last_known(self, seen: DeviceState, now: datetime) -> DeviceState:
        """An offline device as last known: the power it was last seen drawing, or the
        setpoint it acknowledged after that (it was on its way there), timed when it was
        found offline (it may hold that setpoint until then plus the setpoint's lifetime)."""
        if not seen.online:
            return seen  # found offline before: known as it was then
        power_w = seen.power_w
        sent = self.state.sent.get(seen.device_id)
        if sent is not None and (seen.at is None or sent.sent_at > seen.at):
            power_w = sent.power_w
        return DeviceState(seen.device_id, False, power_w, seen.soc_pct, now)

    def _note_mode(self, cycle: _Cycle, decision: Decision) -> None:
        old, new = self.state.mode, decision.mode
        if new == old:
            return
        kind = "island_enter" if new == "island" else "island_exit" if old == "island" else "mode"
        cycle.events.append(
            self._event(cycle, kind, previous=old, mode=new, notes=list(decision.notes))
        )
        self.state.mode = new

    # ------------------------------------------------------------------ sending

    def _due(self, sp: Setpoint, now: datetime) -> str | None:
        """Why ``sp`` must go on the wire now, or None."""
        last = self.state.sent.get(sp.device_id)
        if sp.device_id in self._resend:
            return "restart" if last is not None else "new"
        if last is None:
            return "new"
        if abs(last.power_w - sp.power_w) > self.config.tolerance_w or last.source != sp.source:
            return "changed"
        lifetime = (last.valid_until - last.sent_at).total_seconds()
        margin = min(self.config.resend_before_s, lifetime / 2)
        if (last.valid_until - now).total_seconds() <= margin:
            return "expiring"
        return None

    async def _send_due(self, cycle: _Cycle, decision: Decision, snapshot: Snapshot) -> None:
        setpoints, in_flight = decision.setpoints, self._in_flight
        self._in_flight = (0.0, 0.0)
        if decision.mode == "grid":  # make before break (control.policy.sequence)
            setpoints = sequence(
                setpoints, snapshot, self.config.limits, self.config.sequence_w, in_flight
            )
        jobs = []
        for device_id, sp in sorted(setpoints.items()):
            if device_id not in self.registry or sp.source == "offline":
                continue  # not driven here, or offline: it reverts on its own expiry
            status = self.devices.get(device_id)
            if status is not None and status.retry_at and status.retry_at > cycle.now:
                continue
            if status is not None and not status.state.online and device_id not in self._resend:
                continue  # the device reverts on its own expiry; sent again once back
            reason = self._due(sp, cycle.now)
            if reason is not None:
                jobs.append(self._send_one(cycle, sp, reason))
                self._note_move(sp, snapshot)
        await asyncio.gather(*jobs)

    def _note_move(self, sp: Setpoint, snapshot: Snapshot) -> None:
        """Add what ``sp`` moves the site's import [W] to this cycle's moves, which the
        next cycle's grid reading may not show yet."""
        state = snapshot.devices.get(sp.device_id)
        if state is None or not state.online or state.power_w is None:
            return
        move = sp.power_w - state.power_w
        up, down = self._in_flight
        self._in_flight = (up + max(move, 0.0), down + min(move, 0.0))

    async def _send_one(self, cycle: _Cycle, sp: Setpoint, reason: str) -> None:
        driver = self.registry[sp.device_id]
        command_id = new_id()
        plan_id = self.plan.plan_id if self.plan else None
        sent_at = self.clock.now()
        row = {
            "command_id": command_id,
            "plan_id": plan_id,
            "device_id": sp.device_id,
            "protocol": driver.protocol,
            "sent_at_utc": sent_at,
            "power_w": sp.power_w,
            "valid_until_utc": sp.valid_until,
            "setpoint_source": sp.source,
            "send_reason": reason,
        }
        try:
            ack = await self._io(driver.send(sp))
        except Exception as error:
            LOG.warning("%s: send failed: %r", sp.device_id, error)
            cycle.commands.append(
                row
                | {
                    "payload": to_json({"power_w": sp.power_w, "valid_until": sp.valid_until}),
                    "ack_status": "timeout" if isinstance(error, TimeoutError) else "error",
                    "acked_at_utc": None,
                    "detail": to_json({"error": repr(error)}),
                }
            )
            self._mark_failed(cycle, sp.device_id, repr(error))
            return
        cycle.commands.append(
            row
            | {
                "payload": to_json(ack.get("payload", {})),
                "ack_status": str(ack.get("status", "")),
                "acked_at_utc": ack.get("acked_at"),
                "detail": to_json(ack.get("detail", {})),
            }
        )
        self._resend.discard(sp.device_id)
        self.state.sent[sp.device_id] = SentSetpoint(
            power_w=sp.power_w,
            valid_until=sp.valid_until,
            source=sp.source,
            sent_at=sent_at,
            command_id=command_id,
            plan_id=plan_id or "",
            ack_status=str(ack.get("status", "")),
        )

    def _mark_failed(self, cycle: _Cycle, device_id: str, error: str) -> None:
        old = self.devices.get(device_id)
        state = old.state if old else DeviceState(device_id, online=False)
        if state.online:
            cycle.events.append(self._event(cycle, "device_offline", device_id, error=error))
        at = cycle.now if state.online else state.at
        offline = DeviceState(device_id, False, state.power_w, state.soc_pct, at)
        retry_at = cycle.now + timedelta(seconds=self.config.retry_s)
        self.devices[device_id] = DeviceStatus(offline, error, retry_at)

    async def _io(self, awaitable):
        return await asyncio.wait_for(awaitable, self.config.io_timeout_s)

    def _persist(self, cycle: _Cycle) -> None:
        self.state.saved_at = cycle.now
        try:
            self.state_store.save(self.state)
        except OSError:
            LOG.exception("state not saved")
        try:
            self.recorder.record_commands(cycle.commands)
            self.recorder.record_events(cycle.events)
        except OSError:
            LOG.exception(
                "%d commands and %d events not landed", len(cycle.commands), len(cycle.events)
            )

    # ------------------------------------------------------------------ overrides

    def overrides(self) -> dict[str, Override]:
        """Overrides in force now."""
        now = self.clock.now()
        return {k: v for k, v in self.state.overrides.items() if v.expires_at > now}

    def set_override(
        self, device_id: str, power_w: float, expires_at: datetime, reason: str = ""
    ) -> Override:
        """Hold ``device_id`` at ``power_w`` [W] until ``expires_at`` [UTC]; effective next cycle.

        Raises
        ------
        KeyError
            Unknown device.
        ValueError
            Expiry not in the future or beyond ``max_override_s``, or power outside limits.
        """
        if device_id not in self.registry:
            raise KeyError(device_id)
        now = self.clock.now()
        ttl_s = (expires_at - now).total_seconds()
        if ttl_s <= 0:
            raise ValueError(f"expires_at {expires_at.isoformat()} is not in the future")
        if ttl_s > self.config.max_override_s:
            raise ValueError(f"an override may last at most {self.config.max_override_s:.0f} s")
        limit = self.config.limits.devices.get(device_id)
        if limit is not None and not limit.min_w <= power_w <= limit.max_w:
            raise ValueError(f"power_w {power_w} outside [{limit.min_w}, {limit.max_w}] W")
        ov = Override(device_id, float(power_w), expires_at, reason)
        self.state.overrides[device_id] = ov
        self._override_event(now, "override_set", ov)
        return ov

    def clear_override(self, device_id: str) -> Override | None:
        """Remove a device's override; returns it (None if there was none in force)."""
        ov = self.overrides().get(device_id)
        self.state.overrides.pop(device_id, None)
        if ov is not None:
            self._override_event(self.clock.now(), "override_cleared", ov)
        return ov

    def _override_event(self, now: datetime, kind: str, ov: Override) -> None:
        event = self.recorder.event(
            now, kind, ov.device_id, power_w=ov.power_w, expires_at=ov.expires_at, reason=ov.reason
        )
        self.state_store.save(self.state)
        self.recorder.record_events([event])
        self._wake.set()

    # ------------------------------------------------------------------ running

    async def run(self, stop: asyncio.Event) -> None:
        """Tick every ``cycle_s`` [s] (or at once after an override change) until ``stop``."""
        while not stop.is_set():
            self._wake.clear()
            try:
                await self.tick()
            except Exception:  # never let one bad cycle end the service
                LOG.exception("control cycle failed")
            waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())}
            await asyncio.wait(
                waits, timeout=self.config.cycle_s, return_when=asyncio.FIRST_COMPLETED
            )
            for task in waits:
                task.cancel()
        now = self.clock.now()
        self.state.saved_at = now
        self.state_store.save(self.state)
        self.recorder.record_events([self.recorder.event(now, "service_stop")])
