import json
from datetime import UTC, datetime, timedelta

from control.model import Override
from control.state import SentSetpoint, ServiceState, StateStore

T0 = datetime(2025, 6, 1, 12, tzinfo=UTC)


def test_state_round_trips_through_the_file(tmp_path):
    store = StateStore(tmp_path / "state.json")
    state = ServiceState(
        overrides={"battery-1": Override("battery-1", -5000.0, T0 + timedelta(hours=1), "test")},
        sent={
            "charger-1": SentSetpoint(7000.0, T0 + timedelta(minutes=15), "plan", T0, "c1", "p1")
        },
        mode="island",
        island={"mode": "island", "shed": ["load-3dprinters"]},
        plan_id="p1",
        saved_at=T0,
    )
    store.save(state)
    assert store.load() == state
    assert not [p for p in tmp_path.iterdir() if p.name != "state.json"]  # no temporaries left


def test_missing_file_is_a_fresh_state(tmp_path):
    assert StateStore(tmp_path / "none.json").load() == ServiceState()


def test_a_corrupt_file_is_kept_aside_and_the_service_starts_fresh(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("{not json")
    assert StateStore(path).load() == ServiceState()
    assert [p.name.startswith("state.json.corrupt-") for p in tmp_path.iterdir()] == [True]


def test_saved_times_are_aware_iso_strings(tmp_path):
    store = StateStore(tmp_path / "state.json")
    store.save(ServiceState(saved_at=T0))
    assert json.loads((tmp_path / "state.json").read_text())["saved_at"] == T0.isoformat()
