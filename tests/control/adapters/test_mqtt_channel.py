"""The service's MQTT channel against Debian mosquitto: landing, setpoints, presence,
persistent sessions across a broker restart, and a broker that disappears."""

import logging
import time
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from control.adapters.mqtt_channel import MqttChannel, MqttChannelSettings, SetpointError
from control.adapters.mqtt_payloads import Setpoint, decode_telemetry_batch, encode_readings
from control.mosquitto import SERVICE_USER, MosquittoBroker, private_run_as, site_users
from control.sim.machines import SAMPLE_MACHINES, SimulatedMachine, connect, mqtt_client
from ingest.telemetry_landing import TelemetryBatchWriter

SITE = "warehouse-b"
DEVICES = [m.device_id for m in SAMPLE_MACHINES]
SHREDDER, PRINTERS = SAMPLE_MACHINES
RUN_AS = private_run_as()
T0 = datetime(2025, 3, 27, 10, tzinfo=UTC)


pytestmark = pytest.mark.usefixtures("time_limit_30s")


@pytest.fixture
def broker(tmp_path):
    with MosquittoBroker(tmp_path / "mqtt", site_users(SITE, DEVICES), run_as=RUN_AS) as b:
        yield b


def channel(broker, raw_root, **kw) -> MqttChannel:
    settings = MqttChannelSettings(
        SITE,
        SERVICE_USER,
        broker.credentials[SERVICE_USER],
        port=broker.port,
        keepalive_s=5,
        reconnect_min_s=0.1,
        reconnect_max_s=0.5,
        flush_interval_s=0.05,
        **kw,
    )
    return MqttChannel(settings, TelemetryBatchWriter(raw_root, "mqtt-test"))


def device(broker, device_id, clean_start=True):
    client = mqtt_client(f"t-{device_id}", device_id, broker.credentials[device_id])
    connect(client, broker.host, broker.port, clean_start=clean_start)
    return client


