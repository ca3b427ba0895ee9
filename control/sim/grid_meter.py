"""A simulated SunSpec grid meter with the site's grid relay, on a pymodbus SimDevice.

Models 1 (common), 203 (three-phase wye meter: ``W``, ``Hz``, ``PhV``, ``PhVphA``..``C``)
and 123 (``Conn``: the grid relay, 0 open, 1 closed). The meter sits on the grid side of the
relay: it shows the grid's voltage and frequency even while the site is islanded (so the
return of the grid is seen), and ``W`` is the site's net exchange (positive = import) only
while the relay is closed and the grid is up. A blackout kills the grid (0 V, 0 Hz) or, with
``silent``, makes the meter stop answering (loss of signal).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from pymodbus.constants import ExcCodes

from control.adapters import sunspec_registers as reg
from control.sim.sunspec_devices import SimulatedSunSpecDevice, SunSpecImage, start_device_server

log = logging.getLogger(__name__)


class SimulatedGridMeter(SimulatedSunSpecDevice):
    """The grid connection point.

    Parameters
    ----------
    voltage_v : float
        Phase-to-neutral voltage of the healthy grid [V].
    frequency_hz : float
        Frequency of the healthy grid [Hz].
    base : int
        Register address of "SunS".
    clock : callable
        Monotonic time [s].
    """

    def __init__(
        self,
        voltage_v: float = 230.0,
        frequency_hz: float = 50.0,
        base: int = 40000,
        serial: str = "grid-meter-1",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        common = {"Mn": "NovaEnergy", "Md": "SimGridMeter", "Vr": "1.0.0", "SN": serial, "DA": 1}
        image = SunSpecImage(
            base,
            [
                (reg.COMMON, common),
                # W_SF 2: 100 W per count, so int16 covers ±3.2 MW
                (reg.METER_3PH_WYE, {"V_SF": -1, "Hz_SF": -2, "W_SF": 2}),
                (reg.CONTROLS, {"Conn": 1, "Conn_RvrtTms": 0}),
            ],
        )
        # the relay does not revert on its own: a lost controller must not close it on a dead grid
        super().__init__(image, {(123, "Conn"): (0, 1)}, clock)
        self.voltage_v = voltage_v
        self.frequency_hz = frequency_hz
        self.grid_up = True
        self.silent = False
        self.site_w = 0.0
        self.update()

    @property
    def relay_closed(self) -> bool:
        """Whether the site is connected to the grid."""
        return self.image.get(123, "Conn") == 1

    @property
    def islanded(self) -> bool:
        """Whether the site's bus is cut from a live grid (relay open or grid down)."""
        return not (self.grid_up and self.relay_closed)

    def blackout(self, on: bool = True, silent: bool = False) -> None:
        """Take the grid down (``on``) or bring it back; ``silent`` also stops the answers."""
        log.info("grid meter: grid %s%s", "down" if on else "up", " (silent)" if silent else "")
        self.grid_up = not on
        self.silent = on and silent
        self.update()

    def update(self) -> None:
        up = self.grid_up
        for name in ("PhV", "PhVphA", "PhVphB", "PhVphC"):
            self.image.set_scaled(203, name, self.voltage_v if up else 0.0)
        self.image.set_scaled(203, "Hz", self.frequency_hz if up else 0.0)
        self.image.set_scaled(203, "W", 0.0 if self.islanded else self.site_w)

    async def _action(self, function_code, start_address, address, count, current, set_values):
        while self.silent:  # no answer: the client times out, as with a dead meter
            await asyncio.sleep(0.1)
        result: ExcCodes | None = await super()._action(
            function_code, start_address, address, count, current, set_values
        )
        return result


async def start_grid_meter(
    meter: SimulatedGridMeter, host: str = "127.0.0.1", port: int = 5022, device_id: int = 1
):
    """Serve ``meter`` on ``host:port`` (0 picks a free port); returns (server, bound port)."""
    server, bound = await start_device_server(meter, host, port, device_id)
    log.info("SunSpec simulator: grid meter %s:%s", host, bound)
    return server, bound
