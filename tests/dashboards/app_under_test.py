"""The app as the tests drive it: pointed at a lake, opened on one page by AppTest."""

from dataclasses import replace
from pathlib import Path

from streamlit.testing.v1 import AppTest

from dashboards.config import DashboardConfig

APP = str(Path(__file__).resolve().parents[2] / "dashboards" / "app.py")


def demo_config(settings, **overrides) -> DashboardConfig:
    """A :class:`DashboardConfig` reading the lake and reports of ``settings``."""
    return replace(DashboardConfig.from_settings(settings), **overrides)


def open_page(config: DashboardConfig, file: str, timeout: float = 90) -> AppTest:
    """Run ``app.py`` on the page ``views/<file>``; fail on any exception it raised."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.session_state["config"] = config
    at.switch_page(f"views/{file}")
    at.run()
    assert not at.exception, at.exception
    return at
