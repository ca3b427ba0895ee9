"""Fault injection: the MQTT broker is SIGKILLed and restarted during 2 minutes of QoS 1
telemetry, and every reading reaches the ``device_telemetry`` lake exactly once.

Real parts on loopback: Debian mosquitto with the project's config, password file, ACL and
persistence (:mod:`control.mosquitto`); the simulated machines publishing their power
(:class:`~control.sim.machines.SimulatedMachine`, one paho client per device); the service's
:class:`~control.adapters.mqtt_channel.MqttChannel` landing raw batch files; the telemetry
sensor and ``telemetry_ingest_job`` moving them into the lake with their checks.

Time is simulated and faster than real time: four machines take one reading per simulated
second for 120 s on a manual clock stepped every 40 ms of wall clock (25× real time), so
the publishing takes about 5 s and the whole test about 15-25 s of wall clock.
"""

import logging
import time
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets_defs.site.assets import device_telemetry
from assets_defs.site.checks import device_telemetry_checks
from assets_defs.site.sensors import ingest_telemetry_batches_sensor, telemetry_ingest_job
from control.adapters.mqtt_channel import MqttChannel, MqttChannelSettings
from control.adapters.mqtt_payloads import encode_readings
from control.mosquitto import SERVICE_USER, MosquittoBroker, private_run_as, site_users
from control.sim.machines import (
    CRITICAL_MACHINES,
    SAMPLE_MACHINES,
    ManualClock,
    SimulatedMachine,
    connect,
    mqtt_client,
)
from ingest.telemetry_landing import TelemetryBatchWriter
from novaenergy.demo import QUIET, instance_with_sites, resources_for
from pipelines import lake
from tests.demo_lake import week_settings

SITE = "warehouse-b"
DAY = date(2025, 3, 27)
T0 = datetime(2025, 3, 27, 10, tzinfo=UTC)
MACHINES = (*SAMPLE_MACHINES, *CRITICAL_MACHINES)
DURATION_S = 120  # simulated seconds of telemetry, one reading per machine each
KILL_AT_S = 60  # simulated second at which the broker is SIGKILLed
OUTAGE_STEPS = 15  # simulated seconds (600 ms of wall clock) without a broker
STEP_WALL_S = 0.04  # wall-clock pause per simulated second [s]
WRITER = "mqtt-warehouse-b"
Key = tuple[str, datetime, str]


pytestmark = pytest.mark.usefixtures("time_limit_90s")


