"""Scenario validation: one clear error per bad field, naming its path."""

from __future__ import annotations

import json

import pytest

from pipelines.planning.scenario import ScenarioError, load_scenario, parse_scenario
from pipelines.planning.synthetic import BATTERY
from tests.pipelines.planning.conftest import make_scenario

EV = {
    "id": "truck-01",
    "arrival_slot": 0,
    "departure_slot": 6,
    "capacity_kwh": 300,
    "soc_kwh": 240,
    "min_soc_kwh": 60,
    "energy_needed_kwh": 50,
    "max_charge_kw": 22,
    "max_discharge_kw": 11,
    "v2g": True,
}
JOB = {
    "id": "shredder-1",
    "power_kw": 150,
    "duration_slots": 2,
    "earliest_slot": 0,
    "deadline_slot": 8,
    "interruptible": False,
}


def full() -> dict:
    return make_scenario(battery=dict(BATTERY), evs=[dict(EV)], jobs=[dict(JOB)])


def _set(d: dict, path: str, value) -> None:
    *head, last = path.split(".")
    for k in head:
        d = d[int(k)] if isinstance(d, list) else d[k]
    if value is _DELETE:
        del d[last]
    else:
        d[last] = value


_DELETE = object()

BAD_FIELDS = [
    (
        "grid.import_price_eur_per_mwh",
        [1.0] * 7,
        "grid.import_price_eur_per_mwh: expected 8 numbers, got 7",
    ),
    ("grid.import_price_eur_per_mwh", _DELETE, "grid.import_price_eur_per_mwh: missing"),
    ("grid.ci_g_per_kwh", [1, 2, 3, "x", 5, 6, 7, 8], "grid.ci_g_per_kwh: entry 3 is string"),
    ("grid.ci_g_per_kwh", [-1.0] * 8, "grid.ci_g_per_kwh: entry 0 is -1, must be >= 0"),
    ("grid.export_price_eur_per_mwh", 50, "grid.export_price_eur_per_mwh: expected a list"),
    ("grid.max_export_kw", -5, "grid.max_export_kw: must be >= 0, got -5"),
    ("grid.max_import_kw", "400", "grid.max_import_kw: expected a finite number"),
    ("grid.co2_price_eur_per_t", True, "grid.co2_price_eur_per_t: expected a finite number"),
    ("grid.max_import", 400, "grid.max_import: unknown field"),
    ("site.pv_kw", [-1.0] * 8, "site.pv_kw: entry 0 is -1, must be >= 0"),
    ("site.base_load_kw", [1.0] * 9, "site.base_load_kw: expected 8 numbers, got 9"),
    ("start_utc", _DELETE, "start_utc: missing"),
    ("start_utc", "2026-11-24T01:00:00", "start_utc: needs a UTC offset"),
    ("start_utc", "tomorrow", "start_utc: not an ISO 8601 timestamp"),
    ("slots", 0, "slots: must be >= 1, got 0"),
    ("slot_minutes", "15", "slot_minutes: expected an integer"),
    ("battery.efficiency", 1.5, "battery.efficiency: must be <= 1, got 1.5"),
    ("battery.capacity_kwh", 0, "battery.capacity_kwh: must be > 0"),
    ("battery.min_soc_kwh", 195, "battery.min_soc_kwh: 195 is above max_soc_kwh 190"),
    ("battery.final_soc_kwh", 10, "battery.final_soc_kwh: 10 is outside"),
    ("battery.soc_kwh", 250, "battery.soc_kwh: must be <= 200, got 250"),
    ("battery.id", "", "battery.id: expected a non-empty string"),
    ("evs.0.departure_slot", 0, "evs[0].departure_slot: 0 is not after arrival_slot 0"),
    ("evs.0.arrival_slot", 1.5, "evs[0].arrival_slot: expected an integer"),
    ("evs.0.v2g", "yes", "evs[0].v2g: expected true or false"),
    ("evs.0.soc_kwh", 400, "evs[0].soc_kwh: must be <= 300, got 400"),
    ("evs.0.energy_needed_kwh", -1, "evs[0].energy_needed_kwh: must be >= 0"),
    ("evs.0.max_charge_kw", _DELETE, "evs[0].max_charge_kw: missing"),
    ("evs.0.id", "pv-curtailment", "evs[0].id: 'pv-curtailment' is reserved"),
    ("jobs.0.duration_slots", 0, "jobs[0].duration_slots: must be >= 1, got 0"),
    ("jobs.0.power_kw", 0, "jobs[0].power_kw: must be > 0"),
    ("jobs.0.deadline_slot", 1, "jobs[0].deadline_slot: window 0..1 is shorter than"),
    ("jobs.0.interruptible", 1, "jobs[0].interruptible: expected true or false"),
    ("jobs.0.powerkw", 1, "jobs[0].powerkw: unknown field"),
    ("jobs.0.id", "bess-1", "id: device ids must be unique, repeated: bess-1"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD_FIELDS, ids=[b[0] for b in BAD_FIELDS])
def test_bad_field_is_named(path, value, message):
    raw = full()
    _set(raw, path, value)
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(raw)
    assert any(message in e for e in exc.value.errors), exc.value.errors
    assert message in str(exc.value)


def test_every_bad_field_is_reported_at_once():
    raw = full()
    raw["grid"]["max_export_kw"] = -1
    raw["evs"][0]["v2g"] = "no"
    raw["jobs"][0]["duration_slots"] = 0
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(raw)
    assert len(exc.value.errors) == 3


@pytest.mark.parametrize("raw", [[], "x", None])
def test_top_level_must_be_an_object(raw):
    with pytest.raises(ScenarioError, match="top level"):
        parse_scenario(raw)


def test_absent_devices_and_defaults():
    raw = {
        "start_utc": "2026-11-24T12:00:00+01:00",
        "slot_minutes": 15,
        "slots": 4,
        "grid": {"import_price_eur_per_mwh": [1, 2, 3, 4]},
    }
    sc = parse_scenario(raw)
    assert sc.battery is None and sc.evs == () and sc.jobs == ()
    assert not sc.has_pv
    assert sc.start_utc.isoformat() == "2026-11-24T11:00:00+00:00"
    assert sc.grid.max_export_kw == float("inf")
    assert sc.grid.export_price_eur_per_mwh.tolist() == [0] * 4


def test_full_scenario_parses():
    sc = parse_scenario(full())
    assert sc.battery.final_soc_kwh == 100
    assert sc.evs[0].v2g and not sc.jobs[0].interruptible
    assert sc.dt_h == 1.0


def test_final_soc_defaults_to_initial():
    raw = full()
    del raw["battery"]["final_soc_kwh"]
    assert parse_scenario(raw).battery.final_soc_kwh == 100


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read the scenario file"), ("{not json", "not valid JSON at line 1")],
)
def test_load_scenario_file_errors(tmp_path, content, message):
    path = tmp_path / "s.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ScenarioError, match=message):
        load_scenario(path)


def test_load_scenario_file(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(full()))
    assert load_scenario(path).slots == 8
