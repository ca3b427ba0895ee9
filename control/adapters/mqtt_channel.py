"""The control service's MQTT channel (paho-mqtt 2.x, MQTT v5): telemetry in, setpoints out.

- **Session:** a fixed client id with ``clean_start=False`` and a session expiry, so the
  broker queues QoS 1 telemetry while the service is away, across a broker restart too.
- **Telemetry:** subscribed at QoS 1 on every device's ``telemetry`` topic (scheme in
  :mod:`control.adapters.mqtt_topics`). Messages are buffered and, every
  ``flush_interval_s`` or ``flush_messages`` messages, decoded together (Polars) and
  landed through :class:`~ingest.telemetry_landing.TelemetryBatchWriter`. Counts add
  up: readings in = landed + rejected + duplicates. A bad message is logged with its
  reason and never stops the channel. paho acknowledges a message when it arrives, so
  a crash of the service (not of the broker) loses at most the buffered interval.
- **Setpoints:** QoS 1 with ``seq``, ``valid_until`` and a v5 MessageExpiryInterval; the
  caller waits for the PUBACK, and a failure reason code (≥ 0x80, e.g. 0x87 Not
  authorized) raises :class:`SetpointError`.
- **Presence:** devices' retained ``status`` (birth ``online``, LWT ``offline``); the
  service announces itself the same way.
- **Reconnects:** paho's network thread reconnects with exponential backoff between
  ``reconnect_min_s`` and ``reconnect_max_s``; every loss is logged.

QoS 1 is at least once: a reading redelivered after a reconnect is dropped here when its
key (device, metric, ts_utc) is among the last ``RECENT_KEYS_KEPT`` landed, and the
``device_telemetry`` asset drops duplicate keys from raw files landed by separate runs.
Readings are matched by key, not by "not newer than the last landed": a series does not
always arrive in time order (after a reconnect paho resends the unacknowledged messages
only once the CONNACK is in, behind any message published while connecting), and an
older but new reading must land.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import polars as pl
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from control.adapters.mqtt_payloads import Setpoint, decode_telemetry_batch
from control.adapters.mqtt_topics import OFFLINE, ONLINE, SERVICE_DEVICE, TopicScheme
from ingest.telemetry_landing import TelemetryBatchWriter

log = logging.getLogger(__name__)

EARLY_ACKS_KEPT = 1024
EARLY_ACK_MAX_AGE_S = 10.0  # older entries belong to an earlier use of the same packet id
#: Keys of the most recently landed readings kept to recognise QoS 1 redeliveries
#: (a few MB); redeliveries are of messages in flight around a reconnect, so recent.
RECENT_KEYS_KEPT = 200_000
_KEY = ["device_id", "metric", "ts_utc"]
_KEY_SCHEMA = {"device_id": pl.String, "metric": pl.String, "ts_utc": pl.Datetime("us", "UTC")}
_LAST_TS_SCHEMA = {"device_id": pl.String, "metric": pl.String, "last_ts": pl.Datetime("us", "UTC")}


class SetpointError(RuntimeError):
    """A setpoint the broker refused (PUBACK reason code ≥ 0x80) or never acknowledged.

    Attributes
    ----------
    device_id : str
    reason_code : int or None
        The PUBACK reason code, None when no PUBACK came in time.
    """

    def __init__(self, device_id: str, reason_code: int | None, message: str) -> None:
        super().__init__(message)
        self.device_id = device_id
        self.reason_code = reason_code


@dataclass(frozen=True)
class MqttChannelSettings:
    """Connection and landing settings of the service's channel.

    Attributes
    ----------
    site_id, username, password : str
        The site whose topics are served, and the service's broker account.
    host : str
        Broker address (loopback by default).
    port : int
        Broker TCP port.
    client_id : str
        Fixed, so the broker keeps the session across reconnects.
    keepalive_s : int
        MQTT keepalive [s]; a dead link is noticed after about 1.5 × this.
    session_expiry_s : int
        How long the broker keeps the session (and queues QoS 1) while away [s].
    reconnect_min_s, reconnect_max_s : float
        Bounds of the exponential reconnect backoff [s].
    flush_interval_s : float
        Oldest age of buffered messages before they are decoded and landed [s].
    flush_messages : int
        Buffered messages that trigger decoding and landing a batch at once.
    """

    site_id: str
    username: str
    password: str = field(repr=False)
    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = "novaenergy-service"
    keepalive_s: int = 10
    session_expiry_s: int = 3600
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    flush_interval_s: float = 1.0
    flush_messages: int = 5_000


@dataclass
class LandingCounts:
    """Telemetry counters since the channel started.

    Once landed (after :meth:`MqttChannel.flush`), readings_in = readings_landed +
    readings_rejected + readings_duplicate, and messages_in = messages_decoded.
    """

    messages_in: int = 0
    messages_decoded: int = 0
    messages_rejected: int = 0
    readings_in: int = 0
    readings_landed: int = 0
    readings_rejected: int = 0
    readings_duplicate: int = 0
    files_written: int = 0


class _Waiter:
    __slots__ = ("done", "reason")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.reason = None


class MqttChannel:
    """Telemetry landing, setpoint publishing and presence over one MQTT v5 session.

    Parameters
    ----------
    settings : MqttChannelSettings
    writer : TelemetryBatchWriter
        Where telemetry lands (this channel is its only user).
    on_presence : callable, optional
        Called as ``on_presence(device_id, online)`` from the network thread.
    """

    def __init__(
        self,
        settings: MqttChannelSettings,
        writer: TelemetryBatchWriter,
        on_presence: Callable[[str, bool], None] | None = None,
    ) -> None:
        self.settings = settings
        self.topics = TopicScheme(settings.site_id)
        self.writer = writer
        self.on_presence = on_presence
        self.counts = LandingCounts()
        self.presence: dict[str, bool] = {}
        self.states: dict[str, dict] = {}
        self.last_power_w: dict[str, float] = {}
        self.connected = threading.Event()
        self.connects = 0
        self._last_ts = pl.DataFrame(schema=_LAST_TS_SCHEMA)
        self._recent_keys = pl.DataFrame(schema=_KEY_SCHEMA)
        self._inbox: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._flush_now = threading.Event()
        self._stopping = threading.Event()
        self._flusher: threading.Thread | None = None
        self._pending: dict[int, _Waiter] = {}
        # PUBACKs that arrive before their publisher registered a waiter (bounded: PUBACKs of
        # status publishes nobody waits for land here too)
        self._early: OrderedDict[int, tuple[object, float]] = OrderedDict()
        self._pub_lock = threading.Lock()
        self._seq = 0
        self._client = self._make_client()

    # ------------------------------------------------------------------ lifecycle

    def _make_client(self) -> mqtt.Client:
        s = self.settings
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=s.client_id, protocol=mqtt.MQTTv5
        )
        client.username_pw_set(s.username, s.password)
        client.will_set(self.topics.status(SERVICE_DEVICE), OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(s.reconnect_min_s, s.reconnect_max_s)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        return client

    def start(self, wait_s: float | None = 10.0) -> MqttChannel:
        """Connect in the background (retrying with backoff) and start landing.

        Waits up to ``wait_s`` [s] for the first session (None: do not wait) and raises
        ``TimeoutError`` if it is not up by then; the channel keeps retrying regardless.
        """
        s = self.settings
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = s.session_expiry_s
        self._client.connect_async(
            s.host, s.port, s.keepalive_s, clean_start=False, properties=props
        )
        self._client.loop_start()
        self._flusher = threading.Thread(target=self._flush_loop, name="mqtt-landing", daemon=True)
        self._flusher.start()
        if wait_s is not None and not self.connected.wait(wait_s):
            raise TimeoutError(f"no MQTT session with {s.host}:{s.port} within {wait_s} s")
        return self

    def stop(self) -> None:
        """Say offline, disconnect (the broker keeps the session) and land what is buffered."""
        if self.connected.is_set():
            info = self._client.publish(
                self.topics.status(SERVICE_DEVICE), OFFLINE, qos=1, retain=True
            )
            info.wait_for_publish(2.0)
        self._client.disconnect()
        self._client.loop_stop()
        self._stopping.set()
        self._flush_now.set()
        if self._flusher is not None:
            self._flusher.join(10.0)
        self.flush()

    def __enter__(self) -> MqttChannel:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ callbacks

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error(
                "MQTT broker %s:%s refused the service: %s; retrying with backoff",
                self.settings.host,
                self.settings.port,
                reason_code,
            )
            return
        self.connects += 1
        log.info(
            "MQTT session up (session present: %s, connect #%d)",
            flags.session_present,
            self.connects,
        )
        if self.connects > 1 and not flags.session_present:
            log.warning(
                "MQTT broker %s:%s lost the service's session (restarted without its "
                "persistence db?): QoS 1 telemetry published while away is lost",
                self.settings.host,
                self.settings.port,
            )
        client.subscribe([(self.topics.all_of(k), 1) for k in ("telemetry", "state", "status")])
        client.publish(self.topics.status(SERVICE_DEVICE), ONLINE, qos=1, retain=True)
        self.connected.set()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        for rc in reason_codes:
            if rc.is_failure:
                log.error("MQTT subscription refused: %s", rc)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        if self._stopping.is_set() or not reason_code.is_failure:
            log.info("MQTT session closed (%s)", reason_code)
        else:
            log.warning("MQTT broker connection lost (%s); reconnecting with backoff", reason_code)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._pub_lock:
            waiter = self._pending.pop(mid, None)
            if waiter is None:
                self._early[mid] = (reason_code, time.monotonic())
                while len(self._early) > EARLY_ACKS_KEPT:
                    self._early.popitem(last=False)
        if waiter is not None:
            waiter.reason = reason_code
            waiter.done.set()

    def _on_message(self, client, userdata, msg) -> None:
        # paho re-raises callback errors in its network thread, which would end the loop.
        try:
            parsed = self.topics.parse(msg.topic)
            if parsed is None:
                log.warning("MQTT message on unexpected topic %s ignored", msg.topic)
                return
            device_id, kind = parsed
            if kind == "telemetry":
                self._telemetry(device_id, msg.payload)
            elif kind == "status" and device_id != SERVICE_DEVICE:
                self._status(device_id, msg.payload)
            elif kind == "state":
                self._state(device_id, msg.payload)
        except Exception:
            log.exception("MQTT message on %s could not be handled", msg.topic)

    # ------------------------------------------------------------------ inbound

    def _telemetry(self, device_id: str, payload: bytes) -> None:
        # decoding waits for the batch: Polars parses thousands of messages at once
        with self._lock:
            self.counts.messages_in += 1
            self._inbox.append((device_id, payload))
            if len(self._inbox) >= self.settings.flush_messages:
                self._flush_now.set()

    def _status(self, device_id: str, payload: bytes) -> None:
        if payload not in (ONLINE, OFFLINE):
            log.warning("status of %s is neither online nor offline: %r", device_id, payload[:40])
            return
        online = payload == ONLINE
        if self.presence.get(device_id) != online:
            log.info("device %s is %s", device_id, "online" if online else "offline")
        self.presence[device_id] = online
        if self.on_presence is not None:
            self.on_presence(device_id, online)

    def _state(self, device_id: str, payload: bytes) -> None:
        try:
            self.states[device_id] = json.loads(payload)
        except ValueError as exc:
            log.warning("state of %s is not JSON: %s", device_id, exc)

    # ------------------------------------------------------------------ landing

    def _flush_loop(self) -> None:
        while not self._stopping.is_set():
            self._flush_now.wait(self.settings.flush_interval_s)
            self._flush_now.clear()
            try:
                self.flush()
            except Exception:
                log.exception("landing telemetry failed; the batch is kept and retried")

    def flush(self) -> int:
        """Decode and land the buffered messages now; returns the readings landed."""
        with self._flush_lock:
            with self._lock:
                messages, self._inbox = self._inbox, []
            if not messages:
                return 0
            try:
                return self._land(messages)
            except Exception:
                with self._lock:
                    self._inbox[:0] = messages
                raise

    def _land(self, messages: list[tuple[str, bytes]]) -> int:
        batch = decode_telemetry_batch(self.settings.site_id, messages)
        if batch.reasons:
            log.warning(
                "telemetry: %d messages and %d readings rejected; first reasons: %s",
                batch.messages_rejected,
                batch.readings_rejected,
                " | ".join(batch.reasons[:5]),
            )
        fresh, duplicates = self._drop_seen(batch.frame)
        files = self.writer.write(fresh) if fresh.height else []
        self._remember(fresh)
        c = self.counts
        c.messages_decoded += len(messages)
        c.messages_rejected += batch.messages_rejected
        c.readings_in += batch.readings_in
        c.readings_rejected += batch.readings_rejected
        c.readings_duplicate += duplicates
        c.readings_landed += fresh.height
        c.files_written += len(files)
        return fresh.height

    def _drop_seen(self, frame: pl.DataFrame) -> tuple[pl.DataFrame, int]:
        """Readings whose key is in the batch already or among the recently landed are
        redeliveries (QoS 1 is at least once); everything else is fresh, in any order."""
        fresh = frame.unique(subset=_KEY, keep="first", maintain_order=True).join(
            self._recent_keys, on=_KEY, how="anti", maintain_order="left"
        )
        return fresh, frame.height - fresh.height

    def _remember(self, fresh: pl.DataFrame) -> None:
        if not fresh.height:
            return
        self._recent_keys = (
            pl.concat([self._recent_keys, fresh.select(_KEY)]).tail(RECENT_KEYS_KEPT).rechunk()
        )
        series = ["device_id", "metric"]
        latest = (
            fresh.group_by(series)
            .agg(
                pl.col("ts_utc").max().alias("ts_max"),
                pl.col("value").sort_by("ts_utc").last().alias("last_value"),
            )
            .join(self._last_ts, on=series, how="left")
            # a series' latest value only moves forward; older readings arriving late do not
            .filter(pl.col("last_ts").is_null() | (pl.col("ts_max") > pl.col("last_ts")))
        )
        self._last_ts = pl.concat(
            [
                self._last_ts.join(latest.select(series), on=series, how="anti"),
                latest.select(*series, pl.col("ts_max").alias("last_ts")),
            ]
        )
        power = latest.filter(pl.col("metric") == "power_w")
        self.last_power_w.update(zip(power["device_id"], power["last_value"], strict=True))

    # ------------------------------------------------------------------ outbound

    def _next_seq(self) -> int:
        # microseconds since the epoch: still increasing after a service restart
        self._seq = max(self._seq + 1, time.time_ns() // 1000)
        return self._seq

    def publish_setpoint(
        self,
        device_id: str,
        running: bool,
        valid_until: datetime,
        power_w: float | None = None,
        timeout_s: float = 5.0,
        now: datetime | None = None,
    ) -> Setpoint:
        """Send a setpoint at QoS 1 and wait for the broker's PUBACK.

        The message expires in the broker at ``valid_until``, so a device that was away
        never receives a stale command.

        Raises
        ------
        ValueError
            When ``valid_until`` is not after ``now``.
        SetpointError
            When the PUBACK carries a failure reason code (e.g. 0x87 Not authorized) or
            does not arrive within ``timeout_s`` [s].
        """
        now = now or datetime.now(UTC)
        remaining_s = (valid_until - now).total_seconds()
        if remaining_s <= 0:
            raise ValueError(f"setpoint for {device_id} already expired at {valid_until}")
        props = Properties(PacketTypes.PUBLISH)
        props.MessageExpiryInterval = max(1, math.ceil(remaining_s))
        waiter = _Waiter()
        with self._pub_lock:
            sp = Setpoint(self._next_seq(), running, valid_until, power_w)
        # not under _pub_lock: paho calls on_publish holding its own lock, which publish()
        # needs too, so holding ours across publish() can deadlock with a PUBACK in flight
        info = self._client.publish(
            self.topics.setpoint(device_id), sp.encode(), qos=1, properties=props
        )
        with self._pub_lock:
            early = self._early.pop(info.mid, None)
            if early is not None and time.monotonic() - early[1] < EARLY_ACK_MAX_AGE_S:
                waiter.reason = early[0]
                waiter.done.set()
            else:
                self._pending[info.mid] = waiter
        if not waiter.done.wait(timeout_s):
            with self._pub_lock:
                self._pending.pop(info.mid, None)
            raise SetpointError(
                device_id, None, f"setpoint {sp.seq} to {device_id}: no PUBACK in {timeout_s} s"
            )
        rc = waiter.reason
        if rc is not None and rc.is_failure:
            raise SetpointError(
                device_id,
                rc.value,
                f"setpoint {sp.seq} to {device_id} refused by the broker: {rc} (0x{rc.value:02X})",
            )
        return sp


class MqttLoad:
    """The :class:`~control.ports.Load` port of one machine, over a channel.

    Parameters
    ----------
    channel : MqttChannel
    device_id : str
    rated_power_w : float, optional
        Sent as the setpoint's ``power_w`` [W] when running.
    """

    def __init__(
        self, channel: MqttChannel, device_id: str, rated_power_w: float | None = None
    ) -> None:
        self.channel = channel
        self.device_id = device_id
        self.rated_power_w = rated_power_w

    async def set_running(self, running: bool, valid_until: datetime) -> None:
        """Send the setpoint and wait for its PUBACK; raises :class:`SetpointError`."""
        power = self.rated_power_w if running else 0.0
        await asyncio.to_thread(
            self.channel.publish_setpoint, self.device_id, running, valid_until, power
        )

    async def power(self) -> float | None:
        """The latest reported power [W], None before any telemetry."""
        return self.channel.last_power_w.get(self.device_id)
