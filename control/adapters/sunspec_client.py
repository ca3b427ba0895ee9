"""Modbus TCP SunSpec client (pymodbus 3.16): discovery, reads, curtailment and storage control.

``SunSpecClient`` finds "SunS" at 40000, 0 or 50000, walks the model chain to the 0xFFFF
end marker and reads or writes points of the map in ``sunspec_registers``. A device that
stops answering is marked offline (logged once); later calls reconnect, at most once per
``reconnect_s``, and rediscover the chain. Writes go one register at a time (function 6).

``SunSpecInverter`` and ``SunSpecBattery`` implement the ``Inverter`` and ``Battery`` ports
(power in W, positive when drawing from the site bus). A setpoint with a revert time
writes the device's revert timer first and is then re-written every half period by a
keepalive task, so a lost controller leaves the device to revert on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from control.adapters import sunspec_registers as reg

log = logging.getLogger(__name__)

MAX_CHAIN_MODELS = 64
REVERT_MAX_S = 0xFFFE  # uint16 seconds; 0xFFFF would read as unimplemented


class SunSpecError(Exception):
    """The device answered but cannot do what was asked (no SunSpec, missing model, refused)."""


class DeviceUnavailable(ConnectionError):
    """The device does not answer (timeout, refused or lost connection); it is offline."""


class SunSpecClient:
    """One SunSpec device over Modbus TCP.

    Parameters
    ----------
    host : str
        Device address.
    port : int
        Modbus TCP port.
    device_id : int
        Modbus unit id.
    timeout_s : float
        Per-request timeout [s]; a request not answered in time marks the device offline.
    reconnect_s : float
        Minimum time between reconnect attempts while offline [s].
    base_addresses : tuple of int
        Where to look for "SunS", in order.
    name : str or None
        Name for logs; ``host:port`` by default.
    """

    def __init__(
        self,
        host: str,
        port: int = 502,
        *,
        device_id: int = 1,
        timeout_s: float = 1.0,
        reconnect_s: float = 5.0,
        base_addresses: tuple[int, ...] = reg.BASE_ADDRESSES,
        name: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.device_id = device_id
        self.timeout_s = timeout_s
        self.reconnect_s = reconnect_s
        self.base_addresses = base_addresses
        self.name = name or f"{host}:{port}"
        self.base: int | None = None
        self.models: dict[int, int] = {}  # model id -> address of its ID register (first one)
        self.lengths: dict[int, int] = {}  # model id -> L [registers]
        self.chain: list[tuple[int, int, int]] = []  # (model id, address, L) in chain order
        self.online = False
        self._offline_logged = False
        self._client: AsyncModbusTcpClient | None = None
        self._last_attempt = -float("inf")
        self._connect_lock = asyncio.Lock()

    # -- connection -------------------------------------------------------------------

    async def connect(self) -> bool:
        """Connect and discover the model chain; False (logged) if the device is unavailable.

        Raises
        ------
        SunSpecError
            The device answers but carries no SunSpec map at any base address.
        """
        async with self._connect_lock:
            if self.online:
                return True
            self._last_attempt = time.monotonic()
            self._drop_client()
            client = AsyncModbusTcpClient(
                self.host,
                port=self.port,
                timeout=self.timeout_s,
                retries=0,
                reconnect_delay=0,  # reconnection is ours: on demand, rate-limited
                name=self.name,
            )
            self._client = client
            try:
                ok = await asyncio.wait_for(client.connect(), self.timeout_s * 2)
                if not ok:
                    raise DeviceUnavailable(f"{self.name}: connection failed")
                await self._discover()
            except DeviceUnavailable as exc:
                self._mark_offline(str(exc))
                return False
            except (TimeoutError, ModbusException, OSError) as exc:
                self._mark_offline(f"{type(exc).__name__}: {exc}")
                return False
            except SunSpecError as exc:
                log.warning("%s: answers but is not usable as SunSpec: %s", self.name, exc)
                self._drop_client()
                raise
            log.info(
                "%s: online, SunSpec at %s, models %s",
                self.name,
                self.base,
                [m for m, _, _ in self.chain],
            )
            self.online = True
            self._offline_logged = False
            return True

    async def ensure_online(self) -> None:
        """Reconnect if offline and due; raise DeviceUnavailable otherwise."""
        if self.online:
            return
        if time.monotonic() - self._last_attempt < self.reconnect_s:
            raise DeviceUnavailable(f"{self.name}: offline")
        if not await self.connect():
            raise DeviceUnavailable(f"{self.name}: offline")

    async def close(self) -> None:
        """Close the connection."""
        self._drop_client()
        self.online = False

    def _drop_client(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None

    def _mark_offline(self, reason: str) -> None:
        if not self._offline_logged:
            log.warning("%s: offline (%s)", self.name, reason)
            self._offline_logged = True
        else:
            log.debug("%s: still offline (%s)", self.name, reason)
        self.online = False
        self._drop_client()

    # -- raw register access ----------------------------------------------------------

    async def _request(self, call: Callable[[], Awaitable]):
        if self._client is None:
            raise DeviceUnavailable(f"{self.name}: not connected")
        try:
            response = await asyncio.wait_for(call(), self.timeout_s * 2)
        except (TimeoutError, ModbusException, OSError) as exc:
            raise DeviceUnavailable(f"{self.name}: {type(exc).__name__}: {exc}") from exc
        if response.isError():
            raise SunSpecError(f"{self.name}: Modbus exception {response}")
        return response

    async def _read(self, address: int, count: int) -> list[int]:
        client = self._client
        registers: list[int] = []
        while count > 0:
            n = min(count, reg.MAX_READ_REGISTERS)
            response = await self._request(
                lambda a=address, n=n: client.read_holding_registers(
                    a, count=n, device_id=self.device_id
                )
            )
            if len(response.registers) < n:
                raise SunSpecError(f"{self.name}: short read at {address}")
            registers.extend(response.registers[:n])
            address += n
            count -= n
        return registers

    async def _write(self, address: int, value: int) -> None:
        client = self._client
        await self._request(
            lambda: client.write_register(address, value & 0xFFFF, device_id=self.device_id)
        )

    async def _discover(self) -> None:
        for base in self.base_addresses:
            try:
                marker = await self._read(base, 2)
            except SunSpecError:
                continue
            if tuple(marker) == reg.SUNS_MARKER:
                break
        else:
            raise SunSpecError(f"{self.name}: no SunSpec marker at {self.base_addresses}")
        chain: list[tuple[int, int, int]] = []
        address = base + 2
        for _ in range(MAX_CHAIN_MODELS):
            try:
                model_id, length = await self._read(address, 2)
            except SunSpecError:
                # some devices hold no L after the end marker
                (model_id,) = await self._read(address, 1)
                length = 0
            if model_id == reg.END_MODEL_ID:
                break
            chain.append((model_id, address, length))
            address += length + 2
            if address > 0xFFFF:
                raise SunSpecError(f"{self.name}: model chain runs past the address space")
        else:
            raise SunSpecError(f"{self.name}: no end marker after {MAX_CHAIN_MODELS} models")
        self.base = base
        self.chain = chain
        self.models, self.lengths = {}, {}
        for model_id, addr, length in chain:
            self.models.setdefault(model_id, addr)
            self.lengths.setdefault(model_id, length)

    # -- model access -----------------------------------------------------------------

    async def _guard(self, op: Callable[[], Awaitable]):
        await self.ensure_online()
        try:
            return await op()
        except DeviceUnavailable as exc:
            self._mark_offline(str(exc))
            raise

    def has(self, model_id: int) -> bool:
        """Whether the discovered chain holds ``model_id``."""
        return model_id in self.models

    async def read_model(self, model_id: int) -> list[int]:
        """All registers of a model, ID register first [L + 2 registers].

        Raises
        ------
        DeviceUnavailable
            The device is offline.
        SunSpecError
            The device has no such model or refused the read.
        """
        await self.ensure_online()
        if model_id not in self.models:
            raise SunSpecError(f"{self.name}: no model {model_id}")
        return await self._guard(
            lambda: self._read(self.models[model_id], self.lengths[model_id] + 2)
        )

    async def read_points(
        self, model_id: int, names: list[str], model: reg.Model | None = None
    ) -> dict[str, float | None]:
        """Scaled values [their units] of ``names`` in model ``model_id``; None if unimplemented.

        ``model`` declares a model that is not in the shared map (a vendor model).
        """
        model = model or reg.MODELS[model_id]
        block = await self.read_model(model_id)
        return {n: reg.read_scaled(model, block, n) for n in names}

    async def write_raw(
        self, model_id: int, name: str, raw: int, model: reg.Model | None = None
    ) -> None:
        """Write one single-register point (raw, unscaled) with function 6; ``model`` as in
        :meth:`read_points`."""
        point = (model or reg.MODELS[model_id])[name]
        if point.size != 1:
            raise ValueError(f"{name} spans {point.size} registers")
        await self.ensure_online()
        if model_id not in self.models:
            raise SunSpecError(f"{self.name}: no model {model_id}")
        (value,) = reg.encode(point, raw)
        await self._guard(lambda: self._write(self.models[model_id] + point.offset, value))


class _Keepalive:
    """Re-runs a setpoint write every half revert period until re-armed or stopped."""

    def __init__(self, name: str, refresh: Callable[[], Awaitable[None]]) -> None:
        self.name = name
        self.refresh = refresh
        self.task: asyncio.Task | None = None

    def arm(self, revert_s: float) -> None:
        self.stop()
        if revert_s > 0:
            self.task = asyncio.create_task(
                self._run(revert_s / 2.0), name=f"{self.name} keepalive"
            )

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None

    async def _run(self, period_s: float) -> None:
        while True:
            await asyncio.sleep(period_s)
            try:
                await self.refresh()
            except (DeviceUnavailable, SunSpecError) as exc:
                log.warning("%s: setpoint refresh failed: %s", self.name, exc)
            except Exception:
                log.exception("%s: setpoint refresh failed", self.name)


def _measurement_model(client: SunSpecClient) -> int | None:
    return next((m for m in reg.INVERTER_MODEL_IDS if client.has(m)), None)


async def _ac_power_w(client: SunSpecClient) -> float | None:
    """AC power in the site convention [W]: SunSpec W is positive when exporting."""
    await client.ensure_online()
    model_id = _measurement_model(client)
    if model_id is None:
        return None
    w = (await client.read_points(model_id, ["W"]))["W"]
    return None if w is None else -w


class _HeldSetpoint:
    """A setpoint written to a device and re-written at half its revert period.

    Subclasses implement :meth:`_write` (one write of the held value, under the lock) and
    share holding, refreshing, releasing and the power reading.
    """

    keepalive_name = ""

    def __init__(self, client: SunSpecClient) -> None:
        self.client = client
        self._held: tuple[float, int] | None = None  # (value, revert [s]) to hold
        self._revert_written: int | None = None
        self._lock = asyncio.Lock()
        self._keepalive = _Keepalive(f"{client.name} {self.keepalive_name}", self._write_held)

    async def power(self) -> float | None:
        """AC power [W] in the site convention; None if offline or not implemented."""
        try:
            return await _ac_power_w(self.client)
        except (DeviceUnavailable, SunSpecError) as exc:
            log.debug("%s: power unavailable: %s", self.client.name, exc)
            return None

    async def close(self) -> None:
        """Stop the keepalive (the device reverts on its own timer)."""
        self._keepalive.stop()

    async def _hold(self, value: float, revert_s: float) -> None:
        revert = int(min(REVERT_MAX_S, max(0, round(revert_s))))
        self._held = (value, revert)
        self._keepalive.arm(revert)
        await self._write_held()

    async def _release(self, model_id: int, point: str) -> None:
        self._held = None
        self._keepalive.stop()
        await self.client.write_raw(model_id, point, 0)

    async def _write_held(self) -> None:
        if self._held is None:
            return
        async with self._lock:
            if not self.client.online:
                self._revert_written = None
            await self._write(*self._held)

    async def _write_revert(self, model_id: int, point: str, revert: int) -> None:
        """Write the revert timer once per value (and again after reconnecting)."""
        if self._revert_written != revert:
            await self.client.write_raw(model_id, point, revert)
            self._revert_written = revert

    async def _write(self, value: float, revert: int) -> None:
        raise NotImplementedError


class SunSpecInverter(_HeldSetpoint):
    """A PV inverter curtailed through model 123 (the ``Inverter`` port).

    Parameters
    ----------
    client : SunSpecClient
        The device connection.
    """

    keepalive_name = "WMaxLimPct"

    async def read(self) -> dict[str, float | None]:
        """Current readings: power_w [W] (site convention), energy_wh [Wh], rated_w [W],
        limit_pct [% of rating, None when not limiting] and state (SunSpec St)."""
        await self.client.ensure_online()
        out: dict[str, float | None] = {"power_w": None, "energy_wh": None}
        model_id = _measurement_model(self.client)
        if model_id is not None:
            energy = "TotWhInj" if model_id == 701 else "WH"
            state = "InvSt" if model_id == 701 else "St"
            values = await self.client.read_points(model_id, ["W", energy, state])
            out["power_w"] = None if values["W"] is None else -values["W"]
            out["energy_wh"] = values[energy]
            out["state"] = values[state]
        if self.client.has(120):
            out["rated_w"] = (await self.client.read_points(120, ["WRtg"]))["WRtg"]
        elif self.client.has(702):
            out["rated_w"] = (await self.client.read_points(702, ["WMaxRtg"]))["WMaxRtg"]
        if self.client.has(123):
            values = await self.client.read_points(123, ["WMaxLimPct", "WMaxLim_Ena"])
            out["limit_pct"] = values["WMaxLimPct"] if values["WMaxLim_Ena"] == 1 else None
        return out

    async def set_limit_pct(self, pct: float, revert_s: int) -> None:
        """Limit output to ``pct`` [% of rating], clamped to [1, 100]; the device reverts
        after ``revert_s`` [s] without a refresh (0: no revert timer, no keepalive).

        Raises
        ------
        DeviceUnavailable
            Offline; the keepalive retries the setpoint when the device is back.
        SunSpecError
            No model 123, or the device refused a write.
        """
        pct = min(100.0, max(1.0, float(pct)))  # some inverters go to standby at 0
        await self._hold(pct, revert_s)

    async def release(self) -> None:
        """Stop curtailing: WMaxLim_Ena = 0 and no more refreshes."""
        await self._release(123, "WMaxLim_Ena")

    async def _write(self, pct: float, revert: int) -> None:
        block = await self.client.read_model(123)
        sf = reg.read_raw(reg.CONTROLS, block, "WMaxLimPct_SF")
        if sf is None:
            raise SunSpecError(f"{self.client.name}: WMaxLimPct_SF not implemented")
        await self._write_revert(123, "WMaxLimPct_RvrtTms", revert)
        await self.client.write_raw(123, "WMaxLimPct", reg.unscale(pct, sf))
        await self.client.write_raw(123, "WMaxLim_Ena", 1)


class SunSpecBattery(_HeldSetpoint):
    """A battery driven through model 124 StorCtl_Mod, InWRte and OutWRte (the ``Battery`` port).

    A setpoint of p [W] (positive = charging) becomes the rate window [p, p]:
    charging at x % of WChaMax is ``InWRte = x, OutWRte = -x``, discharging the mirror,
    both limits active (StorCtl_Mod = 3).

    Parameters
    ----------
    client : SunSpecClient
        The device connection.
    """

    keepalive_name = "InOutWRte"

    async def soc_pct(self) -> float | None:
        """State of charge [%] from 124 ChaState, else 713 or 802 SoC; None if unavailable."""
        try:
            return await self._soc_pct()
        except (DeviceUnavailable, SunSpecError) as exc:
            log.debug("%s: SoC unavailable: %s", self.client.name, exc)
            return None

    async def _soc_pct(self) -> float | None:
        await self.client.ensure_online()
        for model_id, name in ((124, "ChaState"), (713, "SoC"), (802, "SoC")):
            if self.client.has(model_id):
                value = (await self.client.read_points(model_id, [name]))[name]
                if value is not None:
                    return value
        return None

    async def read(self) -> dict[str, float | None]:
        """Current readings: power_w [W] (positive = charging), soc_pct [%],
        energy_wh [Wh] (lifetime AC energy), max_power_w [W] (WChaMax)."""
        await self.client.ensure_online()
        out: dict[str, float | None] = {"power_w": None, "energy_wh": None}
        model_id = _measurement_model(self.client)
        if model_id is not None:
            energy = "TotWhInj" if model_id == 701 else "WH"
            values = await self.client.read_points(model_id, ["W", energy])
            out["power_w"] = None if values["W"] is None else -values["W"]
            out["energy_wh"] = values[energy]
        out["soc_pct"] = await self._soc_pct()
        if self.client.has(124):
            out["max_power_w"] = (await self.client.read_points(124, ["WChaMax"]))["WChaMax"]
        return out

    async def set_power(self, power_w: float, revert_s: int) -> None:
        """Charge (``power_w`` > 0) or discharge (< 0) at ``power_w`` [W], capped at WChaMax;
        the device releases control after ``revert_s`` [s] without a refresh.

        Raises
        ------
        DeviceUnavailable
            Offline; the keepalive retries the setpoint when the device is back.
        SunSpecError
            No model 124, WChaMax not implemented, or the device refused a write.
        """
        await self._hold(float(power_w), revert_s)

    async def release(self) -> None:
        """Give control back to the battery (StorCtl_Mod = 0) and stop refreshing."""
        await self._release(124, "StorCtl_Mod")

    async def _write(self, power_w: float, revert: int) -> None:
        block = await self.client.read_model(124)
        w_max = reg.read_scaled(reg.STORAGE, block, "WChaMax")
        sf = reg.read_raw(reg.STORAGE, block, "InOutWRte_SF")
        if not w_max or sf is None:
            raise SunSpecError(f"{self.client.name}: WChaMax or InOutWRte_SF not implemented")
        pct = min(100.0, abs(power_w) / w_max * 100.0)
        signed = pct if power_w >= 0 else -pct
        in_raw, out_raw = reg.unscale(signed, sf), reg.unscale(-signed, sf)
        await self._write_revert(124, "InOutWRte_RvrtTms", revert)
        # one register at a time: move the bound first that keeps lower <= upper, so
        # the device never sees an empty window between the two writes
        current_out = reg.read_raw(reg.STORAGE, block, "OutWRte")
        mode = reg.read_raw(reg.STORAGE, block, "StorCtl_Mod") or 0
        lower_raw = -current_out if (mode & reg.STORCTL_DISCHARGE and current_out) else None
        if lower_raw is None or in_raw >= lower_raw:
            order = (("InWRte", in_raw), ("OutWRte", out_raw))
        else:
            order = (("OutWRte", out_raw), ("InWRte", in_raw))
        for name, raw in order:
            await self.client.write_raw(124, name, raw)
        await self.client.write_raw(124, "StorCtl_Mod", reg.STORCTL_CHARGE | reg.STORCTL_DISCHARGE)


async def poll_telemetry(
    site_id: str,
    devices: Mapping[str, SunSpecInverter | SunSpecBattery],
    now: datetime | None = None,
) -> list[dict]:
    """Read every device once and return ``device_telemetry`` rows for TelemetryBatchWriter.

    Metrics: ``online`` [bool as 0/1] always; when readable ``power_w`` [W] (site
    convention), ``energy_wh`` [Wh], ``limit_pct`` [%] and ``rated_w`` [W] (inverters),
    ``soc_pct`` [%] and ``max_power_w`` [W] (batteries). Missing values are left out.

    Parameters
    ----------
    site_id : str
        Site of the devices.
    devices : mapping
        device_id -> adapter.
    now : datetime or None
        Sample time (timezone-aware UTC); the current time if None.
    """
    ts = now or datetime.now(UTC)
    units = {
        "power_w": "W",
        "energy_wh": "Wh",
        "limit_pct": "%",
        "rated_w": "W",
        "soc_pct": "%",
        "max_power_w": "W",
    }
    rows: list[dict] = []
    for device_id, device in devices.items():
        try:
            readings = await device.read()
        except (DeviceUnavailable, SunSpecError) as exc:
            log.debug("%s: not polled: %s", device_id, exc)
            readings = {}
        online = 1.0 if device.client.online else 0.0
        rows.append(
            dict(
                site_id=site_id,
                device_id=device_id,
                ts_utc=ts,
                metric="online",
                value=online,
                unit="bool",
            )
        )
        for metric, unit in units.items():
            value = readings.get(metric)
            if value is not None:
                rows.append(
                    dict(
                        site_id=site_id,
                        device_id=device_id,
                        ts_utc=ts,
                        metric=metric,
                        value=float(value),
                        unit=unit,
                    )
                )
    return rows
