"""Simulated OCPP charge points (2.1 and 2.0.1, client side of ``ocpp``) with EVs.

Each station has one EVSE with a plugged-in EV. The EV charges at the limit of the
station's charging profile (or at full power without one), discharges when an OCPP 2.1
``CentralSetpoint`` period asks for it and its owner allows V2G, and its state of charge
follows: ``dSoC = P * dt / capacity``. Every meter interval the station sends a
TransactionEvent with power [W], energy [Wh] and SoC [%]. ``time_scale`` speeds up the EV's
clock, so tests see SoC move within seconds.

The EV keeps charging while the station is away from the CSMS, as a real one does: on its
profile until the profile's ``validTo``, then at full power. :meth:`SimStation.cut_link`
drops the websocket without a close frame and keeps the station away until
:meth:`SimStation.restore_link`; the transaction goes on and, as with a real station, is
reported again at the next meter interval after the reconnection's BootNotification.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from ocpp.routing import on
from ocpp.v21 import ChargePoint as ChargePoint21
from ocpp.v21 import call as call21
from ocpp.v21 import call_result as result21
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from control.adapters.ocpp_routing import GuardedRouting
from control.adapters.ocpp_wire import parse_ts, utc_z

LOG = logging.getLogger(__name__)
_SMART_CHARGING = {"PeriodsPerSchedule": "24", "RateUnit": "A,W", "ProfileStackLevel": "8"}


@dataclass
class Ev:
    """A plugged-in EV battery.

    Parameters
    ----------
    soc_pct : float
        State of charge [%].
    capacity_wh : float
        Usable capacity [Wh].
    max_power_w : float
        Charge and discharge power limit of the EV and station [W].
    v2g : bool
        Whether the owner allows discharge.
    """

    soc_pct: float = 50.0
    capacity_wh: float = 300_000.0
    max_power_w: float = 22_000.0
    v2g: bool = True

    def step(self, wanted_w: float, dt_s: float) -> float:
        """Run ``dt_s`` [s] at ``wanted_w`` [W] within the EV's limits; returns the power [W]."""
        low = -self.max_power_w if self.v2g and self.soc_pct > 0 else 0.0
        high = self.max_power_w if self.soc_pct < 100 else 0.0
        power_w = min(max(wanted_w, low), high)
        self.soc_pct = min(
            100.0, max(0.0, self.soc_pct + 100 * power_w * dt_s / 3600 / self.capacity_wh)
        )
        return power_w


@dataclass
class _Profile:
    profile_id: int
    kind: str
    unit: str
    power_w: float
    valid_to: datetime | None


class SimStation:
    """One simulated charge point; its EV state outlives reconnects.

    Parameters
    ----------
    station_id : str
        Station identity (last URL path segment).
    ev : Ev
        The plugged-in EV.
    version : str
        ``"2.1"`` or ``"2.0.1"``.
    voltage_v : float
        Phase voltage for A profiles [V], three phases.
    """

    def __init__(self, station_id: str, ev: Ev, version: str = "2.1", voltage_v: float = 230.0):
        self.station_id = station_id
        self.ev = ev
        self.version = version
        self.voltage_v = voltage_v
        self.profile: _Profile | None = None
        self.power_w = 0.0
        self.energy_wh = 0.0
        self.received: list[tuple[str, dict]] = []
        self.acks: dict[str, str] = {}
        self.transaction_id = uuid.uuid4().hex[:16]
        self.seq_no = 0
        self.link = None
        self.link_up = True

    def cut_link(self) -> None:
        """Lose the network: the websocket dies without a close frame (as when a cellular
        link drops) and the station stays away until :meth:`restore_link`."""
        self.link_up = False
        if self.link is not None:
            self.link._connection.transport.abort()

    def restore_link(self) -> None:
        """Let the station reconnect (``run_station`` with ``reconnect``)."""
        self.link_up = True

    def wanted_power_w(self, now: datetime) -> float:
        """The power the station's active profile asks for [W] (full power without one)."""
        p = self.profile
        if p is None or (p.valid_to is not None and now > p.valid_to):
            return self.ev.max_power_w
        return p.power_w

    def apply_profile(self, profile: dict) -> str:
        """Accept or reject a SetChargingProfile (snake_case as ``ocpp`` hands it over)."""
        schedule = profile["charging_schedule"]
        schedule = schedule[0] if isinstance(schedule, list) else schedule
        period = schedule["charging_schedule_period"][0]
        unit = schedule["charging_rate_unit"]
        power_w = self._to_w(period.get("setpoint", period.get("limit", 0.0)), unit)
        if power_w < 0 and not self.ev.v2g:
            return "Rejected"
        valid_to = profile.get("valid_to")
        self.profile = _Profile(
            profile["id"],
            profile["charging_profile_kind"],
            unit,
            power_w,
            parse_ts(valid_to) if valid_to else None,
        )
        return "Accepted"

    def apply_update(self, profile_id: int, update: dict) -> str:
        """Accept an UpdateDynamicSchedule for the live Dynamic profile."""
        p = self.profile
        if p is None or p.profile_id != profile_id or p.kind != "Dynamic":
            return "Rejected"
        power_w = self._to_w(update.get("setpoint", update.get("limit", 0.0)), p.unit)
        if power_w < 0 and not self.ev.v2g:
            return "Rejected"
        p.power_w = power_w
        return "Accepted"

    def _to_w(self, value: float, unit: str) -> float:
        return float(value) if unit == "W" else float(value) * self.voltage_v * 3

    def tick(self, dt_s: float, now: datetime) -> None:
        """Advance the EV by ``dt_s`` [s] of simulated time."""
        self.power_w = self.ev.step(self.wanted_power_w(now), dt_s)
        self.energy_wh += max(self.power_w, 0.0) * dt_s / 3600

    def meter_value(self, now: datetime) -> list[dict]:
        """One ``meterValue`` entry (snake_case) with power, energy and SoC."""
        imported, exported = max(self.power_w, 0.0), max(-self.power_w, 0.0)
        samples = [
            ("Power.Active.Import", imported, "W"),
            ("Power.Active.Export", exported, "W"),
            ("Energy.Active.Import.Register", self.energy_wh, "Wh"),
            ("SoC", self.ev.soc_pct, "Percent"),
        ]
        return [
            {
                "timestamp": utc_z(now),
                "sampled_value": [
                    {"value": round(v, 3), "measurand": m, "unit_of_measure": {"unit": u}}
                    for m, v, u in samples
                ],
            }
        ]


