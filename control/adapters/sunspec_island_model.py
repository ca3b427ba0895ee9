"""The vendor SunSpec model through which a battery inverter is told to form the grid.

SunSpec has no writable grid-forming control: model 701 reports ``DERMode`` GRID_FORMING
(read-only) and model 123 ``Conn`` connects or disconnects the inverter from its AC bus,
which is the opposite of forming it. So the simulated battery carries this vendor model
(ids 64000-65535 are vendor-specific in SunSpec); real hardware has its own register. The
grid relay itself is a standard point: model 123 ``Conn`` on the grid meter device.

Offsets are counted from the model's ID register, as in ``sunspec_registers``.
"""

from __future__ import annotations

from control.adapters.sunspec_registers import Model, Point

ISLAND_MODEL_ID = 64250
GRID_FOLLOWING, GRID_FORMING = 0, 1

ISLAND_CONTROLS = Model(
    ISLAND_MODEL_ID,
    2,
    "novaenergy_island_controls",
    {
        "GridForm": Point("GridForm", 2, "enum16"),  # written: 0 grid-following, 1 forming
        "GridForm_St": Point("GridForm_St", 3, "enum16"),  # what the inverter does now
    },
)
