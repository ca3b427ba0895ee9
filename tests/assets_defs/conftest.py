import pytest

from tests.demo_lake import END, START, week_settings  # noqa: F401 (the modules here import them)


@pytest.fixture(scope="package")
def week(demo_week):
    """The whole graph materialized once over the demo days (tests/demo_lake.py)."""
    settings, result = demo_week
    return settings, result.checks_passed, result.checks_failed
