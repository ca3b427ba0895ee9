"""``novaenergy.plan_cmd.run``: the CLI contract of ``novaenergy plan``."""

from __future__ import annotations

import json

import polars as pl

from novaenergy.plan_cmd import EXIT_BAD_INPUT, run
from tests.pipelines.planning.conftest import make_scenario


def test_run_writes_plan_and_summary(tmp_path, capsys):
    raw = make_scenario(
        jobs=[
            {
                "id": "printer-1",
                "power_kw": 5,
                "duration_slots": 2,
                "earliest_slot": 0,
                "deadline_slot": 8,
            }
        ]
    )
    (tmp_path / "s.json").write_text(json.dumps(raw))
    out, summary = tmp_path / "out" / "plan.csv", tmp_path / "summary.json"
    assert run(tmp_path / "s.json", out, summary) == 0
    plan = pl.read_csv(out)
    assert plan.columns == ["device_id", "slot", "slot_start_utc", "power_kw"]
    assert plan.height == 16
    assert plan["slot_start_utc"][0] == "2026-11-24T01:00:00Z"
    s = json.loads(summary.read_text())
    assert {"objective", "baseline", "avoided", "shortfalls_kwh", "explanations"} <= set(s)
    assert "plan: 8 slots" in capsys.readouterr().out


def test_bad_scenario_exits_2_naming_the_field(tmp_path, capsys):
    raw = make_scenario()
    raw["grid"]["import_price_eur_per_mwh"] = [1.0] * 7
    (tmp_path / "s.json").write_text(json.dumps(raw))
    assert run(tmp_path / "s.json", tmp_path / "p.csv") == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "grid.import_price_eur_per_mwh: expected 8 numbers, got 7" in err
    assert "Traceback" not in err
    assert not (tmp_path / "p.csv").exists()


def test_missing_scenario_exits_2(tmp_path, capsys):
    assert run(tmp_path / "nope.json", tmp_path / "p.csv") == EXIT_BAD_INPUT
    assert "cannot read the scenario file" in capsys.readouterr().err
