"""The control policy: (plan, snapshot, limits, overrides, now) → setpoints, pure.

No clock and no I/O: the dispatch loop passes ``now`` and this cycle's snapshot. Powers are
in W, positive when a device draws from the site bus (for ``pv-curtailment``: the PV not
produced, >= 0). The rules run in this order:

0. **Island.** When the island state machine (``control.island.step``) has the site off the
   grid (``island`` or ``resync``), its setpoints replace rules 1, 2 and 4; only the device
   clamp (3) still runs. In ``grid`` mode, loads it still holds off (restoring in order) stay at 0.
1. **Requests.** Active overrides (``now < expires_at``; the last one listed wins for a
   device) replace the plan for their device, even under the safe default: an operator's
   explicit, expiring setpoint, still clamped below. Expired overrides are ignored with a note.
   A plan is fresh while ``slot_start <= now < slot_end + plan_grace_s``; a stale or missing
   plan gives every device the **safe default** (source ``safe_default``): batteries 0,
   chargers ``min(min_charge_w, max_w)``, non-critical loads 0, critical loads on (``max_w``),
   PV curtailment 0. A device a fresh plan leaves out also gets its safe default.
2. **Offline.** A device offline or missing from the snapshot gets a setpoint with source
   ``offline``, power 0, that the service must not send. Its *planned* power moves onto the
   online devices of the same kind that follow the plan, only for the kinds in
   ``rebalance_kinds`` (batteries by default: storage is interchangeable for the site, while a
   charger's energy belongs to its vehicle and a load's to its job), and only into each
   device's headroom, so re-balancing never breaks a device limit; what does not fit is
   dropped with a note. The site clamp (rule 4) then re-balances the site as a whole.
   An offline device still runs on its last setpoint for up to ``setpoint_ttl_s`` after it
   was found offline, then falls back on its own (:func:`fallback_w`); the site clamp keeps
   room for that move, so the fallback of a lost device cannot take the site over a limit.
3. **Device clamp** to ``[min_w, max_w]``; each clamp is logged.
4. **Site clamp.** Base = grid meter power minus the measured power of the online
   controllable devices (what the site draws that the policy does not control; an offline
   device's real draw stays in it). ``base + Σ setpoints`` must stay within
   ``[-max_export_w, max_import_w]``, and so must it plus the fallback room of rule 2, as far
   as keeping that room does not push the net itself over the other limit. Over import, in
   ``IMPORT_LEVERS`` order: stop PV curtailment, reduce EV charging, reduce battery
   charging, switch off flexible loads (lowest ``shed_priority`` first; critical loads
   never), then battery discharge, then V2G discharge.
   Over export, in ``EXPORT_LEVERS`` order: curtail PV (up to the PV known to be produced,
   ``-base``), reduce battery then V2G discharge, then charge the battery, then the EVs.
   Within a lever, devices are taken one after the other by id. Each changed device is logged.

Every setpoint carries ``valid_until``: ``now + setpoint_ttl_s``, never past the plan slot's
end + ttl for a planned one nor past the override's expiry for an overridden one.

:func:`sequence` then picks what of a decision may go on the wire at once (make before
break), since the devices apply their setpoints in no particular order.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from control.island import GRID, IslandActions
from control.model import (
    Clamp,
    Decision,
    DeviceLimit,
    Override,
    PlanSlot,
    Setpoint,
    SiteLimits,
    Snapshot,
)

LOG = logging.getLogger(__name__)
EPS_W = 1e-6
"""Differences below this are float noise, not clamps [W]."""


@dataclass(frozen=True)
class PolicyConfig:
    """Settings of the policy.

    Attributes
    ----------
    setpoint_ttl_s : float
        Lifetime of a setpoint [s]; the device reverts to its own default after it.
    plan_grace_s : float
        How long a plan slot stays usable past its end [s]; 0 means a slot is stale as soon
        as ``now`` leaves it.
    min_charge_w : float
        EV charging power of the safe default [W]; 4140 W is 6 A on three phases at 230 V,
        the lowest current IEC 61851 allows.
    rebalance_kinds : tuple of str
        Device kinds whose offline device's planned power moves onto its online peers.
    """

    setpoint_ttl_s: float = 60.0
    plan_grace_s: float = 0.0
    min_charge_w: float = 4140.0
    rebalance_kinds: tuple[str, ...] = ("battery",)


@dataclass(frozen=True)
class _Ask:
    power_w: float
    source: str
    valid_until: datetime


Bound = Callable[[DeviceLimit], float]

IMPORT_LEVERS: tuple[tuple[str, Bound], ...] = (
    ("pv", lambda d: d.min_w),
    ("charger", lambda d: max(d.min_w, 0.0)),
    ("battery", lambda d: max(d.min_w, 0.0)),
    ("load", lambda d: d.min_w),
    ("battery", lambda d: d.min_w),
    ("charger", lambda d: d.min_w),
)
"""Over import: (kind, lowest power the lever may set), applied in order."""

EXPORT_LEVERS: tuple[tuple[str, Bound], ...] = (
    ("pv", lambda d: d.max_w),
    ("battery", lambda d: min(d.max_w, 0.0)),
    ("charger", lambda d: min(d.max_w, 0.0)),
    ("battery", lambda d: d.max_w),
    ("charger", lambda d: d.max_w),
)
"""Over export: (kind, highest power the lever may set), applied in order."""


def plan_is_fresh(plan: PlanSlot | None, now: datetime, config: PolicyConfig) -> bool:
    """True when ``plan`` covers ``now``: ``slot_start <= now < slot_end + plan_grace_s``."""
    if plan is None:
        return False
    return plan.slot_start <= now < plan.slot_end + timedelta(seconds=config.plan_grace_s)


def safe_default_w(device: DeviceLimit, config: PolicyConfig) -> float:
    """The safe-default power of one device [W], inside its limits."""
    if device.kind == "charger":
        wanted = config.min_charge_w
    elif device.kind == "load" and device.critical:
        wanted = device.max_w
    else:
        wanted = 0.0
    return min(max(wanted, device.min_w), device.max_w)


def fallback_w(device: DeviceLimit) -> float | None:
    """The power [W] a device goes to on its own once its setpoint lapses: a charger
    without a profile charges at full power, a released battery and a machine past its
    ``valid_until`` stop. None for PV curtailment, which the inverter holds on
    (``control.devices.SunSpecInverterDriver`` ``hold_s``)."""
    if device.kind == "pv":
        return None
    if device.kind == "charger":
        return device.max_w
    return min(max(0.0, device.min_w), device.max_w)


def fallback_room_w(
    snapshot: Snapshot, limits: SiteLimits, now: datetime, config: PolicyConfig
) -> tuple[float, float]:
    """How far the offline devices may still move the site's net on their own [W].

    An offline device found offline at ``at``, last seen drawing ``power_w``, holds its last
    setpoint at most until ``at + setpoint_ttl_s`` and then goes to :func:`fallback_w`;
    after that its fallback is in the grid reading already. Devices never seen are left out.

    Returns
    -------
    tuple of float
        (import the fallbacks may add, >= 0; import they may remove, <= 0).
    """
    up = down = 0.0
    ttl = timedelta(seconds=config.setpoint_ttl_s)
    for d, dev in limits.devices.items():
        s = snapshot.devices.get(d)
        target = fallback_w(dev)
        if s is None or s.online or s.power_w is None or s.at is None or target is None:
            continue
        if now < s.at + ttl:
            up += max(target - s.power_w, 0.0)
            down += min(target - s.power_w, 0.0)
    return up, down


def base_load_w(snapshot: Snapshot, limits: SiteLimits) -> float | None:
    """Uncontrollable site power [W]: grid meter minus the online controllable devices.

    None without a grid reading. A device online without a power reading counts as 0.
    """
    if snapshot.grid.power_w is None:
        return None
    controlled = 0.0
    for device_id in limits.devices:
        s = snapshot.devices.get(device_id)
        if s is not None and s.online and s.power_w is not None:
            controlled += s.power_w
    return snapshot.grid.power_w - controlled


def decide(
    plan: PlanSlot | None,
    snapshot: Snapshot,
    limits: SiteLimits,
    overrides: list[Override],
    now: datetime,
    config: PolicyConfig,
    island: IslandActions | None = None,
) -> Decision:
    """The setpoints of one control cycle.

    Parameters
    ----------
    plan : PlanSlot or None
        The plan slot in force; stale or None gives the safe default.
    snapshot : Snapshot
        This cycle's telemetry: device states and the grid meter [W].
    limits : SiteLimits
        Grid connection [W] and device limits [W].
    overrides : list of Override
        Manual setpoints [W]; expired ones are ignored.
    now : datetime
        This cycle's time (aware UTC), injected.
    config : PolicyConfig
    island : IslandActions or None
        This cycle's output of ``control.island.step``; None means connected, nothing shed.

    Returns
    -------
    Decision
        One setpoint per device in ``limits`` (``offline`` ones are not to be sent), the
        clamps made, the mode (``grid``, ``island``, ``resync``) and notes.
    """
    decision = Decision(setpoints={}, mode=GRID if island is None else island.mode)
    expiry = now + timedelta(seconds=config.setpoint_ttl_s)
    online = {d for d, s in snapshot.devices.items() if s.online and d in limits.devices}

    if island is not None and island.mode != GRID:
        asks = {
            d: _Ask(island.setpoints.get(d, safe_default_w(dev, config)), "island", expiry)
            for d, dev in limits.devices.items()
        }
    else:
        asks = _requests(plan, limits, overrides, now, config, decision.notes)
        if island is not None:
            for d in island.loads_off:
                if d in asks:
                    asks[d] = _Ask(0.0, "island", expiry)
                    decision.notes.append(f"{d}: held off until restored after island mode")
        _rebalance(asks, online, limits, config, decision.notes)

    powers: dict[str, float] = {}
    for d, ask in asks.items():
        if d not in online:
            continue
        powers[d] = _clamp_device(d, ask.power_w, limits.devices[d], decision)

    if island is None or island.mode == GRID:
        room = fallback_room_w(snapshot, limits, now, config)
        _clamp_site(powers, asks, snapshot, limits, decision, room)

    for d, ask in asks.items():
        if d not in online:
            decision.setpoints[d] = Setpoint(d, 0.0, expiry, "offline")
            decision.notes.append(f"{d}: offline, no setpoint sent")
            continue
        clamped = any(c.device_id == d for c in decision.clamp_details)
        decision.setpoints[d] = Setpoint(d, powers[d], ask.valid_until, ask.source, clamped)
    return decision


def _requests(
    plan: PlanSlot | None,
    limits: SiteLimits,
    overrides: list[Override],
    now: datetime,
    config: PolicyConfig,
    notes: list[str],
) -> dict[str, _Ask]:
    ttl = timedelta(seconds=config.setpoint_ttl_s)
    fresh = plan_is_fresh(plan, now, config)
    if plan is None:
        notes.append("no plan: safe default")
    elif not fresh:
        notes.append(
            f"plan {plan.plan_id} stale (slot {plan.slot_start.isoformat()} to "
            f"{plan.slot_end.isoformat()}): safe default"
        )
    else:
        for d in sorted(set(plan.power_w) - set(limits.devices)):
            notes.append(f"{d}: in plan {plan.plan_id} but has no limits, ignored")

    asks: dict[str, _Ask] = {}
    for d, dev in limits.devices.items():
        planned = plan.power_w.get(d) if fresh and plan is not None else None
        if planned is not None and math.isfinite(planned):
            until = min(now + ttl, plan.slot_end + ttl)  # type: ignore[union-attr]
            asks[d] = _Ask(planned, "plan", until)
            continue
        if fresh and planned is not None:
            notes.append(f"{d}: planned power {planned} is not a number, safe default")
        elif fresh:
            notes.append(f"{d}: not in plan, safe default")
        asks[d] = _Ask(safe_default_w(dev, config), "safe_default", now + ttl)

    for o in overrides:
        if o.device_id not in limits.devices:
            notes.append(f"override for {o.device_id} ignored: device has no limits")
        elif now >= o.expires_at:
            notes.append(f"override for {o.device_id} expired at {o.expires_at.isoformat()}")
        elif not math.isfinite(o.power_w):
            notes.append(f"override for {o.device_id} ignored: power {o.power_w}")
        else:
            asks[o.device_id] = _Ask(o.power_w, "override", min(now + ttl, o.expires_at))
    return asks


def _rebalance(
    asks: dict[str, _Ask],
    online: set[str],
    limits: SiteLimits,
    config: PolicyConfig,
    notes: list[str],
) -> None:
    for d in sorted(asks):
        dev = limits.devices[d]
        if d in online or asks[d].source != "plan" or asks[d].power_w == 0:
            continue
        if dev.kind not in config.rebalance_kinds:
            notes.append(f"{d}: offline, planned {asks[d].power_w:.0f} W not re-balanced")
            continue
        left = asks[d].power_w
        for peer in sorted(asks):
            p = limits.devices[peer]
            if peer not in online or p.kind != dev.kind or asks[peer].source != "plan":
                continue
            now_w = asks[peer].power_w
            room = max(p.max_w - now_w, 0.0) if left > 0 else min(p.min_w - now_w, 0.0)
            moved = min(left, room) if left > 0 else max(left, room)
            if moved != 0:
                asks[peer] = _Ask(now_w + moved, "plan", asks[peer].valid_until)
                notes.append(f"{d}: offline, {moved:.0f} W of its plan moved to {peer}")
                left -= moved
        if abs(left) > EPS_W:
            notes.append(f"{d}: offline, {left:.0f} W of its plan did not fit its peers")


def _log_clamp(decision: Decision, clamp: Clamp) -> None:
    decision.clamp_details.append(clamp)
    decision.clamps.append(str(clamp))
    LOG.info("clamp %s", clamp)


def _clamp_device(device_id: str, asked: float, dev: DeviceLimit, decision: Decision) -> float:
    if asked > dev.max_w:
        _log_clamp(decision, Clamp(device_id, asked, dev.max_w, "max_w"))
        return dev.max_w
    if asked < dev.min_w:
        _log_clamp(decision, Clamp(device_id, asked, dev.min_w, "min_w"))
        return dev.min_w
    return asked


def _lever_order(devices: list[DeviceLimit]) -> list[DeviceLimit]:
    return sorted(devices, key=lambda d: (d.shed_priority, d.device_id))


def _clamp_site(
    powers: dict[str, float],
    asks: dict[str, _Ask],
    snapshot: Snapshot,
    limits: SiteLimits,
    decision: Decision,
    room: tuple[float, float] = (0.0, 0.0),
) -> None:
    base = base_load_w(snapshot, limits)
    if base is None:
        decision.notes.append("no grid reading: site clamp assumes a base load of 0 W")
        base = 0.0
    before = dict(powers)
    net = base + sum(powers.values())
    # Only devices the policy may move: critical loads and island-held loads stay put.
    movable = [
        limits.devices[d]
        for d in powers
        if not limits.devices[d].critical and asks[d].source != "island"
    ]
    up, down = room
    if net + up > limits.max_import_w + EPS_W and net + limits.max_export_w > EPS_W:
        excess = min(net + up - limits.max_import_w, net + limits.max_export_w)
        for kind, bound in IMPORT_LEVERS:
            for dev in _lever_order([d for d in movable if d.kind == kind]):
                cut = min(excess, powers[dev.device_id] - bound(dev))
                if cut > 0:
                    powers[dev.device_id] -= cut
                    excess -= cut
        limit = "max_import_w"
    elif net + down < -limits.max_export_w - EPS_W and limits.max_import_w - net > EPS_W:
        deficit = min(-limits.max_export_w - net - down, limits.max_import_w - net)
        pv_known_w = max(-base, 0.0)
        for kind, bound in EXPORT_LEVERS:
            for dev in _lever_order([d for d in movable if d.kind == kind]):
                top = bound(dev)
                if kind == "pv":
                    # Curtailing more PV than is produced changes nothing.
                    top = min(top, max(powers[dev.device_id], pv_known_w))
                add = min(deficit, top - powers[dev.device_id])
                if add > 0:
                    powers[dev.device_id] += add
                    deficit -= add
        limit = "max_export_w"
    else:
        return
    for d, p in powers.items():
        if abs(p - before[d]) > EPS_W:
            _log_clamp(decision, Clamp(d, before[d], p, limit))
    final = base + sum(powers.values())
    if not -limits.max_export_w - EPS_W <= final <= limits.max_import_w + EPS_W:
        decision.notes.append(
            f"site net {final:.0f} W stays outside the grid limits: no lever left"
        )


def sequence(
    setpoints: dict[str, Setpoint],
    snapshot: Snapshot,
    limits: SiteLimits,
    min_move_w: float = 100.0,
    in_flight: tuple[float, float] = (0.0, 0.0),
) -> dict[str, Setpoint]:
    """Make before break: the setpoints of one cycle that may go on the wire now.

    They land on the devices in any order, so a move towards a grid limit must fit on its
    own: the import the increases add may not take the grid reading past ``max_import_w``
    before the decreases have shown in the readings, nor may the decreases take it past
    ``max_export_w`` before the increases have. Moves sent a cycle ago may be in a device's
    reading but not yet in the grid meter's, so they count as not measured either
    (``in_flight``). A move that does not fit (devices by id, each taking what room is
    left) is held at the device's measured power; a later cycle, with the other moves
    measured, sends the rest. Moves below ``min_move_w`` [W] (reading noise), devices
    offline or without a reading, and a site without a grid reading are left as they are.

    Parameters
    ----------
    setpoints : dict of str to Setpoint
        The policy's decision [W].
    snapshot : Snapshot
        The readings the decision was made on [W].
    limits : SiteLimits
        The grid connection [W].
    min_move_w : float
        Smallest move that is sequenced [W].
    in_flight : tuple of float
        Import the moves sent a cycle ago add (>= 0) and remove (<= 0) [W].

    Returns
    -------
    dict of str to Setpoint
        The setpoints to send, those held back at their device's measured power [W].
    """
    grid_w = snapshot.grid.power_w
    if grid_w is None:
        return dict(setpoints)
    out = dict(setpoints)
    room_up = max(limits.max_import_w - grid_w - in_flight[0], 0.0)
    room_down = max(grid_w + limits.max_export_w + in_flight[1], 0.0)
    for d, sp in sorted(setpoints.items()):
        state = snapshot.devices.get(d)
        if sp.source == "offline" or state is None or not state.online or state.power_w is None:
            continue
        move = sp.power_w - state.power_w
        if abs(move) < min_move_w:
            continue
        fits = min(move, room_up) if move > 0 else max(move, -room_down)
        if move > 0:
            room_up -= fits
        else:
            room_down += fits
        if fits != move:
            out[d] = replace(sp, power_w=state.power_w + fits)
    return out
