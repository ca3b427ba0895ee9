"""Devices lost while the control service runs, and found again.

(a) An OCPP 2.1 station's websocket dies mid-transaction without a close frame; (b) the
SunSpec battery stops answering (a TCP proxy in front of its Modbus server swallows every
byte, so requests hang until they time out). In both the service must mark the device
offline (``/devices``, a ``device_offline`` event), keep ticking and driving the others, cap
them so the site stays inside its grid limits once the lost device falls back on its own
timer, and when the device answers again mark it online and send it its setpoint. The
service runs in this process (``serve_control``, composed as the CLI does) with a short
cycle; the simulators are sampled every 20 ms and no limit may break at any sample.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from control.model import DeviceState, GridState, Setpoint, SiteLimits, Snapshot
from control.policy import sequence
from control.serve import ServeParams
from tests.control.test_sunspec_peers import StallingProxy
from tests.resilience.control_harness import (
    MAX_EXPORT_W,
    MAX_IMPORT_W,
    InProcessService,
    LimitWatch,
    SimSite,
    follows,
    landed,
    until,
    write_plan,
)

CYCLE_S = 0.25


@dataclass(frozen=True)
class Outage:
    """How a device is lost and found: ``lose`` and ``restore`` act on its peer,
    ``fell_back`` tells whether it went to its own fallback; ``ttl_s`` is the setpoint
    lifetime [s]."""

    device_id: str
    lose: Callable[[], None]
    restore: Callable[[], None]
    fell_back: Callable[[], bool]
    ttl_s: float


@dataclass(frozen=True)
class Timeline:
    """When the device was lost [UTC], lost, fell back and was restored [s, monotonic], and
    the service's cycle count at the loss and at the restoration."""

    lost_at: datetime
    t_lost: float
    t_fallback: float
    t_restored: float
    cycles: tuple[int, int]


async def until_api(service: InProcessService, device_id: str, online: bool) -> None:
    """Wait until ``/devices/{device_id}`` reports the device online (or offline)."""
    while ((await service.get(f"/devices/{device_id}")) or {}).get("online") is not online:
        await asyncio.sleep(CYCLE_S / 2)


async def cycles(service: InProcessService) -> int:
    """How many cycles the service has run."""
    return (await service.get("/health"))["cycles"]


async def play(
    site: SimSite, params: ServeParams, plan: dict[str, float], outage: Outage
) -> tuple[Timeline, LimitWatch]:
    """Follow the plan, lose the device, wait for its fallback and a few cycles, restore it
    and wait until the plan is followed again."""
    service = InProcessService(params, outage.ttl_s)
    watch = LimitWatch(site)
    try:
        await service.start()
        for station_id in site.sims:
            site.connect_station(station_id)
        await until(lambda: follows(site, plan), 15)
        await until_api(service, outage.device_id, True)
        watch.start()
        lost_at, t_lost, cycles_lost = datetime.now(UTC), time.monotonic(), await cycles(service)
        outage.lose()
        await until_api(service, outage.device_id, False)
        t_fallback = await until(outage.fell_back, 2 * outage.ttl_s + 5)
        await asyncio.sleep(4 * CYCLE_S)  # the site runs a few cycles without the device
        t_restored, cycles_restored = time.monotonic(), await cycles(service)
        outage.restore()
        await until_api(service, outage.device_id, True)
        await until(lambda: follows(site, plan), 10)
    finally:
        await watch.stop()
        await service.stop()
    return Timeline(lost_at, t_lost, t_fallback, t_restored, (cycles_lost, cycles_restored)), watch


def transitions(tmp_path, device_id: str, lost_at: datetime) -> list[str]:
    """The device's ``device_offline`` / ``device_online`` events since it was last reported
    online before its loss (a station may connect after the service's first cycle).

    An event carries its cycle's start, which may precede the loss by a few milliseconds
    (the read that then hung was already under way), so the loss itself is no boundary.
    """
    _, events = landed(tmp_path / "raw")
    mine = events.filter(
        (pl.col("device_id") == device_id)
        & pl.col("event_type").is_in(["device_offline", "device_online"])
    )
    came_online = mine.filter(
        (pl.col("event_type") == "device_online") & (pl.col("ts_utc") < lost_at)
    )
    if not came_online.is_empty():
        mine = mine.filter(pl.col("ts_utc") > came_online["ts_utc"].max())
    return mine["event_type"].to_list()


def check_outage(tmp_path, timeline: Timeline, outage: Outage, plan: dict[str, float]):
    """What both outages share: the loop kept ticking, the device went offline and came
    back, and got its planned setpoint again."""
    started, restored = timeline.cycles
    assert restored - started >= (timeline.t_restored - timeline.t_lost) / CYCLE_S / 2
    assert transitions(tmp_path, outage.device_id, timeline.lost_at) == [
        "device_offline",
        "device_online",
    ]
    commands, _ = landed(tmp_path / "raw")
    last = commands.filter(device_id=outage.device_id).row(-1, named=True)
    assert last["sent_at_utc"] > timeline.lost_at and last["ack_status"] == "Accepted"
    assert last["power_w"] == plan[outage.device_id]


PLAN_A = {  # [W]: evening, the site imports 371 kW of its 400 kW
    "battery-1": -40_000.0,
    "charger-1": -11_000.0,
    "charger-2": 22_000.0,
    "pv-curtailment": 0.0,
}


