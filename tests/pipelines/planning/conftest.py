"""Small hand-made scenarios for the planner tests (hourly slots unless stated)."""

from __future__ import annotations

import copy

import pytest


def make_scenario(slots: int = 8, **top) -> dict:
    """A valid scenario dict with flat prices and no devices; ``top`` overrides fields."""
    sc = {
        "start_utc": "2026-11-24T01:00:00Z",
        "slot_minutes": 60,
        "slots": slots,
        "grid": {
            "import_price_eur_per_mwh": [100.0] * slots,
            "export_price_eur_per_mwh": [50.0] * slots,
            "ci_g_per_kwh": [300.0] * slots,
            "max_import_kw": 400,
            "max_export_kw": 50,
            "peak_charge_eur_per_kw": 0.0,
            "co2_price_eur_per_t": 80,
        },
        "site": {"base_load_kw": [10.0] * slots, "pv_kw": [0.0] * slots},
    }
    sc.update(copy.deepcopy(top))
    return sc


@pytest.fixture
def scenario_factory():
    return make_scenario
