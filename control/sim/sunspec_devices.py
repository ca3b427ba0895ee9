"""Simulated SunSpec devices on pymodbus SimDevice servers: a PV inverter and a battery.

The inverter (models 1, 103, 120, 123) produces ``min(available PV, WMaxLimPct × WRtg)``
while ``WMaxLim_Ena`` is 1, else the available PV, and falls back to unlimited when
``WMaxLimPct_RvrtTms`` passes without a control write. The battery (models 1, 103, 124, 713,
802) follows the 124 charge/discharge rate window and integrates its state of charge each
tick within its SoC bounds; ``InOutWRte_RvrtTms`` without a control write releases the window.

Each device owns its register image; the SimDevice action copies the image into the
server's registers on every read and applies every write to the image, one request at a
time, so writes by independent clients of single registers behave like a real device's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from control.adapters import sunspec_registers as reg
from control.adapters.sunspec_registers import Model

log = logging.getLogger(__name__)

WRITE_CODES = {6, 16, 22, 23}


class SunSpecImage:
    """A SunSpec register image: "SunS", the model chain, the end marker.

    Parameters
    ----------
    base : int
        Register address of "SunS" [register].
    models : list of (Model, dict)
        Models in chain order with initial raw (unscaled) point values; points not given
        and registers not declared in the map read as unimplemented.
    """

    def __init__(self, base: int, models: list[tuple[Model, dict[str, int | str]]]) -> None:
        self.base = base
        self.registers: list[int] = list(reg.SUNS_MARKER)
        self.starts: dict[int, int] = {}
        self.models: dict[int, Model] = {}
        for model, values in models:
            start = len(self.registers)
            self.starts[model.id] = base + start
            self.models[model.id] = model
            block = [model.id, model.length] + [0xFFFF] * model.length
            for offset in model.signed_gaps:
                block[offset] = 0x8000
            for p in model.points.values():
                block[p.offset : p.offset + p.size] = reg.encode(p, values.get(p.name))
            self.registers.extend(block)
        self.registers.extend([reg.END_MODEL_ID, 0])

    def address(self, model_id: int, name: str) -> int:
        """Absolute register address of a point."""
        return self.starts[model_id] + self.models[model_id][name].offset

    def get(self, model_id: int, name: str) -> int | str | None:
        """Raw (unscaled) value of a point, None if unimplemented."""
        p = self.models[model_id][name]
        i = self.address(model_id, name) - self.base
        return reg.decode(p, self.registers[i : i + p.size])

    def set(self, model_id: int, name: str, raw: int | str | None) -> None:
        """Set the raw (unscaled) value of a point."""
        p = self.models[model_id][name]
        i = self.address(model_id, name) - self.base
        self.registers[i : i + p.size] = reg.encode(p, raw)

    def get_scaled(self, model_id: int, name: str) -> float | None:
        """Scaled value of a point [its units]."""
        p = self.models[model_id][name]
        raw = self.get(model_id, name)
        return reg.scale(raw, self.get(model_id, p.sf)) if p.sf else raw  # type: ignore[arg-type, return-value]

    def set_scaled(self, model_id: int, name: str, value: float) -> None:
        """Set a point from a physical value [its units] under its scale factor."""
        p = self.models[model_id][name]
        sf = self.get(model_id, p.sf) if p.sf else 0
        self.set(model_id, name, reg.unscale(value, sf or 0))

    def point_at(self, address: int) -> tuple[int, str] | None:
        """(model id, point name) of the single-register point at ``address``, if any."""
        for model_id, start in self.starts.items():
            model = self.models[model_id]
            for p in model.points.values():
                if start + p.offset == address and p.size == 1:
                    return model_id, p.name
        return None


def _common(manufacturer: str, model: str, serial: str) -> dict[str, int | str]:
    return {"Mn": manufacturer, "Md": model, "Vr": "1.0.0", "SN": serial, "DA": 1}


class SimulatedSunSpecDevice:
    """Base: a register image, the writable points and the SimDevice action.

    Parameters
    ----------
    image : SunSpecImage
        The device's registers.
    writable : dict
        ``{(model id, point name): (min raw, max raw)}``; other writes are refused with
        ILLEGAL_ADDRESS, values out of range with ILLEGAL_VALUE.
    clock : callable
        Monotonic time [s].
    """

    def __init__(
        self,
        image: SunSpecImage,
        writable: dict[tuple[int, str], tuple[int, int]],
        clock: Callable[[], float],
    ) -> None:
        self.image = image
        self.writable = writable
        self.clock = clock
        self._last_tick = clock()

    def sim_device(self, device_id: int = 1) -> SimDevice:
        """The pymodbus SimDevice serving this image."""
        data = SimData(
            address=self.image.base,
            values=list(self.image.registers),
            datatype=DataType.REGISTERS,
        )
        return SimDevice(id=device_id, simdata=[data], action=self._action)

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current_registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if function_code in WRITE_CODES and set_values is not None:
            if error := self.write_registers(address, [int(v) for v in set_values]):
                return error
        offset = self.image.base - start_address
        current_registers[offset : offset + len(self.image.registers)] = self.image.registers
        return None

    def write_registers(self, address: int, values: list[int]) -> ExcCodes | None:
        """Apply a Modbus write of ``values`` at ``address`` as the device would.

        Returns
        -------
        ExcCodes or None
            ILLEGAL_ADDRESS for a register that is not a writable control point,
            ILLEGAL_VALUE for a value out of the point's range; nothing is written then.
        """
        checked = []
        for i, raw in enumerate(values):
            found = self.image.point_at(address + i)
            if found is None or found not in self.writable:
                return ExcCodes.ILLEGAL_ADDRESS
            value = reg.decode(self.image.models[found[0]][found[1]], [raw & 0xFFFF])
            lo, hi = self.writable[found]
            if value is None or not lo <= value <= hi:
                return ExcCodes.ILLEGAL_VALUE
            checked.append((found, value))
        for (model_id, name), value in checked:
            self.image.set(model_id, name, value)
            self.on_write(model_id, name)
        self.update()
        return None

    def on_write(self, model_id: int, name: str) -> None:
        """Hook: a control point was written."""

    def update(self) -> None:
        """Hook: recompute outputs from the current control registers."""

    def tick(self) -> None:
        """Advance the simulation to the clock's now: integrate, revert, recompute."""
        now = self.clock()
        dt = max(0.0, now - self._last_tick)
        self._last_tick = now
        self.advance(now, dt)
        self.update()

    def advance(self, now: float, dt: float) -> None:
        """Hook: integrate over ``dt`` [s]; check revert timers at ``now`` [s]."""


