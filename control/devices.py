"""Device drivers: one small interface over every protocol adapter, and their registry.

A :class:`DeviceDriver` turns a :class:`~control.model.Setpoint` into the adapter's call,
with the setpoint's expiry on the wire (OCPP ``maxOfflineDuration`` and ``validTo``, SunSpec
revert timers, MQTT ``valid_until``), and reads the device's state. ``send`` returns an
acknowledgement dict::

    {"status": "Accepted" | "Rejected" | "NotImplemented",
     "acked_at": datetime, "payload": dict (what went on the wire), "detail": dict}

and raises when the device cannot be reached (the service then marks it offline). A driver
that needs to know what a previous run of the service left on the device is
:class:`Resumable`: a (re)started service hands it the setpoint persisted for it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from control.model import DeviceState, GridState, Setpoint
from control.ports import Clock
from control.state import SentSetpoint


class DeviceOffline(ConnectionError):
    """The device is not connected."""


class DeviceDriver(Protocol):
    """What the service needs of a device: its id, protocol, a send and a read."""

    device_id: str
    protocol: str

    async def send(self, setpoint: Setpoint) -> dict: ...

    async def read(self) -> DeviceState: ...


class Resumable(Protocol):
    """A driver that takes over what a previous run of the service sent it."""

    def resume(self, sent: SentSetpoint) -> None:
        """``sent``: the setpoint the device last acknowledged, as persisted."""
        ...


def _revert_s(valid_until: datetime, now: datetime) -> int:
    return max(1, int((valid_until - now).total_seconds()))


def _ack(status: str, at: datetime, payload: dict, **detail) -> dict:
    return {"status": status, "acked_at": at, "payload": payload, "detail": detail}


class OcppChargerDriver:
    """A charger connected to the CSMS, looked up by station id at every call.

    Parameters
    ----------
    csms : control.adapters.ocpp_csms.OcppCsms
    device_id : str
        The station id.
    clock : Clock
    """

    protocol = "ocpp"

    def __init__(self, csms, device_id: str, clock: Clock) -> None:
        self.csms = csms
        self.device_id = device_id
        self.clock = clock

    def _charger(self):
        charger = self.csms.chargers.get(self.device_id)
        if charger is None or charger.closed.is_set():
            raise DeviceOffline(f"{self.device_id} is not connected to the CSMS")
        return charger

    async def send(self, setpoint: Setpoint) -> dict:
        ack = await self._charger().set_power(setpoint.power_w, setpoint.valid_until)
        return _ack(
            ack.status, ack.acked_at_utc, ack.payload, action=ack.action, fallbacks=ack.fallbacks
        )

    async def read(self) -> DeviceState:
        now = self.clock.now()
        try:
            charger = self._charger()
        except DeviceOffline:
            return DeviceState(self.device_id, online=False, at=now)
        latest = self.csms.ctx.telemetry.latest
        return DeviceState(
            self.device_id,
            online=True,
            power_w=await charger.power(),
            soc_pct=latest.get((self.device_id, "soc_pct")),
            at=now,
        )


class TelemetrySink(Protocol):
    """Takes ``device_telemetry`` rows of ``site_id`` (e.g. a buffer landing them in batches)."""

    site_id: str

    def add(self, rows: list[dict]) -> None: ...


async def _read_sunspec(adapter, sink: TelemetrySink | None, device_id: str, now: datetime):
    """The adapter's readings; with a sink, read once through ``poll_telemetry`` so the same
    reading is both the state and the landed telemetry (one client, one reader)."""
    if sink is None:
        return await adapter.read()
    from control.adapters.sunspec_client import poll_telemetry

    rows = await poll_telemetry(sink.site_id, {device_id: adapter}, now)
    sink.add(rows)
    values = {r["metric"]: r["value"] for r in rows}
    if not values.get("online"):
        raise DeviceOffline(f"{device_id}: SunSpec device not answering")
    return values


class SunSpecInverterDriver:
    """PV curtailment (device ``pv-curtailment``) through an inverter's output limit.

    The plan's curtailment power is the PV not produced [W]. It becomes a limit in % of the
    rating: (uncurtailed production − curtailment) / rating, where the uncurtailed
    production is the latest read while the inverter was not limiting (the rating before
    one), so a curtailment always cuts below what the panels give. Its state's ``power_w``
    is in the same convention, the curtailment in force (:meth:`curtailed_w`), so the
    policy's base load (grid minus the controlled devices) holds the PV production.

    Lifting a curtailment raises the export, so a controller that goes away must not lift
    it: the inverter's revert timer is at least ``hold_s``, longer than a restart, and a
    restarted service takes the production its limit was computed from back from the
    previous run's last curtailment (:meth:`resume`), so it writes the same limit again.

    Parameters
    ----------
    inverter : control.adapters.sunspec_client.SunSpecInverter
    clock : Clock
    device_id : str
        The plan's device id (``pv-curtailment``).
    rated_w : float, optional
        Rating [W] until the device reports WRtg.
    telemetry : TelemetrySink, optional
        Gets the ``device_telemetry`` rows of every read (as ``telemetry_id``).
    telemetry_id : str
        The inverter's own device id in telemetry.
    hold_s : float
        Shortest revert timer of a curtailment [s]; 0 reverts with the setpoint's expiry.
    """

    protocol = "sunspec"

    def __init__(
        self,
        inverter,
        clock: Clock,
        device_id: str = "pv-curtailment",
        rated_w: float | None = None,
        telemetry: TelemetrySink | None = None,
        telemetry_id: str = "pv-inverter-1",
        hold_s: float = 0.0,
    ) -> None:
        self.inverter = inverter
        self.clock = clock
        self.device_id = device_id
        self.rated_w = rated_w
        self.uncurtailed_w: float | None = None
        self.telemetry = telemetry
        self.telemetry_id = telemetry_id
        self.hold_s = hold_s
        self.resumed_curtail_w: float | None = None

    def resume(self, sent: SentSetpoint) -> None:
        """Take over from a previous run whose last curtailment was ``sent.power_w`` [W]."""
        self.resumed_curtail_w = max(0.0, sent.power_w)

    def limit_pct(self, curtail_w: float) -> float:
        """The output limit [% of rating] for a curtailment of ``curtail_w`` [W]."""
        if curtail_w <= 0 or not self.rated_w:
            return 100.0
        available = self.uncurtailed_w if self.uncurtailed_w is not None else self.rated_w
        return min(100.0, max(0.0, (available - curtail_w) / self.rated_w * 100.0))

    async def send(self, setpoint: Setpoint) -> dict:
        now = self.clock.now()
        pct = self.limit_pct(setpoint.power_w)
        revert = max(_revert_s(setpoint.valid_until, now), int(self.hold_s))
        await self.inverter.set_limit_pct(pct, revert)
        payload = {"WMaxLimPct": round(pct, 2), "WMaxLimPct_RvrtTms": revert, "WMaxLim_Ena": 1}
        return _ack("Accepted", self.clock.now(), payload, rated_w=self.rated_w)

    async def read(self) -> DeviceState:
        now = self.clock.now()
        values = await _read_sunspec(self.inverter, self.telemetry, self.telemetry_id, now)
        if values.get("rated_w"):
            self.rated_w = float(values["rated_w"])
        produced = values.get("power_w")
        limit = values.get("limit_pct")
        if produced is not None and (limit is None or limit >= 100):
            self.uncurtailed_w = max(0.0, -produced)
        elif self.uncurtailed_w is None and self.resumed_curtail_w is not None:
            if limit is not None and self.rated_w:  # the previous run's limit, still held
                self.uncurtailed_w = limit / 100.0 * self.rated_w + self.resumed_curtail_w
        return DeviceState(
            self.device_id,
            online=self.inverter.client.online,
            power_w=self.curtailed_w(produced, limit),
            at=now,
        )

    def curtailed_w(self, produced_w: float | None, limit_pct: float | None) -> float | None:
        """The curtailment in force [W], in the plan's convention (the PV not produced):
        0 while the inverter is not limiting, else the uncurtailed production less what it
        produces (site convention, ``produced_w`` <= 0). None when that is not known."""
        if limit_pct is None or limit_pct >= 100:
            return 0.0
        if produced_w is None or self.uncurtailed_w is None:
            return None
        return max(0.0, self.uncurtailed_w + produced_w)


class SunSpecBatteryDriver:
    """A battery's charge/discharge setpoint with the storage revert timer.

    Parameters
    ----------
    battery : control.adapters.sunspec_client.SunSpecBattery
    clock : Clock
    device_id : str
    telemetry : TelemetrySink, optional
        Gets the ``device_telemetry`` rows of every read.
    """

    protocol = "sunspec"

    def __init__(
        self,
        battery,
        clock: Clock,
        device_id: str = "battery-1",
        telemetry: TelemetrySink | None = None,
    ) -> None:
        self.battery = battery
        self.clock = clock
        self.device_id = device_id
        self.telemetry = telemetry

    async def send(self, setpoint: Setpoint) -> dict:
        revert = _revert_s(setpoint.valid_until, self.clock.now())
        await self.battery.set_power(setpoint.power_w, revert)
        payload = {"power_w": setpoint.power_w, "InOutWRte_RvrtTms": revert, "StorCtl_Mod": 3}
        return _ack("Accepted", self.clock.now(), payload)

    async def read(self) -> DeviceState:
        now = self.clock.now()
        values = await _read_sunspec(self.battery, self.telemetry, self.device_id, now)
        return DeviceState(
            self.device_id,
            online=self.battery.client.online,
            power_w=values.get("power_w"),
            soc_pct=values.get("soc_pct"),
            at=now,
        )


class MqttLoadDriver:
    """A switchable machine: runs when its setpoint is above ``run_above_w`` [W].

    Parameters
    ----------
    load : control.adapters.mqtt_channel.MqttLoad
    clock : Clock
    run_above_w : float
    """

    protocol = "mqtt"

    def __init__(self, load, clock: Clock, run_above_w: float = 0.0) -> None:
        self.load = load
        self.device_id = load.device_id
        self.clock = clock
        self.run_above_w = run_above_w

    async def send(self, setpoint: Setpoint) -> dict:
        from control.adapters.mqtt_channel import SetpointError

        running = setpoint.power_w > self.run_above_w
        payload = {"running": running, "valid_until": setpoint.valid_until.isoformat()}
        try:
            await self.load.set_running(running, setpoint.valid_until)
        except SetpointError as error:
            if error.reason_code is None:
                raise  # no PUBACK: the broker is unreachable
            return _ack("Rejected", self.clock.now(), payload, reason_code=error.reason_code)
        return _ack("Accepted", self.clock.now(), payload)

    async def read(self) -> DeviceState:
        channel = self.load.channel
        return DeviceState(
            self.device_id,
            online=channel.presence.get(self.device_id) is True,
            power_w=await self.load.power(),
            at=self.clock.now(),
        )


@dataclass
class FakeDriver:
    """An in-process device for tests: remembers what it was sent.

    ``fail_send`` / ``fail_read`` make the next calls raise ``DeviceOffline``;
    ``ack_status`` is the answer to every send.
    """

    device_id: str
    clock: Clock
    protocol: str = "fake"
    power_w: float | None = 0.0
    soc_pct: float | None = None
    online: bool = True
    fail_send: bool = False
    fail_read: bool = False
    ack_status: str = "Accepted"
    sent: list[Setpoint] = field(default_factory=list)

    async def send(self, setpoint: Setpoint) -> dict:
        if self.fail_send:
            raise DeviceOffline(f"{self.device_id}: send failed")
        self.sent.append(setpoint)
        if self.ack_status == "Accepted":
            self.power_w = setpoint.power_w
        payload = {"power_w": setpoint.power_w, "valid_until": setpoint.valid_until.isoformat()}
        return _ack(self.ack_status, self.clock.now(), payload)

    async def read(self) -> DeviceState:
        if self.fail_read:
            raise DeviceOffline(f"{self.device_id}: read failed")
        return DeviceState(
            self.device_id, self.online, self.power_w, self.soc_pct, at=self.clock.now()
        )


GridReader = Callable[[], Awaitable[GridState]]


class IslandSwitch(Protocol):
    """Puts the island state machine's actions on the wire (grid relay, grid-forming)."""

    async def apply(self, actions) -> list[dict]:
        """Apply ``control.island.IslandActions``; returns what changed on the wire."""
        ...


