"""Idempotent transactions and OCPP meter values as telemetry rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from control.adapters.ocpp_telemetry import meter_rows, status_row
from control.adapters.ocpp_transactions import TransactionStore


def test_transaction_event_recorded_once_per_transaction_and_seqno():
    store = TransactionStore()
    assert store.record_event("cp", "tx1", 0, "Started", 1)
    assert not store.record_event("cp", "tx1", 0, "Started", 1)
    assert store.record_event("cp", "tx1", 1, "Updated", 1)
    assert store.record_event("other", "tx1", 0, "Started", 1)  # ids are per station
    assert store.active("cp") == ("tx1", 1)
    assert store.record_event("cp", "tx1", 2, "Ended", 1)
    assert store.active("cp") is None
    assert not store.record_event("cp", "tx1", 2, "Ended", 1)


def test_16_start_and_stop_are_idempotent():
    store = TransactionStore()
    tx, new = store.start_16("cp", 1, "2025-01-01T00:00:00Z")
    assert new and store.start_16("cp", 1, "2025-01-01T00:00:00Z") == (tx, False)
    assert store.active("cp") == (str(tx), 1)
    assert store.stop_16("cp", tx) and not store.stop_16("cp", tx)
    assert store.active("cp") is None


def test_memory_is_bounded_and_ended_transactions_go_first():
    store = TransactionStore(max_transactions=2)
    store.record_event("cp", "a", 0, "Ended", 1)
    store.record_event("cp", "b", 0, "Started", 1)
    store.record_event("cp", "c", 0, "Started", 1)
    assert store.record_event("cp", "a", 0, "Ended", 1)  # forgotten, so new again
    assert not store.record_event("cp", "c", 0, "Started", 1)


def test_meter_values_become_rows_with_units_and_net_power():
    values = [
        {
            "timestamp": "2025-06-01T12:00:00Z",
            "sampled_value": [
                {
                    "value": 1.5,
                    "measurand": "Power.Active.Import",
                    "unit_of_measure": {"unit": "kW"},
                },
                {
                    "value": 7000,
                    "measurand": "Power.Active.Export",
                    "unit_of_measure": {"unit": "W"},
                },
                {
                    "value": 2,
                    "unit_of_measure": {"unit": "kWh", "multiplier": 1},
                },  # default measurand
                {"value": 61.5, "measurand": "SoC", "unit_of_measure": {"unit": "Percent"}},
                {"value": 9, "measurand": "Power.Active.Import", "phase": "L1"},
                {"value": 1, "measurand": "Temperature"},
            ],
        },
        {
            "timestamp": "2025-06-01T12:01:00+00:00",
            "sampled_value": [{"value": "230.5", "measurand": "Voltage", "unit": "V"}],
        },
    ]
    rows = {
        (r["metric"], r["ts_utc"].minute): (r["value"], r["unit"])
        for r in meter_rows("s", "cp", values)
    }
    assert rows == {
        ("power_w", 0): (pytest.approx(-5500.0), "W"),
        ("energy_wh", 0): (pytest.approx(20_000.0), "Wh"),
        ("soc_pct", 0): (61.5, "%"),
        ("voltage_v", 1): (230.5, "V"),
    }


def test_unreadable_samples_are_skipped_and_status_is_coded():
    values = [
        {
            "timestamp": "2025-06-01T12:00:00Z",
            "sampled_value": [{"value": "n/a", "measurand": "SoC"}],
        }
    ]
    assert meter_rows("s", "cp", values) == []
    ts = datetime(2025, 6, 1, tzinfo=UTC)
    assert status_row("s", "cp", ts, "Faulted")["value"] == 4.0
    assert status_row("s", "cp", ts, "Weird") is None