class _Link(GuardedRouting):
    """Station side of one connection; ``station`` holds the state."""

    station: SimStation

    @on("GetVariables")
    def on_get_variables(self, get_variable_data, **_):
        results = []
        for item in get_variable_data:
            name = item["variable"]["name"]
            value = _SMART_CHARGING.get(name)
            known = item["component"]["name"] == "SmartChargingCtrlr" and value is not None
            result = {
                "attribute_status": "Accepted" if known else "UnknownVariable",
                "component": item["component"],
                "variable": item["variable"],
            }
            if known:
                result["attribute_value"] = value
            results.append(result)
        return self._results.GetVariables(get_variable_result=results)

    @on("SetChargingProfile")
    def on_set_charging_profile(self, evse_id, charging_profile, **_):
        status = self.station.apply_profile(charging_profile)
        self.station.received.append(("SetChargingProfile", charging_profile))
        return self._results.SetChargingProfile(status=status)

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, **_):
        self.station.profile = None
        return self._results.ClearChargingProfile(status="Accepted")


class _Link21(_Link, ChargePoint21):
    _results = result21
    _calls = call21

    @on("UpdateDynamicSchedule")
    def on_update_dynamic_schedule(self, charging_profile_id, schedule_update, **_):
        status = self.station.apply_update(charging_profile_id, schedule_update)
        self.station.received.append(("UpdateDynamicSchedule", schedule_update))
        return result21.UpdateDynamicSchedule(status=status)


class _Link201(_Link, ChargePoint201):
    _results = result201
    _calls = call201


_LINKS = {"2.1": ("ocpp2.1", _Link21), "2.0.1": ("ocpp2.0.1", _Link201)}


async def _drive_ev(station: SimStation, meter_interval_s: float, time_scale: float) -> None:
    """Step the EV every meter interval while no session does it, until cancelled."""
    while True:
        await asyncio.sleep(meter_interval_s)
        if station.link is None:
            station.tick(meter_interval_s * time_scale, datetime.now(UTC))


async def _session(station: SimStation, link, meter_interval_s: float, time_scale: float) -> None:
    calls = link._calls
    boot = calls.BootNotification(
        charging_station={"model": "SimCharger", "vendor_name": "NovaEnergy"}, reason="PowerUp"
    )
    await link.call(boot, suppress=False)
    now = datetime.now(UTC)
    await link.call(
        calls.StatusNotification(
            timestamp=utc_z(now), connector_status="Occupied", evse_id=1, connector_id=1
        ),
        suppress=False,
    )
    event_type = "Started" if station.seq_no == 0 else "Updated"
    if event_type == "Updated":  # back after a drop: the transaction is reported on schedule
        await asyncio.sleep(meter_interval_s)
    while True:
        now = datetime.now(UTC)
        # OCPP 2.1 has no discharging state: V2X discharge is reported as Charging
        state = "Charging" if station.power_w else "SuspendedEVSE"
        event = calls.TransactionEvent(
            event_type=event_type,
            timestamp=utc_z(now),
            trigger_reason="CablePluggedIn" if event_type == "Started" else "MeterValuePeriodic",
            seq_no=station.seq_no,
            transaction_info={"transaction_id": station.transaction_id, "charging_state": state},
            evse={"id": 1, "connector_id": 1},
            meter_value=station.meter_value(now),
        )
        station.seq_no += 1  # counts messages sent, whether or not the reply comes back
        await link.call(event, suppress=False)
        event_type = "Updated"
        await asyncio.sleep(meter_interval_s)
        station.tick(meter_interval_s * time_scale, datetime.now(UTC))  # reported next


