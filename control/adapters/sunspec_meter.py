"""The grid meter as the control service's grid reader: SunSpec model 203 over Modbus TCP.

``SunSpecGridMeter`` is a ``control.devices.GridReader``: awaited, it returns the
:class:`~control.model.GridState` of the meter (``W`` as net exchange [W], positive =
import; ``Hz``; the phase voltage ``PhV``, else the mean of ``PhVphA``..``C``). When the
meter stops answering it returns its last good reading with that reading's time, so the
island machine sees the signal age into ``loss_of_signal_s`` (one lost read is not a
blackout) and a meter never read at all reads as lost. The grid relay, model 123 ``Conn``
on the same device, is opened and closed through :meth:`SunSpecGridMeter.set_connected`.
"""

from __future__ import annotations

import logging

from control.adapters.sunspec_client import DeviceUnavailable, SunSpecClient, SunSpecError
from control.model import GridState
from control.ports import Clock

log = logging.getLogger(__name__)

PHASES = ("PhVphA", "PhVphB", "PhVphC")


class SunSpecGridMeter:
    """Reads the grid connection point and switches its relay.

    Parameters
    ----------
    client : SunSpecClient
        The meter device (models 203 and, for the relay, 123).
    clock : Clock
        Time of each reading.
    """

    def __init__(self, client: SunSpecClient, clock: Clock) -> None:
        self.client = client
        self.clock = clock
        self.last = GridState(power_w=None)

    async def __call__(self) -> GridState:
        try:
            values = await self.client.read_points(203, ["W", "Hz", "PhV", *PHASES])
        except (DeviceUnavailable, SunSpecError) as exc:
            log.debug("%s: grid meter not read: %s", self.client.name, exc)
            return self.last
        voltage = values["PhV"]
        if voltage is None:
            phases = [values[p] for p in PHASES if values[p] is not None]
            voltage = sum(phases) / len(phases) if phases else None
        self.last = GridState(values["W"], values["Hz"], voltage, self.clock.now())
        return self.last

    async def set_connected(self, closed: bool) -> None:
        """Close (True) or open the grid relay (model 123 ``Conn``).

        Raises
        ------
        DeviceUnavailable, SunSpecError
            The meter does not answer or refused the write.
        """
        await self.client.write_raw(123, "Conn", 1 if closed else 0)

    async def close(self) -> None:
        """Close the connection."""
        await self.client.close()
