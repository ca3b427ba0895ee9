import os
import signal
from contextlib import contextmanager

import pytest

# Offline machines: keep Dagster and Great Expectations from phoning home.
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


@pytest.fixture(scope="session")
def demo_week(tmp_path_factory):
    """`make demo` over 23 sample days, once per test session: (settings, DemoResult).

    Every asset materialized with its checks, the summary and the Scope 2 report written.
    Tests read it; the only writer is the test that re-materializes it to prove the files
    come out identical.
    """
    import dagster as dg

    from novaenergy.demo import run_demo
    from tests.demo_lake import DEMO_START, END, week_settings

    settings = week_settings(tmp_path_factory.mktemp("demo_week"), DEMO_START, END)
    return settings, run_demo(settings, instance=dg.DagsterInstance.ephemeral())


@contextmanager
def time_limit(seconds: int):
    """Fail a test that hangs instead of hanging the run (no pytest-timeout here)."""

    def expired(*_):
        raise TimeoutError(f"test exceeded {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def time_limit_30s():
    """The suite's bound for a network test [s]."""
    with time_limit(30):
        yield


@pytest.fixture
def time_limit_90s():
    """For a test that also runs Dagster, which alone takes 15-25 s on a busy 2-core machine."""
    with time_limit(90):
        yield
