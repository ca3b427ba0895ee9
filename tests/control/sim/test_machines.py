"""Simulated MQTT machines: seq, valid_until fail-safe, batched power telemetry, birth/LWT."""

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from control.adapters.mqtt_channel import MqttChannel, MqttChannelSettings, MqttLoad
from control.adapters.mqtt_payloads import Setpoint
from control.mosquitto import SERVICE_USER, MosquittoBroker, private_run_as, site_users
from control.sim.machines import SAMPLE_MACHINES, ManualClock, SimulatedMachine
from ingest.telemetry_landing import TelemetryBatchWriter

SITE = "warehouse-b"
SHREDDER, PRINTERS = SAMPLE_MACHINES
RUN_AS = private_run_as()
T0 = datetime(2025, 3, 27, 10, tzinfo=UTC)


pytestmark = pytest.mark.usefixtures("time_limit_30s")


def wait_until(pred, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def offline_machine(clock):
    return SimulatedMachine(SITE, SHREDDER, "unused", clock=clock)


def test_machine_ignores_seq_at_or_below_the_last_applied():
    clock = ManualClock(T0)
    m = offline_machine(clock)
    until = T0 + timedelta(minutes=15)
    assert m.apply(Setpoint(5, True, until))
    assert not m.apply(Setpoint(5, False, until))
    assert not m.apply(Setpoint(4, False, until))
    assert m.running and m.applied == [5]
    assert [s for s, _ in m.ignored] == [5, 4]
    assert m.apply(Setpoint(6, False, until)) and not m.running


def test_machine_stops_after_valid_until_and_refuses_expired_setpoints():
    clock = ManualClock(T0)
    m = offline_machine(clock)
    assert m.apply(Setpoint(1, True, T0 + timedelta(minutes=15)))
    assert m.power_w() > 0.8 * SHREDDER.rated_power_w
    clock.advance(15 * 60)
    assert m.power_w() == SHREDDER.standby_w and not m.running
    assert not m.apply(Setpoint(2, True, T0 + timedelta(minutes=10)))
    assert m.ignored == [(2, "valid_until passed")]


def test_machines_on_the_wire_follow_setpoints_and_report_power(tmp_path):
    users = site_users(SITE, [m.device_id for m in SAMPLE_MACHINES])
    with MosquittoBroker(tmp_path / "mqtt", users, run_as=RUN_AS) as broker:
        creds = broker.credentials
        settings = MqttChannelSettings(
            SITE, SERVICE_USER, creds[SERVICE_USER], port=broker.port, flush_interval_s=0.05
        )
        with MqttChannel(settings, TelemetryBatchWriter(tmp_path / "raw", "mqtt-sim")) as ch:
            machines = [
                SimulatedMachine(
                    SITE, spec, creds[spec.device_id], port=broker.port, samples_per_message=3
                ).start()
                for spec in SAMPLE_MACHINES
            ]
            wait_until(lambda: all(ch.presence.get(m.device_id) for m in machines))
            load = MqttLoad(ch, SHREDDER.device_id, SHREDDER.rated_power_w)
            asyncio.run(load.set_running(True, datetime.now(UTC) + timedelta(minutes=15)))
            wait_until(lambda: machines[0].running)
            seq = machines[0].last_seq
            wait_until(lambda: ch.states.get(SHREDDER.device_id, {}).get("seq") == seq)
            for m in machines:
                for _ in range(6):
                    m.sample()
            wait_until(lambda: ch.counts.readings_landed == 12)
            assert asyncio.run(load.power()) > 0.8 * SHREDDER.rated_power_w
            assert ch.last_power_w[PRINTERS.device_id] == PRINTERS.standby_w
            assert ch.counts.messages_in == 4  # 3 samples per message
            for m in machines:
                m.stop()
            wait_until(lambda: not any(ch.presence.values()))
