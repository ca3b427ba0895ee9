"""Debian mosquitto from the generated files: auth, ACL, persistence, stop by PID."""

import os
import socket
import threading

import pytest

from control.mosquitto import (
    SERVICE_USER,
    BrokerError,
    MosquittoBroker,
    acl_text,
    private_run_as,
    site_users,
)
from control.sim.machines import ConnectRefused, connect, mqtt_client

SITE = "warehouse-b"
DEVICES = ["load-shredder-2", "load-3dprinters"]
RUN_AS = private_run_as()


pytestmark = pytest.mark.usefixtures("time_limit_30s")


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    users = site_users(SITE, DEVICES)
    with MosquittoBroker(tmp_path_factory.mktemp("mqtt"), users, run_as=RUN_AS) as b:
        yield b


def client_for(broker, user, client_id=None):
    password = broker.credentials[user] if user else None
    return mqtt_client(client_id or f"t-{user}-{os.urandom(3).hex()}", user, password)


def test_config_is_loopback_without_anonymous_access(broker):
    conf = (broker.workdir / "mosquitto.conf").read_text().splitlines()
    assert f"listener {broker.port} 127.0.0.1" in conf
    assert "allow_anonymous false" in conf
    assert "persistence true" in conf
    assert (
        "load-3dprinters:" in (broker.workdir / "passwd").read_text()
    )  # hashed by mosquitto_passwd


def test_acl_gives_each_device_only_its_own_topics():
    text = acl_text(site_users(SITE, ["m1"], passwords={"m1": "x", SERVICE_USER: "y"}))
    assert "user m1\ntopic read novaenergy/warehouse-b/m1/setpoint\n" in text
    assert "topic write novaenergy/warehouse-b/m1/telemetry" in text
    assert "topic write novaenergy/warehouse-b/m1/setpoint" in text  # the service's line
    assert "#" not in text


def test_anonymous_client_is_refused(broker):
    with pytest.raises(ConnectRefused) as refused:
        connect(client_for(broker, None), broker.host, broker.port, clean_start=True)
    assert refused.value.reason_code in (0x86, 0x87)


def test_wrong_password_is_refused(broker):
    client = mqtt_client("t-wrong", "load-3dprinters", "not-the-password")
    with pytest.raises(ConnectRefused) as refused:
        connect(client, broker.host, broker.port, clean_start=True)
    assert refused.value.reason_code in (0x86, 0x87)


def test_publish_outside_the_acl_is_not_authorised(broker):
    device = client_for(broker, "load-3dprinters")
    codes, done = [], threading.Event()
    device.on_publish = lambda c, u, mid, rc, props: (codes.append(rc.value), done.set())
    connect(device, broker.host, broker.port, clean_start=True)
    try:
        device.publish("novaenergy/warehouse-b/load-shredder-2/telemetry", b"[]", qos=1)
        assert done.wait(5)
        assert codes == [0x87]
    finally:
        device.disconnect()
        device.loop_stop()


def test_device_reads_only_its_own_setpoint_topic(broker):
    device = client_for(broker, "load-3dprinters")
    got, subscribed = [], threading.Event()
    device.on_message = lambda c, u, msg: got.append(msg.topic)
    device.on_subscribe = lambda c, u, mid, rcs, props: subscribed.set()
    connect(device, broker.host, broker.port, clean_start=True)
    service = client_for(broker, SERVICE_USER)
    connect(service, broker.host, broker.port, clean_start=True)
    try:
        device.subscribe(
            [
                ("novaenergy/warehouse-b/load-3dprinters/setpoint", 1),
                ("novaenergy/warehouse-b/load-shredder-2/setpoint", 1),
            ]
        )
        assert subscribed.wait(5)
        other = service.publish("novaenergy/warehouse-b/load-shredder-2/setpoint", b"x", qos=1)
        own = service.publish("novaenergy/warehouse-b/load-3dprinters/setpoint", b"y", qos=1)
        other.wait_for_publish(5)
        own.wait_for_publish(5)
        deadline = threading.Event()
        for _ in range(50):
            if got:
                break
            deadline.wait(0.05)
        deadline.wait(0.1)  # the other device's setpoint would have arrived first
        assert got == ["novaenergy/warehouse-b/load-3dprinters/setpoint"]
    finally:
        for c in (device, service):
            c.disconnect()
            c.loop_stop()


def test_stop_by_pid_frees_the_port_and_restart_reuses_it(tmp_path):
    b = MosquittoBroker(tmp_path, site_users(SITE, DEVICES), run_as=RUN_AS).start()
    pid, port = b.pid, b.port
    assert pid is not None
    b.stop()
    assert b.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        pass
    with b:
        assert b.port == port and b.pid not in (None, pid)


def test_a_broker_that_cannot_listen_is_an_error(tmp_path, broker):
    clash = MosquittoBroker(tmp_path, site_users(SITE, DEVICES), port=broker.port, run_as=RUN_AS)
    with pytest.raises(BrokerError, match="in use"):
        clash.start(timeout_s=5)