class DeviceRegistry:
    """Device id → driver, plus the optional grid-meter reader.

    Parameters
    ----------
    drivers : mapping of str to DeviceDriver
    grid : async callable returning GridState, optional
        Reads the grid connection; without one the grid is reported unknown.
    island_switch : IslandSwitch, optional
        Applies the island actions (grid relay, grid-forming battery); without one they
        reach the devices only as setpoints.
    """

    def __init__(
        self,
        drivers: Mapping[str, DeviceDriver],
        grid: GridReader | None = None,
        island_switch: IslandSwitch | None = None,
    ):
        self.drivers = dict(drivers)
        self.grid = grid
        self.island_switch = island_switch

    def __contains__(self, device_id: str) -> bool:
        return device_id in self.drivers

    def __getitem__(self, device_id: str) -> DeviceDriver:
        return self.drivers[device_id]

    def ids(self) -> list[str]:
        """Device ids, sorted."""
        return sorted(self.drivers)

    async def read_grid(self) -> GridState:
        """The grid state, unknown (all None) without a reader."""
        return GridState(power_w=None) if self.grid is None else await self.grid()

    async def apply_island(self, actions) -> list[dict]:
        """Put ``actions`` on the wire; what changed ([] without a switch)."""
        return [] if self.island_switch is None else await self.island_switch.apply(actions)
