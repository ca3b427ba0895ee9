"""Device ports: the small interfaces the control service drives, one to three methods each.

Power is in W, positive when the device draws from the site bus; state of charge in %.
Adapters (``control/adapters``) implement these for OCPP, Modbus/SunSpec and MQTT; the
simulators (``control/sim``) are the devices on the other end of the wire.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """Injected time, so control logic runs on a simulated clock in tests."""

    def now(self) -> datetime: ...


class Charger(Protocol):
    """An EV charger (OCPP): positive power charges, negative discharges (V2X)."""

    async def set_power(self, power_w: float, valid_until: datetime) -> None: ...

    async def power(self) -> float | None: ...


class Inverter(Protocol):
    """A PV inverter: curtailment as a limit of its rated power."""

    async def set_limit_pct(self, pct: float, revert_s: int) -> None: ...

    async def power(self) -> float | None: ...


class Battery(Protocol):
    """A stationary battery: power setpoint and state of charge."""

    async def set_power(self, power_w: float, revert_s: int) -> None: ...

    async def soc_pct(self) -> float | None: ...


class Load(Protocol):
    """A switchable machine (MQTT): run or stop, and its measured power."""

    async def set_running(self, running: bool, valid_until: datetime) -> None: ...

    async def power(self) -> float | None: ...
