from datetime import UTC, date, datetime

import polars as pl

from pipelines import lake
from pipelines.explore.quality import pass_rates, quality_results, results_span

EVALUATED = datetime(2025, 2, 1, tzinfo=UTC)


def result(dataset, day, expectation, success, column=None) -> dict:
    return {
        "dataset": dataset,
        "scope": "s",
        "dataset_scope": f"{dataset}@s",
        "day_utc": datetime(day.year, day.month, day.day, tzinfo=UTC),
        "suite": f"{dataset}_schema",
        "expectation": expectation,
        "column": column,
        "success": success,
        "observed": "ok" if success else "3 unexpected",
        "evaluated_at_utc": EVALUATED,
    }


def write(root) -> None:
    d1, d2 = date(2025, 1, 1), date(2025, 1, 2)
    rows = {
        "meters": [
            result("meters", d1, "not_null", True, "ts_utc"),
            result("meters", d1, "between", True, "energy_wh"),
            result("meters", d2, "not_null", True, "ts_utc"),
            result("meters", d2, "between", False, "energy_wh"),
        ],
        "prices": [result("prices", d1, "unique", True), result("prices", d2, "unique", True)],
    }
    for dataset, frame in rows.items():
        lake.write_days(
            root, "data_quality_results", pl.DataFrame(frame), [f"{dataset}@s"], [d1, d2]
        )


def test_failures_first_and_pass_rates_worst_first(tmp_path):
    write(tmp_path)
    assert results_span(tmp_path) == (date(2025, 1, 1), date(2025, 1, 2))
    results = quality_results(tmp_path, date(2025, 1, 1), date(2025, 1, 2))
    assert results.height == 6
    first = results.row(0, named=True)
    assert (first["dataset"], first["success"], first["column"]) == ("meters", False, "energy_wh")
    assert results["day_utc"][1].date() == date(2025, 1, 2)  # then the newest day
    rates = pass_rates(results)
    assert rates.rows() == [("meters", 4, 3, 1, 75.0, 2), ("prices", 2, 2, 0, 100.0, 2)]
    one_day = quality_results(tmp_path, date(2025, 1, 1), date(2025, 1, 1))
    assert pass_rates(one_day)["pass_rate_pct"].to_list() == [100.0, 100.0]


def test_an_empty_lake_has_no_results(tmp_path):
    assert results_span(tmp_path) is None
    assert quality_results(tmp_path, date(2025, 1, 1), date(2025, 1, 2)).is_empty()
    assert pass_rates(quality_results(tmp_path, date(2025, 1, 1), date(2025, 1, 2))).is_empty()
