"""Simulated MQTT machines of the sample site: shredder line 2 and the 3D printer farm.

Each machine is its own MQTT v5 client with its own credentials (user = device id), a
persistent session, an LWT ``offline`` and a birth ``online`` on its retained ``status``
topic. It starts and stops on setpoints, ignores a ``seq`` at or below the last one
applied, falls back to stopped once ``valid_until`` has passed, and publishes its power
as batched telemetry (several samples per message).
"""

from __future__ import annotations

import logging
import math
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from control.adapters.mqtt_payloads import PayloadError, Setpoint, encode_readings
from control.adapters.mqtt_topics import OFFLINE, ONLINE, TopicScheme

log = logging.getLogger(__name__)


class ConnectRefused(ConnectionError):
    """The broker refused the connection; ``reason_code`` is the CONNACK reason code."""

    def __init__(self, reason_code: int, message: str) -> None:
        super().__init__(message)
        self.reason_code = reason_code


def mqtt_client(
    client_id: str,
    username: str | None,
    password: str | None,
    will: tuple[str, bytes] | None = None,
) -> mqtt.Client:
    """An MQTT v5 paho client; ``will`` is a (topic, payload) LWT sent QoS 1, retained."""
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
    )
    if username is not None:
        client.username_pw_set(username, password)
    if will is not None:
        client.will_set(will[0], will[1], qos=1, retain=True)
    return client


def connect(
    client: mqtt.Client,
    host: str,
    port: int,
    keepalive_s: int = 10,
    session_expiry_s: int = 3600,
    clean_start: bool = False,
    timeout_s: float = 5.0,
) -> bool:
    """Connect, start the network thread and wait for the CONNACK.

    Returns whether the broker still had a session. Raises :class:`ConnectRefused` on a
    failure reason code (e.g. 0x86 bad user name or password, 0x87 not authorized) and
    ``TimeoutError`` when no CONNACK comes within ``timeout_s`` [s].
    """
    done, result = threading.Event(), {}
    previous = client.on_connect

    def on_connect(c, userdata, flags, reason_code, properties):
        result["rc"], result["present"] = reason_code, flags.session_present
        done.set()
        if previous is not None:
            previous(c, userdata, flags, reason_code, properties)

    client.on_connect = on_connect
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = session_expiry_s
    client.connect(host, port, keepalive_s, clean_start=clean_start, properties=props)
    client.loop_start()
    if not done.wait(timeout_s):
        client.loop_stop()
        raise TimeoutError(f"no CONNACK from {host}:{port} within {timeout_s} s")
    rc = result["rc"]
    if rc.is_failure:
        client.loop_stop()
        client.disconnect()
        raise ConnectRefused(rc.value, f"{host}:{port} refused the connection: {rc}")
    return bool(result["present"])


