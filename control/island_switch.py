"""The island actions on the wire: the grid relay and the grid-forming battery.

:class:`SunSpecIslandSwitch` is the ``control.devices.IslandSwitch`` of a site whose relay is
model 123 ``Conn`` on the grid meter and whose batteries take the vendor ``GridForm`` point
(``control.adapters.sunspec_island_model``). It writes only what changed since its last
successful write, so a steady island costs no Modbus traffic; a failed write is forgotten
and retried next cycle.
"""

from __future__ import annotations

from collections.abc import Mapping

from control.adapters.sunspec_client import DeviceUnavailable, SunSpecClient, SunSpecError
from control.adapters.sunspec_island_model import (
    GRID_FOLLOWING,
    GRID_FORMING,
    ISLAND_CONTROLS,
    ISLAND_MODEL_ID,
)
from control.adapters.sunspec_meter import SunSpecGridMeter

RELAY = "grid-relay"


class SunSpecIslandSwitch:
    """Applies ``control.island.IslandActions`` (``connect_grid``, ``grid_forming``).

    Parameters
    ----------
    meter : SunSpecGridMeter
        Carries the grid relay.
    batteries : mapping of str to SunSpecClient
        Battery device id → a client of that battery (its own connection, so these writes
        never interleave with the setpoint keepalive of the battery driver).
    """

    def __init__(self, meter: SunSpecGridMeter, batteries: Mapping[str, SunSpecClient]) -> None:
        self.meter = meter
        self.batteries = dict(batteries)
        self.applied: dict[str, bool] = {}  # device id → relay closed / battery forming

    async def apply(self, actions) -> list[dict]:
        """Write what differs from the last applied state; one dict per write attempted
        (``device_id``, ``point``, ``value``, and ``error`` when it failed).

        The relay goes first: islanding opens it before a battery forms (a forming battery
        must not feed the dead grid), reconnection closes it after the resync delay proved
        the grid good. A failed write does not stop the others: a silent meter must not keep
        the battery from forming.
        """
        changes: list[dict] = []
        await self._write(RELAY, actions.connect_grid, changes)
        forming = {b: b == actions.grid_forming for b in self.batteries}
        for device_id in sorted(forming, key=lambda b: forming[b]):  # one stops before one starts
            await self._write(device_id, forming[device_id], changes)
        return changes

    async def _write(self, device_id: str, on: bool, changes: list[dict]) -> None:
        if self.applied.get(device_id) == on:
            return
        self.applied.pop(device_id, None)
        if device_id == RELAY:
            change = {"device_id": RELAY, "point": "123.Conn", "value": int(on)}
            write = self.meter.set_connected(on)
        else:
            value = GRID_FORMING if on else GRID_FOLLOWING
            change = {
                "device_id": device_id,
                "point": f"{ISLAND_MODEL_ID}.GridForm",
                "value": value,
            }
            write = self.batteries[device_id].write_raw(
                ISLAND_MODEL_ID, "GridForm", value, model=ISLAND_CONTROLS
            )
        try:
            await write
        except (DeviceUnavailable, SunSpecError) as exc:
            change["error"] = str(exc)
        else:
            self.applied[device_id] = on
        changes.append(change)

    async def close(self) -> None:
        """Close the battery connections (the meter's is closed by its owner)."""
        for client in self.batteries.values():
            await client.close()
