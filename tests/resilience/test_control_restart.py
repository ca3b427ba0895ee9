"""The control service is SIGKILLed mid-slot and started again on the same state and lake.

``novaenergy control serve`` runs as its own OS process against the simulated site on
loopback (SunSpec inverter, battery and grid meter over Modbus TCP; two OCPP 2.1 stations
over websockets, one discharging its EV). While it is dead the devices fall back on their
own timers; the restarted process must resume the persisted plan, put the same setpoints
back on the wire and record that it restarted. A watch samples the simulators every 20 ms
throughout, the downtime included, and no limit may break at any sample.

Bounds: spawning and importing the two processes may take up to 90 s on a busy machine
(it is not what is tested, see :class:`ServiceProcess`); the scenario itself has 30 s.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from control.adapters.ocpp_transactions import TransactionStore
from control.devices import SunSpecInverterDriver
from control.model import Setpoint
from control.state import SentSetpoint, StateStore
from tests.resilience.control_harness import (
    LimitWatch,
    ServiceProcess,
    SimSite,
    follows,
    free_port,
    landed,
    record_writes,
    until,
    write_plan,
)

PLAN_ID = "restart-plan"
# [W]: the battery's charge and the curtailment keep the export below 50 kW; the site
# imports 24 kW with the plan and would export 136 kW with the curtailment lifted
PLAN = {
    "battery-1": 40_000.0,
    "charger-1": -7_000.0,
    "charger-2": 11_000.0,
    "pv-curtailment": 120_000.0,
}
CYCLE_S, TTL_S = 1, 3
CONTROL_POINTS = (
    "WMaxLimPct",
    "WMaxLim_Ena",
    "WMaxLimPct_RvrtTms",
    "InWRte",
    "OutWRte",
    "StorCtl_Mod",
)


def fell_back(site: SimSite) -> bool:
    """Whether the battery released its setpoint and the stations, their profiles lapsed,
    charge at full power."""
    stations = all(s.power_w == s.ev.max_power_w for s in site.sims.values())
    return site.sunspec.battery.power_w == 0 and stations


async def sent_all(service: ServiceProcess, since: datetime) -> bool:
    """Whether the service acknowledged a setpoint for every planned device since ``since``."""
    body = await service.get("/setpoints")
    sent = {s["device_id"]: s["sent"] for s in (body or {}).get("setpoints", []) if s["sent"]}
    return all(d in sent and datetime.fromisoformat(sent[d]["sent_at_utc"]) >= since for d in PLAN)


def profiles(site: SimSite, station_id: str) -> list[dict]:
    """The SetChargingProfile payloads the station received, in order."""
    return [p for a, p in site.sims[station_id].received if a == "SetChargingProfile"]


async def play(
    site: SimSite, first: ServiceProcess, second: ServiceProcess, watch: LimitWatch
) -> dict:
    """Run, kill, wait for the fallback, restart; what the test checks. The limits are
    watched from the moment the service has the site under control."""
    out: dict = {}
    await first.start()
    t0 = datetime.now(UTC)
    await until(lambda: follows(site, PLAN), 10)
    while not await sent_all(first, t0):
        await asyncio.sleep(0.1)
    watch.start()
    out["before"] = StateStore(site.tmp / "state.json").load()
    out["first_plan"] = await first.get("/plan")
    out["profiles_before"] = {s: len(profiles(site, s)) for s in site.sims}
    out["t_kill"] = time.monotonic()
    await first.kill()
    out["t_fallback"] = await until(lambda: fell_back(site), 2 * TTL_S)
    out["t_restart"], restarted = time.monotonic(), datetime.now(UTC)
    await second.start()
    while not (await sent_all(second, restarted) and follows(site, PLAN)):
        await asyncio.sleep(0.1)
    out["second_plan"] = await second.get("/plan")
    await second.stop()
    out["after"] = StateStore(site.tmp / "state.json").load()
    return out


@pytest.mark.slow
def test_a_killed_service_resumes_its_plan_and_resends_the_same_setpoints(tmp_path):
    # the stations report every 1.5 s, longer than a cycle, as real ones report rarely: the
    # restarted CSMS must know their transactions before they report them again
    site = SimSite(tmp_path, stations={"charger-1": True, "charger-2": False}, meter_interval_s=1.5)
    write_plan(tmp_path / "lake", PLAN_ID, PLAN, timedelta(minutes=15))

    async def go():
        await site.start()
        writes = record_writes(site.sunspec.battery, site.sunspec.inverter)
        env = site.env(free_port(), CYCLE_S, TTL_S)
        first = ServiceProcess(env, tmp_path, tmp_path / "first.log")
        second = ServiceProcess(env, tmp_path, tmp_path / "second.log")
        watch = LimitWatch(site)
        try:
            await first.launch()
            await second.launch()
            await first.imported(90)
            await second.imported(90)
            for station_id in site.sims:
                site.connect_station(station_id)
            async with asyncio.timeout(30):
                out = await play(site, first, second, watch)
        finally:
            await first.stop()
            await second.stop()
            await watch.stop()
            await site.stop()
        return out | {"writes": writes, "watch": watch}

    out = asyncio.run(go())
    watch = out["watch"]
    t_kill, t_restart = out["t_kill"], out["t_restart"]

    # no limit broke, the downtime included, and the devices did fall back meanwhile
    assert watch.violations() == [], (t_kill, t_restart)
    back = min(w.t for w in out["writes"] if w.t > t_restart)
    down = watch.between(t_kill, back)
    assert down and min(abs(s.battery_w) for s in down) == 0.0  # its revert timer ran out
    for station_id, station in site.sims.items():  # the profile's validTo passed: full power
        assert max(s.stations_w[station_id] for s in down) == station.ev.max_power_w

    # resumed from the persisted plan
    assert out["before"].plan_id == out["after"].plan_id == PLAN_ID
    assert out["first_plan"]["plan_id"] == out["second_plan"]["plan_id"] == PLAN_ID
    commands, events = landed(tmp_path / "raw")
    starts = events.filter(event_type="service_start")
    assert [json.loads(d)["restored"] for d in starts["detail"]] == [False, True]
    restart_at = starts["ts_utc"][1]
    second_events = events.filter(events["ts_utc"] >= restart_at)["event_type"].to_list()
    assert "plan_changed" not in second_events  # it went on with the plan it had persisted
    assert events["event_type"].to_list().count("service_stop") == 1  # the kill ran no code

    # the same setpoints once more, marked as a restart
    resent = commands.filter(commands["sent_at_utc"] >= restart_at).filter(send_reason="restart")
    assert sorted(resent["device_id"]) == sorted(PLAN)
    assert dict(zip(resent["device_id"], resent["power_w"], strict=True)) == PLAN
    assert set(resent["plan_id"]) == {PLAN_ID} and set(resent["ack_status"]) == {"Accepted"}

    # on the wire: SunSpec registers written with the values they had before the kill
    for point in CONTROL_POINTS:
        old = {w.raw for w in out["writes"] if w.point == point and w.t < t_kill}
        new = {w.raw for w in out["writes"] if w.point == point and w.t > t_restart}
        assert new and new == old, point
    # OCPP: the restarted CSMS replaces the transaction's profile (same id, purpose, stack
    # level and transaction), bounded by validTo and maxOfflineDuration
    for station_id, station in site.sims.items():
        sent = profiles(site, station_id)[out["profiles_before"][station_id] - 1 :]
        assert len(sent) >= 2
        assert {
            (p["id"], p["charging_profile_purpose"], p["stack_level"], p["transaction_id"])
            for p in sent
        } == {(2, "TxProfile", 1, station.transaction_id)}
        assert all(p["valid_to"] and p["max_offline_duration"] > 0 for p in sent)
        assert station.profile.power_w == PLAN[station_id]


def test_a_restarted_csms_knows_the_transactions_still_open(tmp_path):
    path = tmp_path / "state.ocpp-transactions.json"
    before = TransactionStore()
    before.keep_in(path)
    before.record_event("cp-1", "tx-a", 0, "Started", 1)
    before.record_event("cp-2", "tx-b", 0, "Started", 1)
    before.record_event("cp-2", "tx-b", 1, "Ended", 1)
    tx_16, _ = before.start_16("cp-3", 2, "2025-06-01T12:00:00Z")

    after = TransactionStore()  # the restarted process
    after.keep_in(path)
    assert after.active("cp-1") == ("tx-a", 1)
    assert after.active("cp-2") is None
    assert after.active("cp-3") == (str(tx_16), 2)
    assert after.start_16("cp-3", 2, "2025-06-01T13:00:00Z")[0] == tx_16 + 1  # ids go on


class _HeldInverter:
    """An inverter still holding the previous run's limit: 32 % of 250 kW."""

    client = type("Client", (), {"online": True})()

    def __init__(self) -> None:
        self.limits: list[tuple[float, int]] = []

    async def read(self) -> dict:
        return {"power_w": -80_000.0, "rated_w": 250_000.0, "limit_pct": 32.0}

    async def set_limit_pct(self, pct: float, revert_s: int) -> None:
        self.limits.append((pct, revert_s))


@pytest.mark.parametrize(
    ("resumed_w", "curtail_w", "limit_pct"),
    [
        (120_000.0, 120_000.0, 32.0),  # the same curtailment: the same limit, not 52 %
        (120_000.0, 100_000.0, 40.0),  # a new one, from the same uncurtailed 200 kW
        (None, 120_000.0, 52.0),  # nothing to resume: from the rating (the old behaviour)
    ],
)
def test_a_restarted_inverter_driver_writes_the_limit_of_the_previous_run(
    resumed_w, curtail_w, limit_pct
):
    inverter = _HeldInverter()
    clock = type("Clock", (), {"now": staticmethod(lambda: datetime(2025, 6, 1, tzinfo=UTC))})()
    driver = SunSpecInverterDriver(inverter, clock, hold_s=3600)
    if resumed_w is not None:
        sent_at = clock.now()
        driver.resume(SentSetpoint(resumed_w, sent_at + timedelta(minutes=1), "plan", sent_at))
    asyncio.run(driver.read())
    valid_until = clock.now() + timedelta(seconds=60)
    asyncio.run(driver.send(Setpoint("pv-curtailment", curtail_w, valid_until, "plan")))
    assert inverter.limits == [(pytest.approx(limit_pct), 3600)]  # held for an hour
