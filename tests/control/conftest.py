"""Fixtures shared by the control tests."""

import signal

import pytest


@pytest.fixture
def time_limit_30s():
    """Fail a test that hangs instead of hanging the run (no pytest-timeout here)."""

    def expired(*_):
        raise TimeoutError("test exceeded 30 s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)
