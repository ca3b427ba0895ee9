"""Island mode: a pure state machine over the grid meter, one step per control cycle.

Modes: ``grid`` (connected), ``island`` (grid lost; one battery forms the site's grid) and
``resync`` (the grid is back but has not yet been good for ``resync_delay_s``; the site is
still islanded). ``step`` turns the previous state and this cycle's snapshot into the next
state, the events to record, and the actions the service applies in the same cycle.

Orders:

- shedding: every non-critical load goes off in the cycle the fault is seen, lowest
  ``shed_priority`` first. Critical loads stay on while the forming battery's SoC is above
  ``reserve_soc_pct`` and the battery's discharge limit covers them; otherwise they are shed
  too, lowest priority first, and an event says why. Once shed for the reserve they come back
  only at ``reserve_soc_pct + reserve_hysteresis_pct`` so a recovering SoC does not flap them.
- restoring: after reconnection, highest priority first (critical loads before the others),
  one load per ``restore_step_s`` (all in the reconnect cycle when it is 0).

Powers in W, positive when a device draws from the site bus; times are aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from control.model import DeviceLimit, GridState, SiteLimits, Snapshot

GRID, ISLAND, RESYNC = "grid", "island", "resync"


@dataclass(frozen=True)
class IslandConfig:
    """Thresholds of grid-failure detection and of the way back.

    Attributes
    ----------
    f_min_hz, f_max_hz : float
        Frequency band of a healthy grid [Hz]; 50 Hz ± 0.5.
    v_min_v, v_max_v : float
        Voltage band of a healthy grid [V]; 230 V ± 10 %.
    loss_of_signal_s : float
        A meter reading older than this is a lost grid [s].
    resync_delay_s : float
        Continuously good grid needed before reconnecting [s]; any bad reading restarts it.
    restore_step_s : float
        Time between two loads restored after reconnection [s]; 0 restores all at once.
    reserve_soc_pct : float
        Battery SoC kept for the critical loads [%]: at or below it they are shed too.
    reserve_hysteresis_pct : float
        Critical loads shed for the reserve come back above reserve + this [%].
    battery_id : str or None
        The battery that forms the island; None picks the first online battery by id.
    """

    f_min_hz: float = 49.5
    f_max_hz: float = 50.5
    v_min_v: float = 207.0
    v_max_v: float = 253.0
    loss_of_signal_s: float = 5.0
    resync_delay_s: float = 30.0
    restore_step_s: float = 0.0
    reserve_soc_pct: float = 30.0
    reserve_hysteresis_pct: float = 5.0
    battery_id: str | None = None


@dataclass(frozen=True)
class IslandState:
    """Where the machine is.

    Attributes
    ----------
    mode : str
        ``grid``, ``island`` or ``resync``.
    since : datetime or None
        When ``mode`` was entered.
    grid_good_since : datetime or None
        In ``resync``: start of the current run of good grid readings.
    shed : tuple of str
        Loads held off, in the order they were shed.
    next_restore_at : datetime or None
        In ``grid`` while loads are still shed: earliest time of the next restore.
    """

    mode: str = GRID
    since: datetime | None = None
    grid_good_since: datetime | None = None
    shed: tuple[str, ...] = ()
    next_restore_at: datetime | None = None


@dataclass(frozen=True)
class IslandEvent:
    """One transition: of the site (``kind`` ``transition``, ``from_``/``to`` are modes) or
    of a load (``shed``/``restore``, ``from_``/``to`` are ``on``/``off``)."""

    at: datetime
    kind: str
    from_: str
    to: str
    reason: str
    device_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The event as the lake and the API show it (keys ``from`` and ``to``)."""
        return {
            "at": self.at,
            "kind": self.kind,
            "from": self.from_,
            "to": self.to,
            "reason": self.reason,
            "device_id": self.device_id,
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class IslandActions:
    """What the service applies this cycle.

    Attributes
    ----------
    mode : str
        The mode after this step.
    grid_forming : str or None
        Battery to run grid-forming; None means every battery follows the grid.
    connect_grid : bool
        False while islanded: the site stays off the grid.
    loads_off : tuple of str
        Loads that must stay off, in shed order (also in ``grid`` while restoring).
    loads_on : tuple of str
        Loads switched back on this cycle, in restore order.
    setpoints : dict of str to float
        Island setpoints [W] for every device; empty in ``grid`` (the policy decides).
    """

    mode: str = GRID
    grid_forming: str | None = None
    connect_grid: bool = True
    loads_off: tuple[str, ...] = ()
    loads_on: tuple[str, ...] = ()
    setpoints: dict[str, float] = field(default_factory=dict)


def grid_fault(grid: GridState, now: datetime, config: IslandConfig) -> str | None:
    """Why the grid counts as failed at ``now``, or None if it is good.

    A missing frequency or voltage is not a fault on its own (not every meter reports both);
    a missing or old reading is.
    """
    if grid.grid_ok_signal is False:
        return "grid-status signal reports the grid down"
    if grid.at is None:
        return "loss of signal: no grid meter reading"
    age_s = (now - grid.at).total_seconds()
    if age_s > config.loss_of_signal_s:
        return f"loss of signal: grid meter silent for {age_s:.0f} s"
    f = grid.frequency_hz
    if f is not None and not config.f_min_hz <= f <= config.f_max_hz:
        return f"frequency {f:.2f} Hz out of [{config.f_min_hz}, {config.f_max_hz}]"
    v = grid.voltage_v
    if v is not None and not config.v_min_v <= v <= config.v_max_v:
        return f"voltage {v:.1f} V out of [{config.v_min_v}, {config.v_max_v}]"
    return None


def step(
    state: IslandState,
    snapshot: Snapshot,
    limits: SiteLimits,
    now: datetime,
    config: IslandConfig,
) -> tuple[IslandState, list[IslandEvent], IslandActions]:
    """Advance the island state machine by one control cycle.

    Parameters
    ----------
    state : IslandState
        The state after the previous cycle (``IslandState()`` at start).
    snapshot : Snapshot
        This cycle's measurements; the grid meter decides the mode, the battery SoC [%]
        decides the critical loads.
    limits : SiteLimits
        Devices with their kind, ``critical`` flag and ``shed_priority``.
    now : datetime
        This cycle's time (aware UTC).
    config : IslandConfig

    Returns
    -------
    tuple of (IslandState, list of IslandEvent, IslandActions)
    """
    fault = grid_fault(snapshot.grid, now, config)
    events: list[IslandEvent] = []
    if state.mode == GRID:
        if fault is None:
            return _restore(state, limits, now, config, events)
        events.append(IslandEvent(now, "transition", GRID, ISLAND, fault))
        state = IslandState(ISLAND, now, None, state.shed)
        return _islanded(state, snapshot, limits, now, config, events)
    if fault is not None:
        if state.mode == RESYNC:
            reason = f"grid lost again during resync, the delay restarts: {fault}"
            events.append(IslandEvent(now, "transition", RESYNC, ISLAND, reason))
            state = replace(state, mode=ISLAND, since=now, grid_good_since=None)
        return _islanded(state, snapshot, limits, now, config, events)
    if state.mode == ISLAND:
        events.append(IslandEvent(now, "transition", ISLAND, RESYNC, "grid back within band"))
        state = replace(state, mode=RESYNC, since=now, grid_good_since=now)
        return _islanded(state, snapshot, limits, now, config, events)
    good_s = (now - (state.grid_good_since or now)).total_seconds()
    if good_s < config.resync_delay_s:
        return _islanded(state, snapshot, limits, now, config, events)
    reason = f"grid good for {good_s:.0f} s: reconnect"
    events.append(IslandEvent(now, "transition", RESYNC, GRID, reason))
    state = IslandState(GRID, now, None, state.shed, None)
    return _restore(state, limits, now, config, events)


def _restore_order(shed: tuple[str, ...], limits: SiteLimits) -> list[str]:
    def key(device_id: str) -> tuple[bool, int, str]:
        d = limits.devices.get(device_id)
        if d is None:
            return (True, 0, device_id)
        return (not d.critical, -d.shed_priority, device_id)

    return sorted(shed, key=key)


def _restore(
    state: IslandState,
    limits: SiteLimits,
    now: datetime,
    config: IslandConfig,
    events: list[IslandEvent],
) -> tuple[IslandState, list[IslandEvent], IslandActions]:
    restored: list[str] = []
    if state.shed and (state.next_restore_at is None or now >= state.next_restore_at):
        order = _restore_order(state.shed, limits)
        restored = order if config.restore_step_s <= 0 else order[:1]
        for device_id in restored:
            events.append(IslandEvent(now, "restore", "off", "on", "grid back", device_id))
        shed = tuple(d for d in state.shed if d not in restored)
        next_at = now + timedelta(seconds=config.restore_step_s) if shed else None
        state = replace(state, shed=shed, next_restore_at=next_at)
    actions = IslandActions(GRID, None, True, state.shed, tuple(restored), {})
    return state, events, actions


def _forming_battery(snapshot: Snapshot, limits: SiteLimits, config: IslandConfig) -> str | None:
    candidates = [config.battery_id] if config.battery_id else sorted(limits.devices)
    for device_id in candidates:
        d = limits.devices.get(device_id)
        s = snapshot.devices.get(device_id)
        if d is not None and d.kind == "battery" and s is not None and s.online:
            return device_id
    return None


def _load_power_w(device: DeviceLimit, snapshot: Snapshot) -> float:
    s = snapshot.devices.get(device.device_id)
    if s is not None and s.online and s.power_w is not None and s.power_w > 0:
        return s.power_w
    return max(device.max_w, 0.0)


def _islanded(
    state: IslandState,
    snapshot: Snapshot,
    limits: SiteLimits,
    now: datetime,
    config: IslandConfig,
    events: list[IslandEvent],
) -> tuple[IslandState, list[IslandEvent], IslandActions]:
    loads = [d for d in limits.devices.values() if d.kind == "load"]
    by_shed_order = sorted(loads, key=lambda d: (d.shed_priority, d.device_id))
    already = set(state.shed)
    former = _forming_battery(snapshot, limits, config)
    soc = None if former is None else snapshot.devices[former].soc_pct

    # Which critical loads the battery can carry: by SoC, then by its discharge limit.
    critical = [d for d in reversed(by_shed_order) if d.critical]  # highest priority first
    keep: list[DeviceLimit] = []
    why_not: dict[str, str] = {}
    if former is None:
        why_not = {d.device_id: "no battery online to form the island" for d in critical}
    else:
        capacity_w = max(-limits.devices[former].min_w, 0.0)
        for d in critical:
            back_at = config.reserve_soc_pct + config.reserve_hysteresis_pct
            if soc is not None and soc <= config.reserve_soc_pct:
                why_not[d.device_id] = f"battery SoC {soc:.1f} % at or below reserve"
            elif soc is not None and d.device_id in already and soc < back_at:
                why_not[d.device_id] = f"battery SoC {soc:.1f} % below {back_at:.1f} %"
            elif (
                sum(_load_power_w(k, snapshot) for k in keep) + _load_power_w(d, snapshot)
                > capacity_w
            ):
                why_not[d.device_id] = "battery discharge limit"
            else:
                keep.append(d)

    kept_ids = {d.device_id for d in keep}
    shed = [d for d in state.shed if d not in kept_ids]
    for d in by_shed_order:
        if d.device_id in kept_ids or d.device_id in already:
            continue
        reason = why_not.get(d.device_id, "non-critical load shed in island mode")
        events.append(IslandEvent(now, "shed", "on", "off", reason, d.device_id))
        shed.append(d.device_id)
    loads_on = []
    for d in keep:
        if d.device_id in already:
            events.append(
                IslandEvent(now, "restore", "off", "on", "battery above reserve", d.device_id)
            )
            loads_on.append(d.device_id)

    setpoints = _island_setpoints(limits, snapshot, former, keep)
    if events and events[0].kind == "transition":
        events[0] = replace(
            events[0],
            details={
                "grid_forming": former,
                "soc_pct": soc,
                "shed": list(shed),
                "kept": [d.device_id for d in keep],
            },
        )
    state = replace(state, shed=tuple(shed))
    actions = IslandActions(state.mode, former, False, state.shed, tuple(loads_on), setpoints)
    return state, events, actions


def _island_setpoints(
    limits: SiteLimits, snapshot: Snapshot, former: str | None, keep: list[DeviceLimit]
) -> dict[str, float]:
    """Chargers, other batteries, shed loads and PV curtailment at 0 (within limits);
    kept loads run; the forming battery's setpoint covers the kept loads."""
    out: dict[str, float] = {}
    for d in limits.devices.values():
        out[d.device_id] = min(max(0.0, d.min_w), d.max_w)
    for d in keep:
        out[d.device_id] = d.max_w
    if former is not None:
        b = limits.devices[former]
        demand_w = sum(_load_power_w(d, snapshot) for d in keep)
        out[former] = min(max(-demand_w, b.min_w), b.max_w)
    return out