def wait_until(pred, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def readings(start, n, step_s=1.0):
    return [(start + timedelta(seconds=i * step_s), "power_w", 1000.0 + i, "W") for i in range(n)]


def landed(raw_root) -> pl.DataFrame:
    files = sorted((raw_root / "telemetry").rglob("*.parquet"))
    return pl.concat([pl.read_parquet(f) for f in files]) if files else pl.DataFrame()


def publish_all(client, topic, payloads):
    infos = [client.publish(topic, p, qos=1) for p in payloads]
    for info in infos:
        info.wait_for_publish(10)
        assert info.is_published()


def test_batched_telemetry_lands_and_bad_messages_are_counted(broker, tmp_path, caplog):
    raw = tmp_path / "raw"
    ch = channel(broker, raw).start()
    dev = device(broker, SHREDDER.device_id)
    topic = ch.topics.telemetry(SHREDDER.device_id)
    bad_reading = (
        b'[{"ts_utc":"2025-03-27T11:00:00Z","metric":"power_w","value":"high","unit":"W"}]'
    )
    try:
        with caplog.at_level(logging.WARNING):
            publish_all(
                dev,
                topic,
                [
                    encode_readings(readings(T0, 50)),
                    b"not json",
                    encode_readings(readings(T0 + timedelta(minutes=1), 30)),
                    bad_reading,
                    encode_readings(readings(T0, 5)),  # a replay of the first batch
                ],
            )
            wait_until(lambda: ch.counts.messages_decoded == 5)
    finally:
        dev.disconnect()
        ch.stop()
    c = ch.counts
    assert (c.messages_in, c.messages_rejected) == (5, 1)
    assert (c.readings_in, c.readings_landed, c.readings_rejected, c.readings_duplicate) == (
        86,
        80,
        1,
        5,
    )
    frame = landed(raw)
    assert frame.height == 80 and frame["ts_utc"].n_unique() == 80
    assert set(frame["device_id"]) == {SHREDDER.device_id} and set(frame["site_id"]) == {SITE}
    assert (raw / "telemetry" / SITE / "2025-03-27").is_dir()
    assert "not JSON" in caplog.text and "is not a finite number" in caplog.text


GOOD = b'{"ts_utc":"2025-03-27T10:00:00Z","metric":"power_w","value":5,"unit":"W"}'
ODD_BUT_PARSEABLE = {
    "single object": GOOD,
    "offset": b'[{"ts_utc":"2025-03-27T12:00:01.5+02:00","metric":"power_w","value":1.5,"unit":"W"}]',
    "naive ts": b'[{"ts_utc":"2025-03-27T10:00:02","metric":"power_w","value":1,"unit":"W"}]',
    "no metric": b'[{"ts_utc":"2025-03-27T10:00:03Z","value":1,"unit":"W"}]',
    "empty list": b"[]",
    "null": b"null",
    "no unit": b'[{"ts_utc":"2025-03-27T10:00:04Z","metric":"power_w","value":1}]',
}


def test_fast_and_strict_decoding_agree():
    messages = [("m1", p) for p in ODD_BUT_PARSEABLE.values()]
    fast = decode_telemetry_batch(SITE, messages)
    strict = decode_telemetry_batch(SITE, [*messages, ("m1", b"not json")])  # forces strict
    assert fast.frame.height == 2 and fast.frame.equals(strict.frame)
    assert (fast.readings_in, fast.readings_rejected, fast.messages_rejected) == (5, 3, 1)
    assert (strict.readings_in, strict.readings_rejected, strict.messages_rejected) == (5, 3, 2)
    assert fast.frame["ts_utc"].to_list()[1] == T0 + timedelta(seconds=1.5)


def test_setpoint_outside_the_acl_is_surfaced_as_not_authorised(broker, tmp_path):
    with channel(broker, tmp_path / "raw") as ch:
        with pytest.raises(SetpointError) as refused:
            ch.publish_setpoint("load-elsewhere", True, datetime.now(UTC) + timedelta(minutes=5))
        assert refused.value.reason_code == 0x87
        assert "Not authorized" in str(refused.value)
        with pytest.raises(ValueError, match="expired"):
            ch.publish_setpoint(PRINTERS.device_id, True, datetime.now(UTC) - timedelta(seconds=1))


def test_setpoint_reaches_the_machine_with_seq_and_expiry(broker, tmp_path):
    received = []
    dev = mqtt_client("t-printers", PRINTERS.device_id, broker.credentials[PRINTERS.device_id])
    dev.on_message = lambda c, u, msg: received.append(msg)
    connect(dev, broker.host, broker.port, clean_start=True)
    dev.subscribe(f"novaenergy/{SITE}/{PRINTERS.device_id}/setpoint", qos=1)
    try:
        with channel(broker, tmp_path / "raw") as ch:
            time.sleep(0.1)  # let the SUBACK settle
            until = datetime.now(UTC) + timedelta(seconds=90)
            first = ch.publish_setpoint(PRINTERS.device_id, True, until, power_w=30_000.0)
            second = ch.publish_setpoint(PRINTERS.device_id, False, until)
            wait_until(lambda: len(received) == 2)
    finally:
        dev.disconnect()
        dev.loop_stop()
    assert second.seq > first.seq
    decoded = [Setpoint.decode(m.payload) for m in received]
    assert [(s.seq, s.running) for s in decoded] == [(first.seq, True), (second.seq, False)]
    assert decoded[0].power_w == 30_000.0 and decoded[0].valid_until == until
    assert 80 <= received[0].properties.MessageExpiryInterval <= 90
    assert received[0].qos == 1


def test_presence_follows_birth_and_last_will(broker, tmp_path):
    seen = []
    ch = channel(broker, tmp_path / "raw")
    ch.on_presence = lambda dev, online: seen.append((dev, online))
    with ch:
        machine = SimulatedMachine(
            SITE, SHREDDER, broker.credentials[SHREDDER.device_id], port=broker.port
        ).start()
        wait_until(lambda: ch.presence.get(SHREDDER.device_id) is True)
        machine.crash()  # no DISCONNECT: the broker publishes the LWT
        wait_until(lambda: ch.presence.get(SHREDDER.device_id) is False)
    assert (SHREDDER.device_id, True) in seen and seen[-1] == (SHREDDER.device_id, False)


def test_qos1_telemetry_survives_service_absence_and_broker_restart(broker, tmp_path):
    raw = tmp_path / "raw"
    ch = channel(broker, raw).start()  # creates the persistent session and subscriptions
    ch.stop()
    dev = device(broker, PRINTERS.device_id)
    publish_all(
        dev,
        ch.topics.telemetry(PRINTERS.device_id),
        [encode_readings(readings(T0 + timedelta(minutes=i), 10, 6)) for i in range(40)],
    )
    dev.disconnect()
    dev.loop_stop()
    broker.stop()  # SIGTERM: mosquitto writes its persistence db
    broker.start()
    again = channel(broker, raw).start()
    try:
        wait_until(lambda: again.counts.readings_landed == 400)
        time.sleep(0.2)  # nothing more may arrive
    finally:
        again.stop()
    c = again.counts
    assert (c.messages_in, c.readings_landed, c.readings_duplicate, c.readings_rejected) == (
        40,
        400,
        0,
        0,
    )
    frame = landed(raw)
    assert frame.height == 400 and frame.select("device_id", "metric", "ts_utc").is_unique().all()


def test_service_survives_a_broker_that_disappears(broker, tmp_path, caplog):
    raw = tmp_path / "raw"
    with caplog.at_level(logging.INFO), channel(broker, raw) as ch:
        dev = device(broker, SHREDDER.device_id)
        publish_all(
            dev, ch.topics.telemetry(SHREDDER.device_id), [encode_readings(readings(T0, 5))]
        )
        dev.loop_stop()
        broker.kill()  # gone without a word
        wait_until(lambda: not ch.connected.is_set())
        time.sleep(0.3)  # a few failed reconnects with backoff
        broker.start()
        wait_until(lambda: ch.connected.is_set() and ch.connects == 2)
        dev = device(broker, SHREDDER.device_id)
        later = encode_readings(readings(T0 + timedelta(minutes=5), 5))
        publish_all(dev, ch.topics.telemetry(SHREDDER.device_id), [later])
        dev.disconnect()
        dev.loop_stop()
        wait_until(lambda: ch.counts.readings_landed == 10)
    assert "connection lost" in caplog.text
    assert landed(raw).height == 10
