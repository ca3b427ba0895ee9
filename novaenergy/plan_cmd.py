"""``novaenergy plan --scenario FILE.json --out PLAN.csv [--summary FILE]``: solve a scenario.

Exit codes follow the CLI contract: 0 success (also when the plan has shortfalls: they are
explained in the output), 2 bad input (missing or malformed scenario, unwritable output),
1 any other failure.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polars as pl

from pipelines.planning import ScenarioError, load_scenario, solve_scenario

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


def run(
    scenario_path: str | Path, out_csv: str | Path, summary_path: str | Path | None = None
) -> int:
    """Solve a scenario file and write the plan CSV and, optionally, the JSON summary.

    Parameters
    ----------
    scenario_path : str or Path
        The scenario JSON (format in :mod:`pipelines.planning.scenario`).
    out_csv : str or Path
        Plan CSV with columns device_id, slot, slot_start_utc (ISO 8601, ``Z``) and
        power_kw [kW], positive when the device draws from the site bus.
    summary_path : str or Path, optional
        Where to write the JSON summary (objective terms, baseline comparison, shortfalls,
        explanations, timing).

    Returns
    -------
    int
        The process exit code.
    """
    try:
        scenario = load_scenario(scenario_path)
    except ScenarioError as exc:
        print(f"error: {scenario_path}:", file=sys.stderr)
        for e in exc.errors:
            print(f"  {e}", file=sys.stderr)
        print("fix the scenario file and run again", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        result = solve_scenario(scenario)
    except RuntimeError as exc:
        print(f"error: planning failed: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    csv = result.frame.with_columns(pl.col("slot_start_utc").dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    try:
        Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
        csv.write_csv(out_csv)
        if summary_path is not None:
            Path(summary_path).parent.mkdir(parents=True, exist_ok=True)
            Path(summary_path).write_text(json.dumps(result.summary, indent=2) + "\n")
    except OSError as exc:
        print(f"error: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    s = result.summary
    print(
        f"plan: {s['slots']} slots × {s['slot_minutes']} min, {len(set(result.frame['device_id']))} "
        f"devices, status {s['status']}, solved in {s['timing_s']['total']:.3f} s"
    )
    print(
        f"cost {s['objective']['total_eur']:.2f} EUR vs baseline {s['baseline']['total_eur']:.2f} "
        f"EUR (avoided {s['avoided']['cost_eur']:.2f} EUR, {s['avoided']['co2_kg']:.1f} kg CO2)"
    )
    for line in s["explanations"]:
        print(f"shortfall: {line}")
    print(f"wrote {out_csv}" + (f" and {summary_path}" if summary_path else ""))
    return EXIT_OK
