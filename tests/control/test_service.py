"""The dispatch loop on fake drivers, a fake clock and a stub policy (control.policy's contract)."""

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from control.commands import COMMANDS, EVENTS, CommandRecorder, read_landed
from control.devices import DeviceRegistry, FakeDriver
from control.model import Decision, DeviceLimit, GridState, PlanSlot, Setpoint, SiteLimits
from control.service import ControlService, ServiceConfig
from control.state import StateStore

T0 = datetime(2025, 6, 1, 12, 0, 10, tzinfo=UTC)
SITE = "site-a"
LIMITS = SiteLimits(
    max_import_w=400_000,
    max_export_w=50_000,
    devices={
        "battery-1": DeviceLimit("battery-1", "battery", -100_000, 100_000),
        "charger-1": DeviceLimit("charger-1", "charger", -11_000, 11_000),
        "load-3dprinters": DeviceLimit("load-3dprinters", "load", 0, 30_000, shed_priority=1),
    },
)


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.t = now

    def now(self) -> datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


@dataclass
class FakePlanSource:
    plan: PlanSlot | None = None

    def slot_at(self, now):
        return self.plan


def stub_decide(plan, snapshot, limits, overrides, now, config, island=None):
    """control.policy.decide reduced to the rules these tests need: island setpoints, else
    override, else plan, else 0 W as safe default; valid for 15 minutes."""
    until = now + timedelta(minutes=15)
    if island is not None and island.mode != "grid":
        setpoints = {d: Setpoint(d, p, until, "island") for d, p in island.setpoints.items()}
        return Decision(setpoints, mode=island.mode)
    overrides = {o.device_id: o for o in overrides if o.expires_at > now}
    out = {}
    for d in limits.devices:
        if d in overrides:
            out[d] = Setpoint(d, overrides[d].power_w, until, "override")
        elif plan is not None and d in plan.power_w:
            out[d] = Setpoint(d, plan.power_w[d], until, "plan")
        else:
            out[d] = Setpoint(d, 0.0, until, "safe_default")
    return Decision(out)


def plan_slot(powers, plan_id="p1"):
    start = T0.replace(second=0)
    return PlanSlot(plan_id, start, start + timedelta(minutes=15), powers)


PLAN = {"battery-1": 5000.0, "charger-1": 7000.0, "load-3dprinters": 30000.0}


def build(tmp_path, clock, plan=PLAN, drivers=None, **cfg):
    drivers = drivers or {d: FakeDriver(d, clock) for d in LIMITS.devices}
    source = FakePlanSource(plan_slot(plan) if plan else None)
    grid = cfg.pop("grid", None)
    service = ControlService(
        ServiceConfig(SITE, LIMITS, **cfg),
        clock,
        source,
        DeviceRegistry(drivers, grid=grid),
        stub_decide,
        CommandRecorder(tmp_path / "raw", SITE),
        StateStore(tmp_path / "state.json"),
    )
    return service, drivers, source


def run(coro, timeout_s=10):
    return asyncio.run(asyncio.wait_for(coro, timeout_s))


def commands(tmp_path):
    return read_landed(tmp_path / "raw", COMMANDS, SITE, [T0.date()]).sort("sent_at_utc")


def events(tmp_path):
    return read_landed(tmp_path / "raw", EVENTS, SITE, [T0.date()]).sort("ts_utc")


def test_plan_is_followed_and_every_command_is_recorded_with_its_ack(tmp_path):
    clock = FakeClock()
    service, drivers, _ = build(tmp_path, clock)
    run(service.tick())
    assert {d: [s.power_w for s in f.sent] for d, f in drivers.items()} == {
        d: [p] for d, p in PLAN.items()
    }
    rows = commands(tmp_path)
    assert rows.height == 3
    assert set(rows["ack_status"]) == {"Accepted"} and set(rows["plan_id"]) == {"p1"}
    assert set(rows["send_reason"]) == {"new"} and set(rows["protocol"]) == {"fake"}
    assert rows["acked_at_utc"].null_count() == 0
    assert json.loads(rows.filter(device_id="charger-1")["payload"][0])["power_w"] == 7000.0
    assert "plan_changed" in events(tmp_path)["event_type"].to_list()