class SimulatedInverter(SimulatedSunSpecDevice):
    """A PV inverter that follows curtailment through model 123.

    Parameters
    ----------
    rated_w : float
        AC power rating WRtg [W]; an aggregate of the site's PV inverters by default.
    available_pv_w : float or None
        PV power the array could deliver now [W]; defaults to 80 % of ``rated_w``.
    base : int
        Register address of "SunS".
    clock : callable
        Monotonic time [s].
    """

    def __init__(
        self,
        rated_w: float = 250_000.0,
        available_pv_w: float | None = None,
        base: int = 40000,
        serial: str = "pv-inverter-1",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        image = SunSpecImage(
            base,
            [
                (reg.COMMON, _common("NovaEnergy", "SimInverter", serial)),
                # W_SF 1: 10 W per count, so int16 covers ±327 kW
                (reg.INVERTER_3PH, {"W": 0, "W_SF": 1, "WH": 1, "WH_SF": 0, "St": 4}),
                (reg.NAMEPLATE, {"DERTyp": 4, "WRtg_SF": 1}),
                # WMaxLimPct_SF -1: 0.1 % per count
                (
                    reg.CONTROLS,
                    {
                        "Conn_RvrtTms": 0,
                        "Conn": 1,
                        "WMaxLimPct": 1000,
                        "WMaxLimPct_WinTms": 0,
                        "WMaxLimPct_RvrtTms": 0,
                        "WMaxLimPct_RmpTms": 0,
                        "WMaxLim_Ena": 0,
                        "WMaxLimPct_SF": -1,
                    },
                ),
            ],
        )
        image.set_scaled(120, "WRtg", rated_w)
        writable = {
            (123, "Conn"): (0, 1),
            (123, "Conn_RvrtTms"): (0, 0xFFFE),
            (123, "WMaxLimPct"): (0, 1000),  # 0..100 % at SF -1
            (123, "WMaxLimPct_WinTms"): (0, 0xFFFE),
            (123, "WMaxLimPct_RvrtTms"): (0, 0xFFFE),
            (123, "WMaxLimPct_RmpTms"): (0, 0xFFFE),
            (123, "WMaxLim_Ena"): (0, 1),
        }
        super().__init__(image, writable, clock)
        self.rated_w = float(rated_w)
        self.available_pv_w = 0.8 * self.rated_w if available_pv_w is None else available_pv_w
        self.output_w = 0.0
        self.energy_wh = 1.0  # acc32 0 means "unimplemented"
        self._limit_written = clock()
        self.update()

    @property
    def limit_pct(self) -> float | None:
        """Active limit [% of WRtg], None when curtailment is disabled."""
        if self.image.get(123, "WMaxLim_Ena") != 1:
            return None
        return self.image.get_scaled(123, "WMaxLimPct")

    def on_write(self, model_id: int, name: str) -> None:
        if name.startswith("WMaxLim"):
            self._limit_written = self.clock()

    def advance(self, now: float, dt: float) -> None:
        self.energy_wh += self.output_w * dt / 3600.0
        revert_s = self.image.get(123, "WMaxLimPct_RvrtTms") or 0
        if revert_s and self.limit_pct is not None and now - self._limit_written > revert_s:
            log.info("inverter: WMaxLimPct revert timer (%s s) expired, limit off", revert_s)
            self.image.set(123, "WMaxLim_Ena", 0)

    def update(self) -> None:
        available = max(0.0, min(self.available_pv_w, self.rated_w))
        limit = self.limit_pct
        if self.image.get(123, "Conn") == 0:
            output, state = 0.0, 8  # standby
        elif limit is not None and limit * self.rated_w / 100.0 < available:
            output, state = limit * self.rated_w / 100.0, 5  # throttled
        else:
            output, state = available, 4 if available > 0 else 2  # MPPT / sleeping
        self.output_w = output
        self.image.set_scaled(103, "W", output)
        self.image.set(103, "WH", int(self.energy_wh) & 0xFFFFFFFF or 1)
        self.image.set(103, "St", state)


class SimulatedBattery(SimulatedSunSpecDevice):
    """A stationary battery controlled through model 124.

    The battery's power (positive = charging) is its local target (idle, 0 W) clamped to
    the window ``[-OutWRte, +InWRte] × WChaMax / 100``; a side whose StorCtl_Mod bit is
    clear is not limited (±WChaMax). A forced charge at x % is ``InWRte = x``,
    ``OutWRte = -x``; a forced discharge the mirror. An empty window (lower > upper) takes
    the upper bound. Charging stops at ``soc_max_pct``, discharging at ``soc_min_pct``.

    Parameters
    ----------
    capacity_wh : float
        Usable energy rating [Wh].
    max_power_w : float
        Charge and discharge rating WChaMax [W].
    soc_pct, soc_min_pct, soc_max_pct : float
        Initial state of charge and its bounds [%].
    base : int
        Register address of "SunS".
    clock : callable
        Monotonic time [s].
    extra_models : tuple of (Model, dict)
        Models appended to the chain (e.g. a vendor control model), as in SunSpecImage.
    """

    def __init__(
        self,
        capacity_wh: float = 200_000.0,
        max_power_w: float = 100_000.0,
        soc_pct: float = 50.0,
        soc_min_pct: float = 10.0,
        soc_max_pct: float = 95.0,
        base: int = 40000,
        serial: str = "battery-1",
        clock: Callable[[], float] = time.monotonic,
        extra_models: tuple[tuple[Model, dict[str, int | str]], ...] = (),
    ) -> None:
        image = SunSpecImage(
            base,
            [
                (reg.COMMON, _common("NovaEnergy", "SimBattery", serial)),
                (reg.INVERTER_3PH, {"W": 0, "W_SF": 1, "WH": 1, "WH_SF": 0, "St": 4}),
                (
                    reg.STORAGE,
                    {
                        "StorCtl_Mod": 0,
                        "MinRsvPct": 0,
                        "ChaSt": 6,
                        "OutWRte": 10000,
                        "InWRte": 10000,
                        "InOutWRte_WinTms": 0,
                        "InOutWRte_RvrtTms": 0,
                        "InOutWRte_RmpTms": 0,
                        "ChaGriSet": 1,
                        "WChaMax_SF": 1,  # 10 W per count
                        "MinRsvPct_SF": -1,
                        "ChaState_SF": -1,
                        "InOutWRte_SF": -2,  # 0.01 % per count
                    },
                ),
                (reg.STORAGE_CAPACITY, {"SoH": 1000, "Sta": 1, "WH_SF": 1, "Pct_SF": -1}),
                (reg.BATTERY, {"State": 3, "WHRtg_SF": 1, "WChaDisChaMax_SF": 1, "SoC_SF": -1}),
                *extra_models,
            ],
        )
        image.set_scaled(124, "WChaMax", max_power_w)
        image.set_scaled(124, "MinRsvPct", soc_min_pct)
        image.set_scaled(713, "WHRtg", capacity_wh)
        image.set_scaled(802, "WHRtg", capacity_wh)
        image.set_scaled(802, "WChaRteMax", max_power_w)
        image.set_scaled(802, "WDisChaRteMax", max_power_w)
        image.set_scaled(802, "SoCMax", soc_max_pct)
        image.set_scaled(802, "SoCMin", soc_min_pct)
        writable = {
            (124, "StorCtl_Mod"): (0, 3),
            (124, "OutWRte"): (-10000, 10000),  # -100..100 % at SF -2
            (124, "InWRte"): (-10000, 10000),
            (124, "InOutWRte_WinTms"): (0, 0xFFFE),
            (124, "InOutWRte_RvrtTms"): (0, 0xFFFE),
            (124, "InOutWRte_RmpTms"): (0, 0xFFFE),
            (124, "ChaGriSet"): (0, 1),
        }
        super().__init__(image, writable, clock)
        self.capacity_wh = float(capacity_wh)
        self.max_power_w = float(max_power_w)
        self.soc_pct = float(soc_pct)
        self.soc_min_pct = float(soc_min_pct)
        self.soc_max_pct = float(soc_max_pct)
        self.local_target_w = 0.0
        self.power_w = 0.0
        self.energy_wh = 1.0
        self._rate_written = clock()
        self.update()

    def window_w(self) -> tuple[float, float]:
        """Allowed power range [W] (positive = charging) from StorCtl_Mod, InWRte, OutWRte."""
        mode = self.image.get(124, "StorCtl_Mod") or 0
        w_max = self.image.get_scaled(124, "WChaMax") or 0.0
        lower, upper = -w_max, w_max
        if mode & reg.STORCTL_CHARGE:
            upper = (self.image.get_scaled(124, "InWRte") or 0.0) * w_max / 100.0
        if mode & reg.STORCTL_DISCHARGE:
            lower = -(self.image.get_scaled(124, "OutWRte") or 0.0) * w_max / 100.0
        return lower, upper

    def on_write(self, model_id: int, name: str) -> None:
        if name in {"StorCtl_Mod", "InWRte", "OutWRte", "InOutWRte_RvrtTms"}:
            self._rate_written = self.clock()

    def advance(self, now: float, dt: float) -> None:
        delta_wh = self.power_w * dt / 3600.0
        self.soc_pct = min(
            self.soc_max_pct,
            max(self.soc_min_pct, self.soc_pct + 100.0 * delta_wh / self.capacity_wh),
        )
        self.energy_wh += abs(delta_wh)
        revert_s = self.image.get(124, "InOutWRte_RvrtTms") or 0
        mode = self.image.get(124, "StorCtl_Mod") or 0
        if revert_s and mode and now - self._rate_written > revert_s:
            log.info("battery: InOutWRte revert timer (%s s) expired, control released", revert_s)
            self.image.set(124, "StorCtl_Mod", 0)

    def target_w(self) -> float:
        """Power the battery aims at [W] before its SoC bounds: the local target in the window."""
        lower, upper = self.window_w()
        return min(max(self.local_target_w, lower), upper)

    def update(self) -> None:
        power = self.target_w()
        if power > 0 and self.soc_pct >= self.soc_max_pct:
            power = 0.0
        if power < 0 and self.soc_pct <= self.soc_min_pct:
            power = 0.0
        self.power_w = power
        if power > 0:
            state = 4  # charging
        elif power < 0:
            state = 3  # discharging
        elif self.soc_pct >= self.soc_max_pct:
            state = 5  # full
        elif self.soc_pct <= self.soc_min_pct:
            state = 2  # empty
        else:
            state = 6  # holding
        self.image.set_scaled(103, "W", -power)  # SunSpec AC power: positive = export
        self.image.set(103, "WH", int(self.energy_wh) & 0xFFFFFFFF or 1)
        self.image.set_scaled(124, "ChaState", self.soc_pct)
        self.image.set(124, "ChaSt", state)
        self.image.set(802, "ChaSt", state)
        self.image.set_scaled(713, "SoC", self.soc_pct)
        self.image.set_scaled(713, "WHAvail", self.capacity_wh * self.soc_pct / 100.0)
        self.image.set_scaled(802, "SoC", self.soc_pct)


@dataclass
class SunSpecDeviceServers:
    """Running simulated devices: their models, bound ports and the tasks serving them."""

    inverter: SimulatedInverter
    battery: SimulatedBattery
    host: str
    inverter_port: int
    battery_port: int
    _servers: list[ModbusTcpServer] = field(default_factory=list)
    _ticker: asyncio.Task | None = None

    async def stop(self) -> None:
        """Stop ticking and close both servers."""
        if self._ticker:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for server in self._servers:
            await server.shutdown()


async def start_device_server(
    device: SimulatedSunSpecDevice, host: str, port: int, device_id: int = 1
) -> tuple[ModbusTcpServer, int]:
    """Serve one simulated device on ``host:port`` (0 picks a free port); returns the port."""
    server = ModbusTcpServer(device.sim_device(device_id), address=(host, port))
    await server.serve_forever(background=True)
    sockets = getattr(server.transport, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    return server, bound


async def _tick_forever(devices: list[SimulatedSunSpecDevice], tick_s: float) -> None:
    while True:
        await asyncio.sleep(tick_s)
        for device in devices:
            try:
                device.tick()
            except Exception:  # a simulator bug must not stop the other device
                log.exception("simulated device tick failed")


async def start_sunspec_devices(
    host: str = "127.0.0.1",
    inverter_port: int = 5020,
    battery_port: int = 5021,
    *,
    rated_w: float = 250_000.0,
    available_pv_w: float | None = None,
    capacity_wh: float = 200_000.0,
    battery_power_w: float = 100_000.0,
    soc_pct: float = 50.0,
    soc_min_pct: float = 10.0,
    soc_max_pct: float = 95.0,
    base: int = 40000,
    tick_s: float = 1.0,
    device_id: int = 1,
    grid_forming: bool = False,
) -> SunSpecDeviceServers:
    """Start the simulated inverter and battery and return once both listen.

    Parameters
    ----------
    host : str
        Interface to bind; loopback by default.
    inverter_port, battery_port : int
        TCP ports; 0 picks a free one (see the returned ports).
    rated_w : float
        Inverter rating [W].
    available_pv_w : float or None
        Available PV power [W]; 80 % of ``rated_w`` if None.
    capacity_wh, battery_power_w : float
        Battery energy [Wh] and power [W] ratings.
    soc_pct, soc_min_pct, soc_max_pct : float
        Initial battery state of charge and bounds [%].
    base : int
        Register address of "SunS" on both devices.
    tick_s : float
        Simulation step [s].
    device_id : int
        Modbus unit id both devices answer to.
    grid_forming : bool
        Serve a :class:`~control.sim.grid_forming_battery.GridFormingBattery`.
    """
    inverter = SimulatedInverter(rated_w, available_pv_w, base)
    battery_cls = SimulatedBattery
    if grid_forming:
        from control.sim.grid_forming_battery import GridFormingBattery

        battery_cls = GridFormingBattery
    battery = battery_cls(capacity_wh, battery_power_w, soc_pct, soc_min_pct, soc_max_pct, base)
    inv_server, inv_port = await start_device_server(inverter, host, inverter_port, device_id)
    try:
        bat_server, bat_port = await start_device_server(battery, host, battery_port, device_id)
    except BaseException:
        await inv_server.shutdown()
        raise
    ticker = asyncio.create_task(_tick_forever([inverter, battery], tick_s))
    log.info("SunSpec simulator: inverter %s:%s, battery %s:%s", host, inv_port, host, bat_port)
    return SunSpecDeviceServers(
        inverter, battery, host, inv_port, bat_port, [inv_server, bat_server], ticker
    )


async def serve_sunspec_devices(
    host: str = "127.0.0.1", inverter_port: int = 5020, battery_port: int = 5021, **kwargs
) -> None:
    """Run the simulated inverter and battery until cancelled (``novaenergy sim devices``).

    Keyword arguments are those of :func:`start_sunspec_devices`.
    """
    servers = await start_sunspec_devices(host, inverter_port, battery_port, **kwargs)
    try:
        await asyncio.Event().wait()
    finally:
        await servers.stop()