class SystemClock:
    """Wall-clock UTC time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class MachineSpec:
    """A switchable machine: rated power while running and standby power when stopped [W]."""

    device_id: str
    rated_power_w: float
    standby_w: float


#: The sample site's MQTT machines (meters of the same ids).
SAMPLE_MACHINES = (
    MachineSpec("load-shredder-2", 120_000.0, 1_500.0),
    MachineSpec("load-3dprinters", 30_000.0, 600.0),
)

#: Loads the island keeps powered while the battery allows: medical refrigeration and the
#: server room (separate from SAMPLE_MACHINES, whose users expect the two machines above).
CRITICAL_MACHINES = (
    MachineSpec("load-med-fridge", 3_000.0, 300.0),
    MachineSpec("load-server-room", 8_000.0, 2_000.0),
)


class SimulatedMachine:
    """One machine on the wire.

    Parameters
    ----------
    site_id : str
    spec : MachineSpec
    password : str
        The device's broker password (its user name is the device id).
    host, port : str, int
        The broker.
    clock : object with ``now()``, optional
        UTC time source; the wall clock by default.
    samples_per_message : int
        Power samples batched into one telemetry message.
    """

    def __init__(
        self,
        site_id: str,
        spec: MachineSpec,
        password: str,
        host: str = "127.0.0.1",
        port: int = 1883,
        clock=None,
        samples_per_message: int = 4,
    ) -> None:
        self.spec = spec
        self.topics = TopicScheme(site_id)
        self.host, self.port = host, port
        self.clock = clock or SystemClock()
        self.samples_per_message = samples_per_message
        self.running = False
        self.valid_until: datetime | None = None
        self.last_seq: int | None = None
        self.applied: list[int] = []
        self.ignored: list[tuple[int | None, str]] = []
        self._samples: list[tuple[datetime, str, float, str]] = []
        self._lock = threading.Lock()
        # packet ids of QoS 1 publishes without a PUBACK yet, and PUBACKs that came before
        # publish() returned their id (paho keeps and resends the unacknowledged ones)
        self._acks_lock = threading.Lock()
        self._unacked: set[int] = set()
        self._early_acks: set[int] = set()
        self._tick_stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self.client = mqtt_client(
            f"sim-{spec.device_id}",
            spec.device_id,
            password,
            will=(self.topics.status(spec.device_id), OFFLINE),
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish
        self.client.reconnect_delay_set(0.2, 5.0)

    @property
    def device_id(self) -> str:
        return self.spec.device_id

    def start(self, tick_s: float | None = None) -> SimulatedMachine:
        """Connect (birth, subscription); with ``tick_s`` [s] also sample on a timer."""
        connect(self.client, self.host, self.port)
        if tick_s is not None:
            self._ticker = threading.Thread(target=self._tick_loop, args=(tick_s,), daemon=True)
            self._ticker.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Leave cleanly: publish what is sampled, say ``offline``, wait up to ``timeout_s``
        [s] for the broker to acknowledge every message, and disconnect.

        Without the wait, telemetry that paho still holds (beyond its 20 in flight, or
        published while the broker was away) would be dropped by the DISCONNECT.
        """
        self._tick_stop.set()
        if self._ticker is not None:
            self._ticker.join(5.0)
        self.publish_samples()
        self._publish(self.topics.status(self.device_id), OFFLINE, retain=True)
        if not self.wait_delivered(timeout_s):
            log.warning(
                "%s: %d messages unacknowledged at stop; they are lost",
                self.device_id,
                self.unacked(),
            )
        self.client.disconnect()
        self.client.loop_stop()

    def crash(self) -> None:
        """Vanish without DISCONNECT, so the broker publishes the LWT."""
        self._tick_stop.set()
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("%s: broker refused the connection: %s", self.device_id, reason_code)
            return
        client.subscribe(self.topics.setpoint(self.device_id), qos=1)
        self._publish(self.topics.status(self.device_id), ONLINE, retain=True)
        self._publish_state()

    def _publish(self, topic: str, payload: bytes, retain: bool = False) -> mqtt.MQTTMessageInfo:
        """Publish at QoS 1 and track the message until its PUBACK.

        Also while the broker is away: paho keeps the message (``rc`` is then
        MQTT_ERR_NO_CONN, and its ``is_published`` raises) and sends it after reconnecting.
        """
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            log.error("%s: paho's queue is full; message on %s dropped", self.device_id, topic)
            return info
        with self._acks_lock:
            if info.mid in self._early_acks:
                self._early_acks.discard(info.mid)
            else:
                self._unacked.add(info.mid)
        return info

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("%s: broker refused message %d: %s", self.device_id, mid, reason_code)
        with self._acks_lock:
            if mid in self._unacked:
                self._unacked.discard(mid)
            else:
                self._early_acks.add(mid)

    def unacked(self) -> int:
        """QoS 1 messages published and not yet acknowledged by the broker."""
        with self._acks_lock:
            return len(self._unacked)

    def wait_delivered(self, timeout_s: float = 10.0) -> bool:
        """Wait up to ``timeout_s`` [s] until the broker acknowledged every message.

        Returns whether it did.
        """
        deadline = time.monotonic() + timeout_s
        while self.unacked():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def _on_message(self, client, userdata, msg) -> None:
        try:
            self.apply(Setpoint.decode(msg.payload))
        except PayloadError as exc:
            self.ignored.append((None, str(exc)))
            log.warning("%s: %s", self.device_id, exc)

    def apply(self, sp: Setpoint) -> bool:
        """Apply a setpoint unless it is old (seq) or expired; returns whether it was."""
        now = self.clock.now()
        with self._lock:
            if self.last_seq is not None and sp.seq <= self.last_seq:
                self.ignored.append((sp.seq, "seq at or below the last applied"))
                return False
            if sp.valid_until <= now:
                self.ignored.append((sp.seq, "valid_until passed"))
                return False
            self.last_seq = sp.seq
            self.running, self.valid_until = sp.running, sp.valid_until
            self.applied.append(sp.seq)
        log.info("%s: %s (seq %d)", self.device_id, "running" if sp.running else "stopped", sp.seq)
        self._publish_state()
        return True

    def power_w(self) -> float:
        """Power now [W]: near rated while running (a slow ripple), standby when stopped."""
        now = self.clock.now()
        with self._lock:
            if self.running and self.valid_until is not None and now >= self.valid_until:
                self.running = False  # fail-safe: the plan went quiet
                log.warning("%s: setpoint expired; stopped", self.device_id)
            running = self.running
        if not running:
            return self.spec.standby_w
        ripple = 0.05 * math.sin(now.timestamp() / 60.0)
        return round(self.spec.rated_power_w * (0.9 + ripple), 1)

    def sample(self) -> None:
        """Take one power sample; publish a batch once ``samples_per_message`` are held."""
        self._samples.append((self.clock.now(), "power_w", self.power_w(), "W"))
        if len(self._samples) >= self.samples_per_message:
            self.publish_samples()

    def publish_samples(self) -> mqtt.MQTTMessageInfo | None:
        """Publish the held samples as one QoS 1 telemetry message."""
        if not self._samples:
            return None
        payload, self._samples = encode_readings(self._samples), []
        return self._publish(self.topics.telemetry(self.device_id), payload)

    def _publish_state(self) -> None:
        body = (
            f'{{"running":{"true" if self.running else "false"},'
            f'"seq":{self.last_seq if self.last_seq is not None else "null"}}}'
        )
        self._publish(self.topics.state(self.device_id), body.encode(), retain=True)

    def _tick_loop(self, tick_s: float) -> None:
        while not self._tick_stop.wait(tick_s):
            try:
                self.sample()
            except Exception:
                log.exception("%s: sampling failed", self.device_id)


class ManualClock:
    """A clock that moves only when told to (tests)."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        """Move forward by ``seconds`` [s]; returns the new time."""
        self._now += timedelta(seconds=seconds)
        return self._now
