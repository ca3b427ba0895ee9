"""Fixtures of the dashboard tests: a live control API on loopback."""

import asyncio
import contextlib
import queue
import socket
import threading

import pytest

from control.api import create_app, serve_api
from tests.control.test_service import FakeClock, build, run

TOKEN = "dashboard-test-token"


@contextlib.contextmanager
def serving(app):
    """Serve ``app`` on 127.0.0.1, a free port, in a thread; yield its URL, stop it on exit."""
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    ports: queue.Queue[int] = queue.Queue()
    failed: list[BaseException] = []

    def main() -> None:
        try:
            loop.run_until_complete(serve_api(app, "127.0.0.1", 0, stop, ports.put))
        except BaseException as error:  # surfaced below instead of dying silently
            failed.append(error)
            ports.put(-1)

    thread = threading.Thread(target=main, name="control-api", daemon=True)
    thread.start()
    port = ports.get(timeout=10)
    try:
        assert port > 0, failed
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        assert not thread.is_alive(), "control API did not stop"
        loop.close()


@pytest.fixture(name="control_service")
def control_service_fixture(tmp_path):
    """A control service on fake drivers and a fake clock, after two dispatch cycles."""
    clock = FakeClock()
    service, drivers, _ = build(tmp_path, clock)
    run(service.tick())
    clock.advance(5)
    run(service.tick())  # the devices now report the first setpoints back
    return service


@pytest.fixture(name="control_api")
def control_api_fixture(control_service, time_limit_30s):
    """(URL, service) of a live control API that accepts ``TOKEN`` for writes."""
    with serving(create_app(control_service, TOKEN)) as url:
        yield url, control_service


@pytest.fixture(name="dead_url")
def dead_url_fixture():
    """A loopback URL where nothing listens (a bound socket that never accepts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
