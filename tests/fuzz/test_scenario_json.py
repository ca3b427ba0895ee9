"""Fuzz: scenario JSON through ``novaenergy plan --scenario FILE.json --out PLAN.csv``.

Contract: the command plans (exit code 0, a plan CSV of finite powers) or refuses the
scenario (exit code 2, each message naming the file or the field). It never fails with
exit code 1 or an exception on bad input: random JSON, missing keys, wrong types, absurd
numbers, broken bytes.
"""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path

import polars as pl
from hypothesis import example, given
from hypothesis import strategies as st

from novaenergy.plan_cmd import EXIT_BAD_INPUT, EXIT_OK, run
from pipelines.planning.synthetic import BATTERY
from tests.fuzz.strategies import ABSURD_NUMBERS, ENCODINGS, bounded, json_values, mangled_bytes
from tests.pipelines.planning.conftest import make_scenario

SLOTS = 8
DEVICES = {
    "battery": BATTERY,
    "evs": [
        {
            "id": "truck-01",
            "arrival_slot": 0,
            "departure_slot": 6,
            "capacity_kwh": 300,
            "soc_kwh": 240,
            "min_soc_kwh": 60,
            "energy_needed_kwh": 80,
            "max_charge_kw": 22,
            "max_discharge_kw": 11,
            "v2g": True,
        }
    ],
    "jobs": [
        {
            "id": "shredder-1",
            "power_kw": 150,
            "duration_slots": 2,
            "earliest_slot": 0,
            "deadline_slot": 8,
            "interruptible": False,
        }
    ],
}
SCENARIO_KEYS = st.sampled_from(
    ["start_utc", "slot_minutes", "slots", "grid", "site", "battery", "evs", "jobs", "id"]
    + ["import_price_eur_per_mwh", "capacity_kwh", "soc_kwh", "departure_slot", "power_kw"]
) | st.text(max_size=6)


def plan(document: bytes, capsys) -> tuple[int, str]:
    """Run the plan command on ``document``; check the plan or the error it left behind.

    Returns the exit code and the error output.
    """
    with tempfile.TemporaryDirectory() as folder:
        scenario, out = Path(folder) / "scenario.json", Path(folder) / "plan.csv"
        scenario.write_bytes(document)
        code = run(scenario, out)
        err = capsys.readouterr().err
        assert code in (EXIT_OK, EXIT_BAD_INPUT), err
        assert out.exists() == (code == EXIT_OK)
        if code == EXIT_OK:
            frame = pl.read_csv(out, schema_overrides={"power_kw": pl.Float64})  # may be empty
            assert frame.columns == ["device_id", "slot", "slot_start_utc", "power_kw"]
            assert frame["power_kw"].is_finite().all()
            return code, err
    first, *problems, last = err.rstrip("\n").split("\n")
    assert first == f"error: {scenario}:" and last.startswith("fix the scenario file")
    assert problems and all(": " in line for line in problems)  # "  field.path: what is wrong"
    return code, err


def paths(node) -> list[tuple[object, object]]:
    """Every (container, key or index) in a decoded JSON document."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    found = []
    for key, value in items:
        found.append((node, key))
        if isinstance(value, (dict, list)):
            found += paths(value)
    return found


EDGE_NUMBERS = st.sampled_from([0, 1e-300, 1e-9, 0.5, -500, 4000, 1e4, 1e5, 1e6, 1e7])
"""Numbers at the edges of what a scenario may hold: most pass, some just fail validation."""


@st.composite
def mutated_scenario(draw) -> dict:
    """A valid scenario with some devices, then 1 to 4 edits: a field deleted, or replaced
    by random JSON, an absurd number, or (a number) by an edge number."""
    devices = {k: v for k, v in DEVICES.items() if draw(st.booleans())}
    document = make_scenario(SLOTS, **copy.deepcopy(devices))
    for _ in range(draw(st.integers(1, 4))):
        edit = draw(st.sampled_from(["delete", "random", "absurd", "edge", "edge"]))
        candidates = paths(document)
        if edit == "edge":
            candidates = [(c, k) for c, k in candidates if type(c[k]) in (int, float)]
        container, key = draw(st.sampled_from(candidates))
        if edit == "delete":
            del container[key]
        else:
            values = {"random": json_values(SCENARIO_KEYS), "absurd": ABSURD_NUMBERS}
            container[key] = draw(values.get(edit, EDGE_NUMBERS))
    return document


def with_fields(**fields) -> dict:
    """The scenario with every device and ``fields`` set at ``section__field`` paths."""
    document = make_scenario(SLOTS, **copy.deepcopy(DEVICES))
    for path, value in fields.items():
        *sections, key = path.split("__")
        node = document
        for section in sections:
            node = node[section][0] if isinstance(node[section], list) else node[section]
        node[key] = value
    return document


@given(document=json_values(SCENARIO_KEYS))
@bounded(200, slow_fixture=True)
def test_random_json_is_refused_with_exit_code_2(document, capsys):
    assert plan(json.dumps(document).encode(), capsys)[0] == EXIT_BAD_INPUT


def test_an_invisible_character_in_a_field_name_is_shown(capsys):
    document = make_scenario(SLOTS)
    document["slots\u200b"] = document.pop("slots")  # a zero-width space after "slots"
    _, err = plan(json.dumps(document).encode(), capsys)
    assert "  'slots\\u200b': unknown field" in err and "  slots: missing" in err


@given(document=mutated_scenario())
@example(document=with_fields(start_utc="0001-01-01T00:00:00+01:00"))  # was OverflowError
@example(document=with_fields(start_utc="9999-12-31T23:00:00Z"))  # horizon past year 9999
@example(document=with_fields(grid__max_import_kw=10**400))  # was OverflowError
@example(document=with_fields(grid__peak_charge_eur_per_kw=1.7976931348623157e308))  # exit 1
@example(document=with_fields(evs__departure_slot=10**12))  # was OverflowError in the plan
@example(document=with_fields(jobs__duration_slots=10**9, jobs__deadline_slot=10**9))
@example(document=with_fields(battery__efficiency=1e-300))  # was exit 1, HiGHS status Empty
@bounded(250, slow_fixture=True)
def test_missing_keys_wrong_types_and_absurd_numbers_plan_or_exit_2(document, capsys):
    plan(json.dumps(document).encode(), capsys)


VALID = json.dumps(make_scenario(SLOTS, **copy.deepcopy(DEVICES)))


@st.composite
def scenario_bytes(draw) -> bytes:
    """A valid scenario file as delivered: in some encoding, maybe corrupted."""
    data = VALID.encode(draw(st.sampled_from(ENCODINGS)))
    return draw(mangled_bytes(data)) if draw(st.booleans()) else data


@given(document=scenario_bytes())
@example(document=b"\xff\xfe{")  # was UnicodeDecodeError
@example(document=b"[" * 100_000)  # was RecursionError
@example(document=b'{"slots": 1' + b"0" * 5000 + b"}")  # was ValueError: 4,300 digits
@example(document=VALID.replace('"slots": 8', '"slots": 4, "slots": 8').encode())  # twice
@bounded(150, slow_fixture=True)
def test_broken_scenario_files_plan_or_exit_2(document, capsys):
    code, _ = plan(document, capsys)
    if document in (VALID.encode("utf-8"), VALID.encode("utf-8-sig")):
        assert code == EXIT_OK  # UTF-8 with or without a byte-order mark plans
