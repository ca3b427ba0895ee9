"""The simulated site's power balance, closing the loop between the simulated devices.

Every tick: the backed-up bus draws the machines and chargers minus the PV output; the
grid-forming battery (when told to form) is given that load; the grid meter shows the
site's net exchange, base load + bus + battery (positive = import). The uncontrolled base
load sits on the part of the site the island does not back up: it is dark in a blackout.
PV beyond what the forming battery can absorb is not modelled (a real island curtails it by
frequency shift), so blackouts are played with the PV below the battery's rating.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from control.sim.grid_forming_battery import GridFormingBattery
from control.sim.grid_meter import SimulatedGridMeter
from control.sim.sunspec_devices import SimulatedInverter

log = logging.getLogger(__name__)


class SitePhysics:
    """One power balance of the simulated site.

    Parameters
    ----------
    meter : SimulatedGridMeter
    battery : GridFormingBattery
    inverter : SimulatedInverter
    loads : sequence of callables returning float
        Power of every machine and charger on the backed-up bus [W], positive = drawing.
    base_load_w : float
        Uncontrolled load behind the meter, not backed up [W].
    """

    def __init__(
        self,
        meter: SimulatedGridMeter,
        battery: GridFormingBattery,
        inverter: SimulatedInverter,
        loads: Sequence[Callable[[], float]] = (),
        base_load_w: float = 60_000.0,
    ) -> None:
        self.meter = meter
        self.battery = battery
        self.inverter = inverter
        self.loads = list(loads)
        self.base_load_w = base_load_w
        self.bus_w = 0.0

    def step(self) -> None:
        """Recompute the balance from the devices' current powers."""
        self.bus_w = sum(load() for load in self.loads) - self.inverter.output_w
        self.battery.bus_load_w = self.bus_w
        self.battery.update()
        self.meter.site_w = self.base_load_w + self.bus_w + self.battery.power_w
        self.meter.update()

    async def run(self, tick_s: float = 1.0) -> None:
        """Step every ``tick_s`` [s] until cancelled."""
        while True:
            try:
                self.step()
            except Exception:  # a simulator bug must not stop the devices
                log.exception("site physics step failed")
            await asyncio.sleep(tick_s)


async def scripted_blackout(
    meter: SimulatedGridMeter, start_s: float, duration_s: float, silent: bool = False
) -> None:
    """Take the grid down ``start_s`` [s] from now for ``duration_s`` [s]."""
    await asyncio.sleep(start_s)
    meter.blackout(True, silent)
    try:
        await asyncio.sleep(duration_s)
    finally:
        with contextlib.suppress(Exception):
            meter.blackout(False)
