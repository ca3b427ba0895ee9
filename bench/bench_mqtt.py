"""Benchmark: sustained MQTT telemetry into the lake landing, against a bare paho subscriber.

In the same run and through the same mosquitto (loopback, auth, ACL, persistence), N
simulated devices publish M batched telemetry messages of R readings each at QoS 1 from
a separate process, as fast as the broker takes them. Measured:
- our path: :class:`~control.adapters.mqtt_channel.MqttChannel` decodes every reading,
  deduplicates and lands it as append-only batch files (one writer);
- the baseline: a bare paho MQTT v5 subscriber on the same QoS 1 subscription that only
  counts messages.

Prints messages/s, readings/s, the ratio ours / bare (target ≥ 0.8) and the readings
lost at QoS 1 (landed files read back; must be 0). Defaults: 10 devices × 2,000 messages
× 20 readings = 400,000 readings per round.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from control.adapters.mqtt_channel import MqttChannel, MqttChannelSettings
from control.adapters.mqtt_payloads import encode_readings
from control.adapters.mqtt_topics import TopicScheme
from control.mosquitto import SERVICE_USER, MosquittoBroker, site_users
from control.sim.machines import connect, mqtt_client
from ingest.telemetry_landing import TelemetryBatchWriter

SITE = "bench"
T0 = datetime(2025, 3, 27, tzinfo=UTC)


def device_ids(n: int) -> list[str]:
    return [f"dev-{i:03d}" for i in range(n)]


def publish(port: int, creds: dict[str, str], n: int, messages: int, readings: int, go) -> None:
    """Publisher process: prepare every payload, wait for ``go``, publish, await PUBACKs."""
    topics = TopicScheme(SITE)
    clients, payloads = [], []
    for d in device_ids(n):
        c = mqtt_client(f"pub-{d}", d, creds[d])
        c.max_inflight_messages_set(200)
        connect(c, "127.0.0.1", port, clean_start=True)
        clients.append((c, topics.telemetry(d)))
        payloads.append(
            [
                encode_readings(
                    [
                        (T0 + timedelta(seconds=m * readings + r), "power_w", float(r), "W")
                        for r in range(readings)
                    ]
                )
                for m in range(messages)
            ]
        )
    go.wait()
    infos = []
    for m in range(messages):
        for (c, topic), ps in zip(clients, payloads, strict=True):
            infos.append(c.publish(topic, ps[m], qos=1))
    for info in infos:
        info.wait_for_publish(120)
    for c, _ in clients:
        c.disconnect()
        c.loop_stop()


class BareCounter:
    """The baseline: a paho subscriber that counts QoS 1 messages and nothing else."""

    def __init__(self, port: int, password: str, client_id: str) -> None:
        self.count = 0
        self.subscribed = threading.Event()
        self.client = mqtt_client(client_id, SERVICE_USER, password)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.port = port

    def _on_message(self, client, userdata, msg) -> None:
        self.count += 1

    def start(self) -> None:
        connect(self.client, "127.0.0.1", self.port, clean_start=True)
        self.client.subscribe(TopicScheme(SITE).all_of("telemetry"), qos=1)
        self.subscribed.wait(10)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def run_round(broker, mode: str, args, workdir: Path, n_round: int) -> dict:
    """One publisher run into ``mode`` ("bare" or "ours"); returns the measured figures."""
    expected_msgs = args.devices * args.messages
    expected_readings = expected_msgs * args.readings
    password = broker.credentials[SERVICE_USER]
    raw = workdir / f"raw-{mode}-{n_round}"
    if mode == "bare":
        sub = BareCounter(broker.port, password, f"bench-bare-{n_round}")
        sub.start()
        received = lambda: sub.count  # noqa: E731
    else:
        settings = MqttChannelSettings(
            SITE,
            SERVICE_USER,
            password,
            port=broker.port,
            client_id=f"bench-ours-{n_round}",
            flush_interval_s=0.5,
        )
        sub = MqttChannel(settings, TelemetryBatchWriter(raw, "mqtt-bench")).start()
        time.sleep(0.2)  # SUBACK
        received = lambda: sub.counts.messages_in  # noqa: E731
    ctx = mp.get_context("spawn")
    go = ctx.Event()
    pub = ctx.Process(
        target=publish,
        args=(broker.port, broker.credentials, args.devices, args.messages, args.readings, go),
    )
    pub.start()
    time.sleep(0.5 + 0.02 * args.devices)  # payloads prepared, clients connected
    start = time.perf_counter()
    go.set()
    last, last_change = 0, time.perf_counter()
    while received() < expected_msgs and time.perf_counter() - last_change < args.stall_s:
        time.sleep(0.002)
        if received() != last:
            last, last_change = received(), time.perf_counter()
    if mode == "ours":
        sub.flush()  # landing is part of our path
    elapsed = time.perf_counter() - start
    pub.join(60)
    figures = {"mode": mode, "elapsed_s": elapsed, "messages": received()}
    if mode == "bare":
        sub.stop()
        figures["readings"] = received() * args.readings
        figures["lost"] = expected_readings - figures["readings"]
    else:
        sub.stop()
        files = sorted(raw.rglob("*.parquet"))
        landed = pl.concat([pl.read_parquet(f) for f in files]) if files else pl.DataFrame()
        unique = landed.select("device_id", "ts_utc").n_unique() if landed.height else 0
        figures.update(
            readings=landed.height,
            lost=expected_readings - unique,
            duplicates=landed.height - unique,
            files=len(files),
            counts=vars(sub.counts),
        )
    figures["msgs_per_s"] = figures["messages"] / elapsed
    figures["readings_per_s"] = figures["readings"] / elapsed
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--messages", type=int, default=2000, help="per device")
    parser.add_argument("--readings", type=int, default=20, help="per message")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--stall-s", type=float, default=10.0, help="give up after no progress")
    args = parser.parse_args(argv)

    total = args.devices * args.messages
    print(
        f"{args.devices} devices x {args.messages:,} messages x {args.readings} readings "
        f"= {total:,} messages, {total * args.readings:,} readings per round, QoS 1"
    )
    with tempfile.TemporaryDirectory(prefix="bench-mqtt-") as tmp:
        workdir = Path(tmp)
        users = site_users(SITE, device_ids(args.devices))
        run_as = "root" if os.geteuid() == 0 else None
        with MosquittoBroker(workdir / "mqtt", users, run_as=run_as) as broker:
            results = []
            for n in range(args.rounds):
                for mode in ("bare", "ours"):
                    r = run_round(broker, mode, args, workdir, n)
                    results.append(r)
                    extra = (
                        f"  duplicates {r['duplicates']}  files {r['files']}"
                        if mode == "ours"
                        else ""
                    )
                    print(
                        f"round {n + 1} {mode:4}: {r['msgs_per_s']:9,.0f} msg/s "
                        f"{r['readings_per_s']:11,.0f} readings/s  {r['elapsed_s']:6.2f} s  "
                        f"lost {r['lost']}{extra}"
                    )
    best = {
        m: max((r for r in results if r["mode"] == m), key=lambda r: r["msgs_per_s"])
        for m in ("bare", "ours")
    }
    ratio = best["ours"]["msgs_per_s"] / best["bare"]["msgs_per_s"]
    lost = sum(r["lost"] for r in results)
    print(
        f"best: ours {best['ours']['msgs_per_s']:,.0f} msg/s "
        f"({best['ours']['readings_per_s']:,.0f} readings/s), "
        f"bare paho {best['bare']['msgs_per_s']:,.0f} msg/s"
    )
    print(
        f"ratio ours/bare {ratio:.2f} (target >= 0.80: {'PASS' if ratio >= 0.8 else 'FAIL'}); "
        f"readings lost at QoS 1: {lost} ({'PASS' if lost == 0 else 'FAIL'})"
    )
    print(json.dumps({"ratio": round(ratio, 3), "lost": lost}))


if __name__ == "__main__":
    main()
