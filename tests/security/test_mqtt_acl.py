"""mosquitto from the config the project writes (``control.mosquitto``): who may connect,
publish and read. Uses the broker of ``tests/control/test_mosquitto.py``, which already
asserts: anonymous refused, a wrong password refused, another device's telemetry not
publishable, another device's setpoint not delivered. Added here: the whole publish table
of a device, everything a device could read (wildcards included), and more bad logins."""

import threading
import time

import pytest

from control.mosquitto import SERVICE_USER
from control.sim.machines import ConnectRefused, connect, mqtt_client
from tests.control.test_mosquitto import broker, client_for  # noqa: F401 - the fixture

pytestmark = pytest.mark.usefixtures("time_limit_30s")

ME, OTHER = "load-3dprinters", "load-shredder-2"
SITE = "novaenergy/warehouse-b"
ALLOWED, NOT_AUTHORISED = "allowed", "not authorised"


def _outcome(puback_reason_code: int) -> str:
    """A PUBACK's verdict: success codes (0x00, 0x10 no subscribers) are below 0x80."""
    if puback_reason_code < 0x80:
        return ALLOWED
    return NOT_AUTHORISED if puback_reason_code == 0x87 else hex(puback_reason_code)


def _connected(broker, user):  # noqa: F811
    client = client_for(broker, user)
    connect(client, broker.host, broker.port, clean_start=True)
    return client


def _close(*clients) -> None:
    for c in clients:
        c.disconnect()
        c.loop_stop()


def test_a_device_publishes_only_its_own_telemetry_state_and_status(broker):  # noqa: F811
    expected = {
        f"{SITE}/{ME}/telemetry": ALLOWED,
        f"{SITE}/{ME}/state": ALLOWED,
        f"{SITE}/{ME}/status": ALLOWED,
        f"{SITE}/{ME}/setpoint": NOT_AUTHORISED,  # no commands to itself
        f"{SITE}/{OTHER}/setpoint": NOT_AUTHORISED,
        f"{SITE}/{OTHER}/state": NOT_AUTHORISED,
        f"{SITE}/_service/status": NOT_AUTHORISED,
        f"{SITE}/{ME}/telemetry/extra": NOT_AUTHORISED,
        f"novaenergy/other-site/{ME}/telemetry": NOT_AUTHORISED,
    }
    device = _connected(broker, ME)
    acks, lock, done = {}, threading.Lock(), threading.Event()

    def on_publish(client, userdata, mid, reason_code, properties):
        with lock:
            acks[mid] = _outcome(reason_code.value)
            if len(acks) == len(expected):
                done.set()

    device.on_publish = on_publish
    try:
        # not under ``lock``: paho calls on_publish holding the mutex publish() needs
        mids = {device.publish(t, b"[]", qos=1).mid: t for t in expected}
        assert done.wait(10), acks
    finally:
        _close(device)
    assert {mids[mid]: outcome for mid, outcome in acks.items()} == expected


def test_a_device_reads_nothing_but_its_own_setpoint_even_with_wildcards(broker):  # noqa: F811
    me, other, service = (_connected(broker, u) for u in (ME, OTHER, SERVICE_USER))
    got, subscribed = [], threading.Event()
    me.on_message = lambda c, u, msg: got.append(msg.topic)
    me.on_subscribe = lambda c, u, mid, codes, props: subscribed.set()
    try:
        me.subscribe([("#", 1), (f"{SITE}/+/telemetry", 1), (f"{SITE}/{OTHER}/state", 1)])
        assert subscribed.wait(5)
        sent = [
            other.publish(f"{SITE}/{OTHER}/telemetry", b"[]", qos=1),
            other.publish(f"{SITE}/{OTHER}/state", b"{}", qos=1),
            me.publish(f"{SITE}/{ME}/telemetry", b"[]", qos=1),
            service.publish(f"{SITE}/{OTHER}/setpoint", b"{}", qos=1),
            service.publish(f"{SITE}/{ME}/setpoint", b"{}", qos=1),  # the last one sent
        ]
        for info in sent:
            info.wait_for_publish(5)
        deadline = time.monotonic() + 5
        while f"{SITE}/{ME}/setpoint" not in got and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # anything delivered out of order would be here by now
    finally:
        _close(me, other, service)
    assert got == [f"{SITE}/{ME}/setpoint"]


@pytest.mark.parametrize(
    ("user", "password_of"),
    [
        ("intruder", ME),  # no such user, a real password
        (ME, None),  # empty password
        (ME, OTHER),  # another device's password
        (SERVICE_USER, ME),  # the service's name with a device's password
    ],
)
def test_unknown_users_and_borrowed_or_empty_passwords_are_refused(broker, user, password_of):  # noqa: F811
    password = "" if password_of is None else broker.credentials[password_of]
    client = mqtt_client(f"t-bad-{user}", user, password)
    with pytest.raises(ConnectRefused) as refused:
        connect(client, broker.host, broker.port, clean_start=True)
    assert refused.value.reason_code in (0x86, 0x87)  # bad user name or password / not authorised