def test_unchanged_setpoints_are_resent_only_close_to_expiry_and_changes_go_out(tmp_path):
    clock = FakeClock()
    service, drivers, source = build(tmp_path, clock, cycle_s=5)
    run(service.tick())
    clock.advance(5)
    run(service.tick())
    assert all(len(f.sent) == 1 for f in drivers.values())
    source.plan = plan_slot({**PLAN, "battery-1": -2000.0})
    clock.advance(5)
    run(service.tick())
    assert [s.power_w for s in drivers["battery-1"].sent] == [5000.0, -2000.0]
    assert len(drivers["charger-1"].sent) == 1
    clock.advance(14 * 60)  # the first charger setpoint now expires within 2 minutes
    run(service.tick())
    assert len(drivers["charger-1"].sent) == 2
    assert commands(tmp_path)["send_reason"].to_list()[-3:].count("expiring") >= 1


def test_stale_plan_sends_the_safe_default(tmp_path):
    clock = FakeClock()
    service, drivers, _ = build(tmp_path, clock, plan=None)
    run(service.tick())
    assert {f.sent[0].source for f in drivers.values()} == {"safe_default"}
    assert {f.sent[0].power_w for f in drivers.values()} == {0.0}
    assert commands(tmp_path)["plan_id"].null_count() == 3


def test_a_device_that_raises_is_marked_offline_and_the_others_are_served(tmp_path):
    clock = FakeClock()
    drivers = {d: FakeDriver(d, clock) for d in LIMITS.devices}
    drivers["charger-1"].fail_send = True
    drivers["load-3dprinters"].fail_read = True
    service, _, _ = build(tmp_path, clock, drivers=drivers, retry_s=30)
    run(service.tick())
    assert [s.power_w for s in drivers["battery-1"].sent] == [5000.0]
    assert not service.devices["charger-1"].state.online
    assert not service.devices["load-3dprinters"].state.online
    assert "load-3dprinters" in service.devices["load-3dprinters"].error
    rows = commands(tmp_path)
    assert rows.filter(device_id="charger-1")["ack_status"].to_list() == ["error"]
    offline = events(tmp_path).filter(event_type="device_offline")["device_id"].to_list()
    assert sorted(offline) == ["charger-1", "load-3dprinters"]
    # back: the charger is retried after retry_s, the load as soon as it reads again
    drivers["charger-1"].fail_send = False
    drivers["load-3dprinters"].fail_read = False
    clock.advance(5)
    run(service.tick())
    assert [s.power_w for s in drivers["load-3dprinters"].sent] == [30000.0]
    assert drivers["charger-1"].sent == []
    clock.advance(30)
    run(service.tick())
    assert [s.power_w for s in drivers["charger-1"].sent] == [7000.0]
    assert "device_online" in events(tmp_path)["event_type"].to_list()


def test_a_hanging_device_times_out_without_stalling_the_cycle(tmp_path):
    clock = FakeClock()

    class Hanging(FakeDriver):
        async def send(self, setpoint):
            await asyncio.sleep(60)

    drivers = {d: FakeDriver(d, clock) for d in LIMITS.devices}
    drivers["charger-1"] = Hanging("charger-1", clock)
    service, _, _ = build(tmp_path, clock, drivers=drivers, io_timeout_s=0.2)
    run(service.tick(), timeout_s=5)
    assert commands(tmp_path).filter(device_id="charger-1")["ack_status"].to_list() == ["timeout"]
    assert len(drivers["battery-1"].sent) == 1


def test_restart_resumes_from_state_and_resends_once(tmp_path):
    clock = FakeClock()
    service, drivers, _ = build(tmp_path, clock)
    service.set_override("battery-1", -4000.0, T0 + timedelta(hours=1), "peak shaving test")
    run(service.tick())
    del service  # the process dies

    clock.advance(20)
    again, drivers2, _ = build(tmp_path, clock)
    assert again.state.plan_id == "p1"
    assert again.overrides()["battery-1"].power_w == -4000.0
    run(again.tick())
    assert {d: [(s.power_w, s.source) for s in f.sent] for d, f in drivers2.items()} == {
        "battery-1": [(-4000.0, "override")],
        "charger-1": [(7000.0, "plan")],
        "load-3dprinters": [(30000.0, "plan")],
    }
    clock.advance(5)
    run(again.tick())
    assert all(len(f.sent) == 1 for f in drivers2.values())
    rows = commands(tmp_path)
    assert rows["send_reason"].to_list()[-3:] == ["restart"] * 3
    assert rows.height == 6


