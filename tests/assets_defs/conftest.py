from dataclasses import replace
from datetime import date

import dagster as dg
import pytest

from novaenergy.demo import materialize_all
from novaenergy.settings import load_settings

# Seven days across the spring daylight-saving change in Europe/Berlin (2025-03-30).
START, END = date(2025, 3, 26), date(2025, 4, 2)


def week_settings(root):
    base = load_settings(environ={}, dotenv=None)
    return replace(
        base,
        lake_root=str(root / "lake"),
        raw_root=str(root / "raw"),
        drop_dir=str(root / "drop"),
        warehouse_path=str(root / "warehouse.duckdb"),
        reports_dir=str(root / "reports"),
        go_ledger_path=str(root / "go_ledger.duckdb"),
        go_export_dir=str(root / "exports"),
        sample_start=START,
        sample_end=END,
    )


@pytest.fixture(scope="package")
def week(tmp_path_factory):
    """The whole graph materialized once over a week of the sample site."""
    root = tmp_path_factory.mktemp("week")
    settings = week_settings(root)
    instance = dg.DagsterInstance.ephemeral()
    passed, failed = materialize_all(settings, instance=instance)
    return settings, passed, failed