def wait_for(predicate, timeout_s: float) -> bool:
    """Poll ``predicate`` until true or ``timeout_s`` [s] passed; returns the last result."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def service_channel(
    broker: MosquittoBroker, raw_root: str, reconnect_s: float = 0.1, flush_interval_s: float = 0.1
) -> MqttChannel:
    """The service's channel, retrying every ``reconnect_s`` [s], landing every
    ``flush_interval_s`` [s]."""
    settings = MqttChannelSettings(
        SITE,
        SERVICE_USER,
        broker.credentials[SERVICE_USER],
        port=broker.port,
        keepalive_s=5,
        reconnect_min_s=reconnect_s,
        reconnect_max_s=reconnect_s,
        flush_interval_s=flush_interval_s,
    )
    return MqttChannel(settings, TelemetryBatchWriter(raw_root, WRITER))


def publish_with_broker_crash(broker, machines, clock) -> tuple[set[Key], dict[str, int]]:
    """Sample every machine once per simulated second; kill and restart the broker midway.

    Returns the published keys and, per machine, the messages paho held unacknowledged
    when the broker came back.
    """
    published: set[Key] = set()
    held: dict[str, int] = {}
    for second in range(DURATION_S):
        if second == KILL_AT_S:
            broker.kill()
        if second == KILL_AT_S + OUTAGE_STEPS:
            held = {m.device_id: m.unacked() for m in machines}
            broker.start()  # same port, files rewritten alike, persistence db kept
        for m in machines:
            m.sample()
            published.add((m.device_id, clock.now(), "power_w"))
        clock.advance(1.0)
        time.sleep(STEP_WALL_S)
    return published, held


def raw_batches(raw_root: str) -> pl.DataFrame:
    """Every row of every telemetry batch file the channel landed, duplicates included."""
    files = sorted((Path(raw_root) / "telemetry").rglob("*.parquet"))
    return pl.concat([pl.read_parquet(f) for f in files])


def ingest_into_lake(settings) -> dg.ExecuteInProcessResult:
    """One sensor tick, then the run it requests: the production path into the lake."""
    resources = resources_for(settings)
    instance = instance_with_sites([SITE])
    ctx = dg.build_sensor_context(
        resources={"lake_store": resources["lake_store"]}, instance=instance
    )
    requests = ingest_telemetry_batches_sensor(ctx)
    assert [r.partition_key for r in requests] == [f"{DAY}|{SITE}"]
    defs = dg.Definitions(
        assets=[device_telemetry],
        asset_checks=[device_telemetry_checks],
        jobs=[telemetry_ingest_job],
        resources=resources,
    )
    return defs.resolve_job_def("telemetry_ingest_job").execute_in_process(
        partition_key=requests[0].partition_key, run_config=QUIET, instance=instance
    )


def test_broker_killed_mid_telemetry_loses_and_duplicates_no_reading(tmp_path, caplog):
    """The service retries every 2 s and the machines after 0.2, 0.6, 1.4 s, so the
    machines are back first: the restarted broker queues their telemetry in the
    service's session, restored from the autosave made before the kill."""
    caplog.set_level(logging.INFO, logger="control.adapters.mqtt_channel")
    settings = week_settings(tmp_path)
    users = site_users(SITE, [m.device_id for m in MACHINES])
    clock = ManualClock(T0)
    with MosquittoBroker(tmp_path / "mqtt", users, run_as=private_run_as()) as broker:
        channel = service_channel(broker, settings.raw_root, reconnect_s=2.0).start()
        machines = [
            SimulatedMachine(
                SITE,
                spec,
                broker.credentials[spec.device_id],
                port=broker.port,
                clock=clock,
                samples_per_message=1,
            ).start()
            for spec in MACHINES
        ]
        try:
            # births seen: the subscriptions are in place; then let autosave persist them
            assert wait_for(lambda: len(channel.presence) == len(MACHINES), 5)
            broker.wait_saved()
            first_pid = broker.pid
            published, held = publish_with_broker_crash(broker, machines, clock)
            restarted_pid = broker.pid
            delivered = {m.device_id: m.wait_delivered(20) for m in machines}
            wait_for(lambda: channel.counts.readings_landed >= len(published), 15)
            time.sleep(0.5)  # redeliveries still on their way are counted too
            channel.flush()
        finally:
            for m in machines:
                m.stop()
            channel.stop()
    counts = channel.counts

    assert len(published) == len(MACHINES) * DURATION_S == 480
    assert restarted_pid not in (None, first_pid) and channel.connects == 2
    assert "session present: True, connect #2" in caplog.text
    assert all(delivered.values()), delivered
    assert all(n > 0 for n in held.values()), f"published during the outage, held: {held}"
    assert (counts.readings_rejected, counts.messages_rejected) == (0, 0)
    assert counts.readings_in == counts.readings_landed + counts.readings_duplicate
    raw = raw_batches(settings.raw_root)
    assert raw.height == counts.readings_landed >= len(published)

    result = ingest_into_lake(settings)
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    # complete_intervals (a warning) wants a sample in every 15 min of the day per series;
    # two minutes of 1 Hz telemetry is not a whole day, and not what this test is about
    checks.pop("device_telemetry_complete_intervals")
    assert set(checks) == {
        "device_telemetry_" + c for c in ("schema", "value_ranges", "unique_key")
    }
    assert all(checks.values()), checks

    lake_rows = lake.read_partition(settings.lake_root, "device_telemetry", SITE, DAY)
    keys = lake_rows.select("device_id", "ts_utc", "metric")
    assert keys.is_unique().all()
    assert set(keys.iter_rows()) == published
    per_device = dict(lake_rows.group_by("device_id").len().iter_rows())
    assert per_device == {m.device_id: DURATION_S for m in MACHINES}
    standby = dict(lake_rows.group_by("device_id").agg(pl.col("value").max()).iter_rows())
    assert standby == {m.device_id: m.standby_w for m in MACHINES}


def test_a_new_reading_older_than_the_newest_landed_is_not_taken_for_a_redelivery(tmp_path):
    """After a reconnect paho resends unacknowledged messages only once the CONNACK is in,
    behind any message published while connecting, so a series can arrive out of time
    order. Only a reading whose key was landed already is a duplicate."""
    spec = SAMPLE_MACHINES[0]
    users = site_users(SITE, [spec.device_id])
    with MosquittoBroker(tmp_path / "mqtt", users, run_as=private_run_as()) as broker:
        channel = service_channel(broker, str(tmp_path / "raw"), flush_interval_s=0.02)
        device = mqtt_client("t-device", spec.device_id, broker.credentials[spec.device_id])
        topic = channel.topics.telemetry(spec.device_id)
        newer = [(T0.replace(second=s), "power_w", 2000.0 + s, "W") for s in range(10, 15)]
        older = [(T0.replace(second=s), "power_w", 1000.0 + s, "W") for s in range(5)]
        with channel:
            connect(device, broker.host, broker.port, clean_start=True)
            try:
                for readings, landed in ((newer, 5), (older, 10), (newer, 10)):
                    device.publish(topic, encode_readings(readings), qos=1).wait_for_publish(5)
                    assert wait_for(lambda n=landed: channel.counts.readings_landed == n, 5)
                assert wait_for(lambda: channel.counts.readings_duplicate == 5, 5)
            finally:
                device.disconnect()
                device.loop_stop()
    assert (channel.counts.readings_landed, channel.counts.readings_duplicate) == (10, 5)
    assert channel.last_power_w[spec.device_id] == 2014.0  # the newest, not the last to arrive