@pytest.mark.slow
def test_a_station_that_drops_mid_transaction_is_capped_around_and_served_again(
    tmp_path, time_limit_30s
):
    site = SimSite(
        tmp_path,
        base_load_w=420_000.0,
        available_pv_w=20_000.0,
        stations={"charger-1": True, "charger-2": False},
    )
    write_plan(tmp_path / "lake", "lost-station", PLAN_A, timedelta(minutes=15))
    station = site.sims["charger-1"]
    outage = Outage(
        "charger-1",
        station.cut_link,
        station.restore_link,
        lambda: station.power_w == station.ev.max_power_w,  # validTo passed: full power
        ttl_s=2.0,
    )

    async def go():
        await site.start()
        try:
            return await play(site, site.params(cycle_s=CYCLE_S), PLAN_A, outage)
        finally:
            await site.stop()

    timeline, watch = asyncio.run(go())
    assert watch.violations() == []
    away = watch.between(timeline.t_lost, timeline.t_restored)
    assert max(s.net_w for s in away) > MAX_IMPORT_W - 1_000  # it was tight
    fallen_back = watch.between(timeline.t_fallback, timeline.t_restored)
    # charger-2 was capped while charger-1 charged at full power
    assert max(s.stations_w["charger-2"] for s in fallen_back) < PLAN_A["charger-2"]
    check_outage(tmp_path, timeline, outage, PLAN_A)
    assert station.profile.power_w == PLAN_A["charger-1"]  # same transaction, new profile
    assert station.profile.profile_id == 2


PLAN_B = {  # [W]: noon, the battery's charge keeps the export at 18 kW of its 50 kW
    "battery-1": 40_000.0,
    "charger-1": 11_000.0,
    "charger-2": 11_000.0,
    "pv-curtailment": 60_000.0,
}


@pytest.mark.slow
def test_a_modbus_device_that_hangs_is_capped_around_and_served_again(tmp_path, time_limit_30s):
    site = SimSite(tmp_path, stations={"charger-1": True, "charger-2": False})
    write_plan(tmp_path / "lake", "lost-battery", PLAN_B, timedelta(minutes=15))

    async def go():
        await site.start()
        proxy = StallingProxy(site.sunspec.battery_port)
        await proxy.start()
        outage = Outage(
            "battery-1",
            lambda: setattr(proxy, "stalled", True),
            lambda: setattr(proxy, "stalled", False),
            lambda: site.sunspec.battery.power_w == 0,  # its revert timer ran out
            ttl_s=6.0,  # the revert outlasts the 2 s a hung Modbus read takes to fail
        )
        params = site.params(cycle_s=CYCLE_S, sunspec_battery_port=proxy.port)
        try:
            return outage, await play(site, params, PLAN_B, outage)
        finally:
            await proxy.stop()
            await site.stop()

    outage, (timeline, watch) = asyncio.run(go())
    assert watch.violations() == []
    away = watch.between(timeline.t_lost, timeline.t_restored)
    assert min(s.net_w for s in away) < -MAX_EXPORT_W + 1_000  # it was tight
    fallen_back = watch.between(timeline.t_fallback, timeline.t_restored)
    # the PV was curtailed further while the battery could not take its share
    curtailed = site.available_pv_w - max(s.pv_output_w for s in fallen_back)
    assert curtailed > PLAN_B["pv-curtailment"]
    check_outage(tmp_path, timeline, outage, PLAN_B)


def _reading(power_w: dict[str, float], grid_w: float) -> Snapshot:
    states = {d: DeviceState(d, True, p) for d, p in power_w.items()}
    return Snapshot(states, GridState(grid_w))


UNTIL = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("measured", "grid_w", "in_flight", "wanted", "sent"),
    [
        pytest.param(  # (a) charger-1 back at full power: charger-2 waits for its decrease
            {"charger-1": 22_000.0, "charger-2": 18_000.0},
            400_000.0,
            (0.0, 0.0),
            {"charger-1": -11_000.0, "charger-2": 22_000.0},
            {"charger-1": -11_000.0, "charger-2": 18_000.0},
            id="import: the increase waits",
        ),
        pytest.param(  # once measured, the increase fits
            {"charger-1": -11_000.0, "charger-2": 18_000.0},
            367_000.0,
            (0.0, 0.0),
            {"charger-1": -11_000.0, "charger-2": 22_000.0},
            {"charger-1": -11_000.0, "charger-2": 22_000.0},
            id="import: room, all at once",
        ),
        pytest.param(  # charger-2 reports the 0 -> 18 kW sent a cycle ago, the meter not yet
            {"charger-1": 22_000.0, "charger-2": 18_000.0},
            382_000.0,
            (18_000.0, 0.0),
            {"charger-1": 22_000.0, "charger-2": 22_000.0},
            {"charger-1": 22_000.0, "charger-2": 18_000.0},
            id="import: last cycle's move is not in the grid reading yet",
        ),
        pytest.param(  # (b) battery back at 0 W: the PV stays curtailed until it charges
            {"battery-1": 0.0, "pv-curtailment": 68_000.0},
            -50_000.0,
            (0.0, 0.0),
            {"battery-1": 40_000.0, "pv-curtailment": 60_000.0},
            {"battery-1": 40_000.0, "pv-curtailment": 68_000.0},
            id="export: the decrease waits",
        ),
        pytest.param(
            {"battery-1": 0.0, "pv-curtailment": 68_000.0},
            -45_000.0,
            (0.0, 0.0),
            {"battery-1": 40_000.0, "pv-curtailment": 60_000.0},
            {"battery-1": 40_000.0, "pv-curtailment": 63_000.0},
            id="export: part of the decrease fits",
        ),
    ],
)
def test_a_returning_device_is_made_before_the_others_break(
    measured, grid_w, in_flight, wanted, sent
):
    limits = SiteLimits(MAX_IMPORT_W, MAX_EXPORT_W, {})
    setpoints = {d: Setpoint(d, p, UNTIL, "plan") for d, p in wanted.items()}
    out = sequence(setpoints, _reading(measured, grid_w), limits, in_flight=in_flight)
    assert {d: sp.power_w for d, sp in out.items()} == sent
