"""A simulated battery that can form the site's grid while it is islanded.

Told ``GridForm`` = 1 (vendor model ``ISLAND_CONTROLS``), the battery inverter sets the
island's voltage and frequency, so its power is whatever the islanded bus draws: it
follows ``bus_load_w`` (set by the site physics loop), within its rating and SoC bounds,
and ignores the model 124 rate window, as a grid-forming inverter must. Told 0, it is the
ordinary grid-following :class:`SimulatedBattery`.
"""

from __future__ import annotations

from control.adapters.sunspec_island_model import (
    GRID_FOLLOWING,
    GRID_FORMING,
    ISLAND_CONTROLS,
    ISLAND_MODEL_ID,
)
from control.sim.sunspec_devices import SimulatedBattery


class GridFormingBattery(SimulatedBattery):
    """:class:`SimulatedBattery` plus the grid-forming switch; same parameters."""

    def __init__(self, *args, **kwargs) -> None:
        self.bus_load_w = 0.0
        forming = (ISLAND_CONTROLS, {"GridForm": GRID_FOLLOWING, "GridForm_St": GRID_FOLLOWING})
        super().__init__(*args, extra_models=(forming,), **kwargs)
        self.writable[(ISLAND_MODEL_ID, "GridForm")] = (GRID_FOLLOWING, GRID_FORMING)

    @property
    def grid_forming(self) -> bool:
        """Whether the battery forms the grid now."""
        return self.image.get(ISLAND_MODEL_ID, "GridForm") == GRID_FORMING

    def target_w(self) -> float:
        if not self.grid_forming:
            return super().target_w()
        return min(max(-self.bus_load_w, -self.max_power_w), self.max_power_w)

    def update(self) -> None:
        super().update()
        self.image.set(ISLAND_MODEL_ID, "GridForm_St", int(self.grid_forming))
