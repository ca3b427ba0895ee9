"""Every page of the app runs without an exception, on the demo week and on an empty lake."""

import pytest
from streamlit.testing.v1 import AppTest

from dashboards.config import DashboardConfig
from dashboards.navigation import NAVIGATION
from tests.dashboards.app_under_test import demo_config, open_page

NO_SERVICE = "http://127.0.0.1:9"  # the Control page finds no service here: it must say so


def run_page(config: DashboardConfig, file: str) -> AppTest:
    at = open_page(config, file)
    assert not at.error, [e.value for e in at.error]
    return at


@pytest.mark.parametrize(("file", "title"), [(n[1], n[2]) for n in NAVIGATION])
def test_page_runs_on_the_demo_week(demo_week, file, title):
    settings, _ = demo_week
    at = run_page(demo_config(settings, control_api_url=NO_SERVICE), file)
    assert at.title[0].value.startswith(title)


@pytest.mark.parametrize("file", [n[1] for n in NAVIGATION])
def test_page_runs_on_an_empty_lake(tmp_path, file):
    config = DashboardConfig(
        lake_root=str(tmp_path / "lake"),
        reports_dir=str(tmp_path / "reports"),
        control_api_url=NO_SERVICE,
    )
    at = run_page(config, file)
    assert at.title
