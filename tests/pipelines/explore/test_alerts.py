from datetime import UTC, date, datetime

import polars as pl

from pipelines import lake
from pipelines.explore.alerts import alert_counts
from pipelines.schemas import SCHEMAS

BERLIN = "Europe/Berlin"
DAY = date(2025, 6, 10)


def vampire(starts: list[datetime]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "site_id": "s",
                "meter_id": f"m{i}",
                "start_utc": t,
                "end_utc": t,
                "severity": "low",
                "message": "",
                "excess_kwh": 1.0,
                "excess_cost_eur": 0.1,
                "excess_co2_kg": 0.4,
            }
            for i, t in enumerate(starts)
        ],
        schema=SCHEMAS["vampire_alerts"],
    )


def quality(rows: list[tuple[date, bool]]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "dataset": "d",
                "scope": "s",
                "dataset_scope": "d@s",
                "day_utc": datetime(d.year, d.month, d.day, tzinfo=UTC),
                "suite": "s",
                "expectation": f"e{i}",
                "column": None,
                "success": ok,
                "observed": "",
                "evaluated_at_utc": datetime(2025, 7, 1, tzinfo=UTC),
            }
            for i, (d, ok) in enumerate(rows)
        ],
        schema=SCHEMAS["data_quality_results"],
    )


def plans(rows: list[tuple[datetime, bool, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "site_id": "s",
                "plan_id": f"p{i}",
                "kind": "intraday",
                "created_at_utc": t,
                "valid_from_utc": t,
                "valid_until_utc": t,
                "status": "Optimal",
                "feasible": ok,
                "cost_eur": 0.0,
                "baseline_cost_eur": 0.0,
                "avoided_cost_eur": 0.0,
                "avoided_co2_kg": 0.0,
                "ev_shortfall_kwh": short,
                "explanations": "[]",
                "input_fallbacks": "{}",
                "summary_json": "{}",
            }
            for i, (t, ok, short) in enumerate(rows)
        ],
        schema=SCHEMAS["plan_runs"],
    )


def test_counts_of_the_day_and_the_week(tmp_path):
    lake.merge_days(
        tmp_path,
        "vampire_alerts",
        vampire(
            [
                datetime(2025, 6, 10, 20, tzinfo=UTC),  # 22:00 local on the day
                datetime(2025, 6, 10, 22, 30, tzinfo=UTC),  # 00:30 local on 06-11: after it
                datetime(2025, 6, 3, 23, tzinfo=UTC),  # 01:00 local 06-04: first day of the week
                datetime(2025, 6, 3, 21, tzinfo=UTC),  # 23:00 local 06-03: before the week
            ]
        ),
    )
    lake.merge_days(
        tmp_path,
        "data_quality_results",
        quality([(DAY, False), (DAY, True), (date(2025, 6, 5), False), (date(2025, 6, 1), False)]),
    )
    lake.merge_days(
        tmp_path,
        "plan_runs",
        plans(
            [
                (datetime(2025, 6, 10, 9, tzinfo=UTC), True, 4.5),  # short of energy
                (datetime(2025, 6, 10, 10, tzinfo=UTC), False, 0.0),  # infeasible
                (datetime(2025, 6, 10, 11, tzinfo=UTC), True, 0.0),  # fine
                (datetime(2025, 6, 8, 11, tzinfo=UTC), True, 1.0),
            ]
        ),
    )
    assert alert_counts(tmp_path, "s", DAY, BERLIN) == {
        "vampire_alerts": {"day": 1, "week": 2},
        "data_quality_failures": {"day": 1, "week": 2},
        "plan_shortfalls": {"day": 2, "week": 3},
    }


def test_nothing_to_count_on_an_empty_lake(tmp_path):
    zero = {"day": 0, "week": 0}
    assert alert_counts(tmp_path, "s", DAY, BERLIN) == {
        "vampire_alerts": zero,
        "data_quality_failures": zero,
        "plan_shortfalls": zero,
    }