async def _cancel_all(tasks: list[asyncio.Task]) -> list:
    """Cancel tasks and wait until they are done; their results or exceptions.

    Cancels again while any is left: on Python 3.11 ``asyncio.wait_for`` (inside the ocpp
    library's ``call``) can swallow a cancellation that races with a response.
    """
    pending = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=1.0)
    return [t.exception() if not t.cancelled() and t.exception() else None for t in tasks]


async def run_station(
    station: SimStation,
    csms_url: str,
    password: str | None,
    ssl_context: ssl.SSLContext | None = None,
    meter_interval_s: float = 10.0,
    time_scale: float = 1.0,
    reconnect: bool = True,
) -> None:
    """Connect, boot and report meter values until cancelled; reconnects after a drop
    (once the link is up again, see :meth:`SimStation.cut_link`). The EV is driven for as
    long as this runs, connected or not.

    A refused handshake (HTTP 401/404) ends the coroutine with ``InvalidStatus``.
    """
    url = f"{csms_url.rstrip('/')}/{quote(station.station_id, safe='')}"
    headers = {}
    if password is not None:
        token = base64.b64encode(f"{station.station_id}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    ev = asyncio.create_task(_drive_ev(station, meter_interval_s, time_scale))
    try:
        while True:
            while not station.link_up:
                await asyncio.sleep(0.05)
            await _connection(station, url, headers, ssl_context, meter_interval_s, time_scale)
            if not reconnect:
                return
            await asyncio.sleep(1.0)
    finally:
        await _cancel_all([ev])


async def _connection(station, url, headers, ssl_context, meter_interval_s, time_scale) -> None:
    """One connection: boot and report until it is lost (a refused handshake raises)."""
    subprotocol, link_class = _LINKS[station.version]
    try:
        async with connect(
            url,
            subprotocols=[subprotocol],
            additional_headers=headers,
            ssl=ssl_context,
            compression=None,
            open_timeout=60,
        ) as ws:
            link = link_class(station.station_id, ws, response_timeout=30)
            link.station = station
            station.link = link
            reader = asyncio.create_task(link.start())
            session = asyncio.create_task(_session(station, link, meter_interval_s, time_scale))
            try:
                await asyncio.wait({reader, session}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                results = await _cancel_all([reader, session])
            for result in results:
                if isinstance(result, Exception) and not isinstance(result, ConnectionClosed):
                    LOG.warning("%s: session ended: %r", station.station_id, result)
    except InvalidStatus:
        raise
    except (OSError, ConnectionClosed, TimeoutError) as error:
        LOG.info("%s: connection lost (%s)", station.station_id, error)
    finally:
        station.link = None


def sample_stations(
    station_ids: Collection[str], version: str = "2.1", v2g_stations: Collection[str] | None = None
) -> list[SimStation]:
    """Stations with 22 kW EVs at 50 % SoC; V2G for ``v2g_stations`` (all when None)."""
    return [
        SimStation(sid, Ev(v2g=v2g_stations is None or sid in v2g_stations), version)
        for sid in station_ids
    ]


async def run_stations(
    csms_url: str,
    station_ids: Collection[str],
    passwords: Mapping[str, str | None],
    *,
    version: str = "2.1",
    v2g_stations: Collection[str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
    meter_interval_s: float = 10.0,
    time_scale: float = 1.0,
    stop: asyncio.Event | None = None,
    stations: list[SimStation] | None = None,
) -> list[SimStation]:
    """Run simulated stations against a CSMS until ``stop`` is set (or cancelled).

    Parameters
    ----------
    csms_url : str
        CSMS base URL, e.g. ``ws://127.0.0.1:9000``; the station id is appended.
    station_ids : collection of str
        The stations to run, e.g. ``charger-1`` .. ``charger-6``.
    passwords : mapping of str to str or None
        Basic-auth password per station (None: send no credentials).
    version : str
        ``"2.1"`` or ``"2.0.1"``.
    v2g_stations : collection of str, optional
        Stations whose EV allows discharge; all when None.
    ssl_context : ssl.SSLContext, optional
        For ``wss://`` (server CA, and a client certificate for profile 3).
    meter_interval_s : float
        Seconds between meter values [s].
    time_scale : float
        Simulated EV seconds per real second.
    stop : asyncio.Event, optional
        Set it to stop the stations.
    stations : list of SimStation, optional
        Stations to run instead of ``sample_stations(station_ids, version, v2g_stations)``
        (so a caller can watch their power).

    Returns
    -------
    list of SimStation
        The stations with their final state.
    """
    if stations is None:
        stations = sample_stations(station_ids, version, v2g_stations)
    tasks = [
        asyncio.create_task(
            run_station(
                s, csms_url, passwords.get(s.station_id), ssl_context, meter_interval_s, time_scale
            )
        )
        for s in stations
    ]
    try:
        if stop is None:
            await asyncio.gather(*tasks)
        else:
            await stop.wait()
    finally:
        await _cancel_all(tasks)
    return stations
