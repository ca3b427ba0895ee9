"""Run Debian's mosquitto 2.0 for tests and ``make dev``: generated config, password file
and ACL, loopback only, stopped by its process id.

The broker refuses anonymous clients, gives every device one user that may read only its
own setpoint topic and write only its own telemetry, state and status, and keeps QoS 1
sessions in a persistence directory, so queued telemetry survives a broker restart::

    with MosquittoBroker(workdir, users=site_users("warehouse-b", ["load-3dprinters"])) as b:
        ...  # b.port, b.credentials

``python -m control.mosquitto --workdir data/mqtt --port 1883`` writes the files plus a
``credentials.json`` (user → password, mode 0600) for the service and the simulators, and
runs the broker in the foreground until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from control import credentials
from control.adapters.mqtt_topics import SERVICE_DEVICE, TopicScheme

MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"
LOOPBACK = "127.0.0.1"
SERVICE_USER = "novaenergy-service"


class BrokerError(RuntimeError):
    """mosquitto could not be configured, did not start, or exited early."""


@dataclass(frozen=True)
class MqttUser:
    """One broker account and the topics it may read and write (ACL patterns)."""

    name: str
    password: str = field(repr=False)
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()


def site_users(
    site_id: str,
    device_ids: Iterable[str],
    service_user: str = SERVICE_USER,
    passwords: dict[str, str] | None = None,
) -> list[MqttUser]:
    """The service user plus one user per device, named after the device id.

    A device reads its own ``setpoint`` and writes its own ``telemetry``, ``state`` and
    ``status``. The service reads every device's telemetry, state and status and writes
    setpoints to the listed devices only, plus its own status. Passwords come from
    ``passwords`` (user → password) or are generated.
    """
    passwords = passwords or {}
    topics = TopicScheme(site_id)
    devices = list(device_ids)

    def pw(name: str) -> str:
        return passwords.get(name) or secrets.token_urlsafe(18)

    service = MqttUser(
        service_user,
        pw(service_user),
        read=(topics.all_of("telemetry"), topics.all_of("state"), topics.all_of("status")),
        write=(*(topics.setpoint(d) for d in devices), topics.status(SERVICE_DEVICE)),
    )
    users = [service]
    for d in devices:
        users.append(
            MqttUser(
                d,
                pw(d),
                read=(topics.setpoint(d),),
                write=(topics.telemetry(d), topics.state(d), topics.status(d)),
            )
        )
    return users


def private_run_as() -> str | None:
    """The ``run_as`` for a broker whose files sit in folders only this user may enter.

    Started as root, mosquitto switches to the ``mosquitto`` user, which cannot read files
    under the repository or pytest's temporary folders; there it stays root (loopback only).
    """
    return "root" if os.geteuid() == 0 else None


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port free on ``host`` right now (bind port 0 and ask the kernel)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def acl_text(users: Iterable[MqttUser]) -> str:
    """The mosquitto ``acl_file`` for ``users``; anything not listed is denied."""
    lines = []
    for u in users:
        lines.append(f"user {u.name}")
        lines += [f"topic read {t}" for t in u.read]
        lines += [f"topic write {t}" for t in u.write]
        lines.append("")
    return "\n".join(lines)


def config_text(workdir: Path, port: int, host: str, run_as: str | None, max_queued: int) -> str:
    """The mosquitto.conf: one loopback listener, auth, ACL and persistence."""
    lines = [
        "per_listener_settings false",
        f"listener {port} {host}",
        "allow_anonymous false",
        f"password_file {workdir / 'passwd'}",
        f"acl_file {workdir / 'acl'}",
        "persistence true",
        f"persistence_location {workdir / 'persistence'}/",
        # Sessions, subscriptions and queued QoS 1 messages are snapshot to disk every
        # 1-2 s (mosquitto compares whole seconds), so after a SIGKILL the restarted
        # broker still knows the service's session and redelivers what it had not
        # acknowledged. The snapshot is not a write-ahead log: a message acknowledged to
        # a device while the service was away and not yet snapshot is lost by a crash.
        # autosave_on_changes would rewrite the whole db per message, which a backlog of
        # a busy site cannot afford.
        "autosave_interval 1",
        # the defaults (1000 queued, 20 in flight) drop a persistent session's backlog
        # after a short outage of a busy service
        f"max_queued_messages {max_queued}",
        "max_inflight_messages 0",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_timestamp_format %Y-%m-%dT%H:%M:%S",
    ]
    if run_as:
        lines.append(f"user {run_as}")
    return "\n".join(lines) + "\n"


class MosquittoBroker:
    """A mosquitto process with its own config, password file, ACL and persistence dir.

    Parameters
    ----------
    workdir : str or Path
        Holds ``mosquitto.conf``, ``passwd``, ``acl``, ``persistence/`` and ``mosquitto.log``.
    users : list of MqttUser
        Accounts written to the password file and the ACL.
    port : int, optional
        TCP port; default a free one.
    host : str
        Listen address; loopback unless deliberately changed.
    run_as : str, optional
        ``user`` line of the config. When started as root and not given, the files are
        handed to the ``mosquitto`` user, which the broker switches to; tests whose temp
        dirs that user cannot enter pass ``"root"``.
    max_queued : int
        Messages queued per offline persistent session before the broker drops them.
    """

    def __init__(
        self,
        workdir: str | Path,
        users: list[MqttUser],
        port: int | None = None,
        host: str = LOOPBACK,
        run_as: str | None = None,
        max_queued: int = 1_000_000,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.users = users
        self.port = port or free_port(host)
        self.host = host
        self.run_as = run_as
        self.max_queued = max_queued
        self._proc: subprocess.Popen | None = None
        self._log = None

    @property
    def credentials(self) -> dict[str, str]:
        """User name → password."""
        return {u.name: u.password for u in self.users}

    @property
    def pid(self) -> int | None:
        """Process id of the running broker, else None."""
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    @property
    def log_path(self) -> Path:
        return self.workdir / "mosquitto.log"

    @property
    def db_path(self) -> Path:
        """The persistence db: autosaved, written on SIGTERM, read at start."""
        return self.workdir / "persistence" / "mosquitto.db"

    def wait_saved(self, timeout_s: float = 5.0) -> None:
        """Wait until mosquitto writes its persistence db again, so that the state it had
        when this was called (sessions, subscriptions, queues) survives a crash.

        Raises ``TimeoutError`` after ``timeout_s`` [s].
        """
        called_ns = time.time_ns()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if self.db_path.stat().st_mtime_ns > called_ns:
                    return
            except FileNotFoundError:
                pass
            time.sleep(0.02)
        raise TimeoutError(f"mosquitto did not save {self.db_path} within {timeout_s} s")

    def write_files(self) -> Path:
        """Write config, password file (hashed by mosquitto_passwd) and ACL; return the config."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "persistence").mkdir(exist_ok=True)
        self._write_passwd(self.workdir / "passwd")
        (self.workdir / "acl").write_text(acl_text(self.users))
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            config_text(self.workdir, self.port, self.host, self.run_as, self.max_queued)
        )
        self._hand_over()
        return conf

    def _write_passwd(self, passwd: Path) -> None:
        """The password file, hashed in place by ``mosquitto_passwd -U`` from a plain one
        that only the owner can read: ``-b user password`` would put every password on a
        command line, which any local user can read while it runs."""
        for u in self.users:  # -U reads name:password lines and cuts a password at a ':'
            if any(c in u.name + u.password for c in ":\r\n"):
                raise BrokerError(f"user {u.name!r}: ':' or a line break in name or password")
        passwd.unlink(missing_ok=True)
        fd = os.open(passwd, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as plain:
            plain.writelines(f"{u.name}:{u.password}\n" for u in self.users)
        done = subprocess.run(
            [MOSQUITTO_PASSWD, "-U", str(passwd)], capture_output=True, text=True, timeout=30
        )
        if done.returncode != 0:
            passwd.unlink(missing_ok=True)
            raise BrokerError(f"mosquitto_passwd -U failed: {done.stderr.strip()}")
        passwd.chmod(0o600)

    def _hand_over(self) -> None:
        # Started as root, mosquitto drops to the `mosquitto` user, which must read these.
        if os.geteuid() != 0 or self.run_as == "root":
            return
        owner = self.run_as or "mosquitto"
        try:
            pwd.getpwnam(owner)
        except KeyError as exc:
            raise BrokerError(f"user {owner!r} does not exist; pass run_as='root'") from exc
        persistence = self.workdir / "persistence"
        for path in [self.workdir, persistence, *persistence.iterdir()]:
            shutil.chown(path, owner, None)
        for name in ("passwd", "acl", "mosquitto.conf"):
            shutil.chown(self.workdir / name, owner, None)
            (self.workdir / name).chmod(0o600)

    def start(self, timeout_s: float = 10.0) -> MosquittoBroker:
        """Write the files, start mosquitto and wait until it accepts connections."""
        if self.pid is not None:
            return self
        self._check_port_free()
        conf = self.write_files()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self._proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(conf)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_ready(timeout_s)
        return self

    def _check_port_free(self) -> None:
        # otherwise the readiness probe would be answered by whoever holds the port
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((self.host, self.port))
            except OSError as exc:
                raise BrokerError(f"{self.host}:{self.port} is in use: {exc}") from exc

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrokerError(f"mosquitto exited with {self._proc.returncode}: {self._tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise BrokerError(f"mosquitto did not listen on {self.host}:{self.port}: {self._tail()}")

    def _tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-800:].strip()
        except OSError:
            return "(no log)"

    def stop(self, timeout_s: float = 10.0, sig: int = signal.SIGTERM) -> None:
        """Stop the broker by its PID (SIGTERM saves the persistence db), SIGKILL if stuck."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, sig)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout_s)
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """Kill the broker without letting it save (a crash); the last autosave is ≤ 2 s old."""
        self.stop(sig=signal.SIGKILL)

    def __enter__(self) -> MosquittoBroker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """Generate the broker files for the sample site and run mosquitto until signalled."""
    parser = argparse.ArgumentParser(description="mosquitto for make dev (loopback, auth, ACL)")
    parser.add_argument("--workdir", default="data/mqtt")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--site", default="warehouse-b")
    parser.add_argument("--devices", default="load-shredder-2,load-3dprinters")
    args = parser.parse_args(argv)

    workdir = Path(args.workdir)
    creds_path = workdir / "credentials.json"
    users = site_users(args.site, args.devices.split(","), passwords=credentials.load(creds_path))
    broker = MosquittoBroker(workdir, users, port=args.port)
    credentials.save(creds_path, broker.credentials)
    broker.start()
    print(f"mosquitto pid {broker.pid} on {broker.host}:{broker.port}; credentials in {creds_path}")

    def _stop(*_):
        broker.stop()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while broker.pid is not None:
        time.sleep(1.0)
    raise SystemExit(f"mosquitto exited; see {broker.log_path}")


if __name__ == "__main__":
    main()