def test_override_wins_until_it_expires(tmp_path):
    clock = FakeClock()
    service, drivers, _ = build(tmp_path, clock)
    service.set_override("charger-1", 0.0, T0 + timedelta(seconds=30), "driver request")
    run(service.tick())
    assert drivers["charger-1"].sent[-1].source == "override"
    clock.advance(31)
    run(service.tick())
    assert (drivers["charger-1"].sent[-1].power_w, drivers["charger-1"].sent[-1].source) == (
        7000.0,
        "plan",
    )
    kinds = events(tmp_path)["event_type"].to_list()
    assert "override_set" in kinds and "override_expired" in kinds
    assert service.overrides() == {}


def test_policy_failure_sends_nothing_and_is_an_event(tmp_path):
    clock = FakeClock()
    service, drivers, _ = build(tmp_path, clock)

    def broken(*args):
        raise RuntimeError("bug")

    service.policy = broken
    assert run(service.tick()) is None
    assert all(f.sent == [] for f in drivers.values())
    assert "policy_error" in events(tmp_path)["event_type"].to_list()


def test_island_transitions_are_events_persisted_and_drive_the_setpoints(tmp_path):
    from control.island import IslandConfig
    from control.policy import PolicyConfig, decide

    clock = FakeClock()
    grid = {"state": GridState(power_w=1000.0, frequency_hz=50.0, at=T0)}

    async def read_grid():
        return grid["state"]

    drivers = {d: FakeDriver(d, clock, soc_pct=80.0) for d in LIMITS.devices}
    service, _, _ = build(
        tmp_path,
        clock,
        drivers=drivers,
        island=IslandConfig(resync_delay_s=10),
        grid=read_grid,
        policy_config=PolicyConfig(),
    )
    service.policy = decide
    run(service.tick())
    assert service.state.mode == "grid"
    clock.advance(5)
    grid["state"] = GridState(power_w=0.0, frequency_hz=47.0, at=clock.now())
    run(service.tick())
    assert service.state.mode == "island"
    assert drivers["load-3dprinters"].sent[-1].power_w == 0.0
    assert drivers["load-3dprinters"].sent[-1].source == "island"
    reloaded = StateStore(tmp_path / "state.json").load()
    assert reloaded.mode == "island" and reloaded.island["shed"] == ["load-3dprinters"]
    ev = events(tmp_path).filter(event_type="island_transition")
    assert json.loads(ev["detail"][0])["to"] == "island"


def test_run_ticks_until_stopped_and_records_start_and_stop(tmp_path):
    clock = FakeClock()
    service, _, _ = build(tmp_path, clock, cycle_s=0.02)

    async def go():
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        while service.ticks < 3:
            await asyncio.sleep(0.01)
        stop.set()
        await task

    run(go(), timeout_s=5)
    kinds = events(tmp_path)["event_type"].to_list()
    assert kinds.count("service_start") == 1 and kinds.count("service_stop") == 1


def test_the_real_policy_follows_the_plan_and_falls_back_to_its_safe_default(tmp_path):
    from control.policy import PolicyConfig, decide

    clock = FakeClock()
    service, drivers, source = build(tmp_path, clock, policy_config=PolicyConfig(plan_grace_s=60))
    service.policy = decide
    run(service.tick())
    assert {d: f.sent[-1].power_w for d, f in drivers.items()} == PLAN
    source.plan = None
    clock.advance(5)
    run(service.tick())
    assert {f.sent[-1].source for f in drivers.values()} == {"safe_default"}
    assert drivers["battery-1"].sent[-1].power_w == 0.0
    drivers["charger-1"].fail_read = True  # offline: the policy says so, nothing is sent
    clock.advance(120)
    run(service.tick())
    assert service.decision.setpoints["charger-1"].source == "offline"
    assert drivers["charger-1"].sent[-1].source == "safe_default"
