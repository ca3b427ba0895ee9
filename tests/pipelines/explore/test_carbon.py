from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from pipelines import lake
from pipelines.explore.carbon import (
    direct_vs_lifecycle,
    forecast_error,
    forecast_vs_actual,
    gap_summary,
    heatmap,
    intensity_all,
    intensity_hourly,
    latest_intensity,
    location_based_co2,
    mean_by,
    month_to_date_co2,
    production_vs_consumption,
    profile,
    seasonal_grain,
)
from pipelines.schemas import SCHEMAS
from tests.pipelines.explore.test_energy import hours

BERLIN = "Europe/Berlin"
H = timedelta(hours=1)


def ci(rows: list[tuple]) -> pl.DataFrame:
    """grid_carbon_intensity_hourly rows of zone Z from (hour_utc, basis, direct, lifecycle)."""
    return pl.DataFrame(
        [
            {
                "zone": "Z",
                "hour_utc": hour,
                "basis": basis,
                "ci_direct_g_per_kwh": direct,
                "ci_lifecycle_g_per_kwh": lifecycle,
                "generation_mwh": 0.0 if direct is None else 1000.0,
                "quality": "missing" if direct is None else "complete",
                "factor_table_version": "v1",
            }
            for hour, basis, direct, lifecycle in rows
        ],
        schema=SCHEMAS["grid_carbon_intensity_hourly"],
    )


def with_local(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.col("hour_utc")
        .dt.convert_time_zone(BERLIN)
        .dt.replace_time_zone(None)
        .alias("hour_local")
    )


T0 = datetime(2025, 6, 1, 10, tzinfo=UTC)  # 12:00 local


def test_latest_hour_with_data_prefers_the_flow_traced_value():
    rows = with_local(
        ci(
            [
                (T0, "production", 300.0, 360.0),
                (T0 + H, "production", 310.0, 370.0),
                (T0 + H, "consumption", 290.0, 350.0),
                (T0 + 2 * H, "production", None, None),  # missing: never the latest
            ]
        )
    )
    now = latest_intensity(rows)
    assert now == {
        "hour_utc": T0 + H,
        "hour_local": datetime(2025, 6, 1, 13),
        "ci_g_per_kwh": 290.0,
        "ci_basis": "consumption",
    }
    assert latest_intensity(rows.filter(pl.col("quality") == "missing")) is None


def test_location_based_co2_gap_fills_with_the_mean_as_scope2():
    energy = hours(T0, 3, grid_import_kwh=10.0)
    intensity = ci(
        [
            (T0, "production", 100.0, 150.0),
            (T0 + H, "production", 200.0, 250.0),
            (T0 + 2 * H, "production", None, None),
        ]
    )
    got = location_based_co2(energy, intensity)
    # 10 kWh × (100 + 200 + 150 mean) g/kWh = 4500 g
    assert got == {"kg_co2": 4.5, "grid_import_kwh": 30.0, "hours": 3, "gap_filled_hours": 1}
    assert location_based_co2(energy, intensity.tail(1))["kg_co2"] == 0.0


def test_month_to_date_from_the_first_of_the_local_month(tmp_path):
    # 2025-06-30 22:00 UTC is already 2025-07-01 local
    start = datetime(2025, 6, 30, 21, tzinfo=UTC)
    energy = hours(start, 5, grid_import_kwh=2.0)
    lake.write_days(
        tmp_path, "site_energy_hourly", energy, ["s"], [date(2025, 6, 30), date(2025, 7, 1)]
    )
    intensity = ci([(start + k * H, "production", 100.0 * (k + 1), 0.0) for k in range(5)])
    lake.write_days(
        tmp_path,
        "grid_carbon_intensity_hourly",
        intensity,
        ["Z"],
        [date(2025, 6, 30), date(2025, 7, 1)],
    )
    got = month_to_date_co2(tmp_path, "s", "Z", date(2025, 7, 1), BERLIN)
    # hours 22:00..01:00 UTC are July local: 2 kWh × (200 + 300 + 400 + 500) g/kWh
    assert got["kg_co2"] == pytest.approx(2.8)
    assert got["hours"] == 4
    assert (got["first"], got["last"]) == (date(2025, 7, 1), date(2025, 7, 1))


def test_heatmap_on_the_autumn_day_averages_the_repeated_hour(tmp_path):
    # 2025-10-26: 02:00 local happens at 00:00 UTC (CEST) and again at 01:00 UTC (CET)
    start = datetime(2025, 10, 25, 22, tzinfo=UTC)  # 00:00 local
    rows = ci([(start + k * H, "production", 100.0 * k, 0.0) for k in range(25)])
    lake.write_days(
        tmp_path,
        "grid_carbon_intensity_hourly",
        rows,
        ["Z"],
        [date(2025, 10, 25), date(2025, 10, 26)],
    )
    intensity = intensity_hourly(tmp_path, "Z", date(2025, 10, 26), date(2025, 10, 26), BERLIN)
    assert intensity.height == 25
    cells = heatmap(intensity, "production", "ci_direct_g_per_kwh")
    assert cells.height == 24
    assert cells.filter(pl.col("hour") == 2)["g_per_kwh"].item() == 250.0  # mean of 200 and 300
    assert cells.filter(pl.col("hour") == 23)["g_per_kwh"].item() == 2400.0
    every = intensity_all(tmp_path, "Z", BERLIN)
    assert every.height == 25
    assert every["month"].unique().to_list() == [10]


def forecast_rows(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "zone": "Z",
                "hour_utc": h,
                "issued_at_utc": issued,
                "ci_lifecycle_g_per_kwh": v,
                "model": "m",
            }
            for h, issued, v in rows
        ],
        schema=SCHEMAS["grid_carbon_intensity_forecast"],
    )


def test_forecast_takes_the_newest_issue_before_the_day(tmp_path):
    day = date(2025, 6, 2)  # local: 06-01 22:00 to 06-02 22:00 UTC
    h1, h2 = datetime(2025, 6, 1, 22, tzinfo=UTC), datetime(2025, 6, 2, 9, tzinfo=UTC)
    old, new = datetime(2025, 5, 31, 9, tzinfo=UTC), datetime(2025, 6, 1, 9, tzinfo=UTC)
    late = datetime(2025, 6, 2, 1, tzinfo=UTC)  # issued during the day: not a day-ahead forecast
    outside = datetime(2025, 6, 1, 21, tzinfo=UTC)  # 23:00 local the day before
    forecast = forecast_rows(
        [
            (h1, old, 400.0),
            (h1, new, 410.0),
            (h2, new, 300.0),
            (h2, late, 999.0),
            (outside, new, 1.0),
        ]
    )
    lake.merge_days(tmp_path, "grid_carbon_intensity_forecast", forecast)
    actual = ci([(h1, "production", 0.0, 420.0), (h1, "consumption", 0.0, 1.0)])
    lake.merge_days(tmp_path, "grid_carbon_intensity_hourly", actual)
    got = forecast_vs_actual(tmp_path, "Z", day, BERLIN)
    assert got.select(
        "hour_utc", "issued_at_utc", "forecast_g_per_kwh", "actual_g_per_kwh"
    ).rows() == [
        (h1, new, 410.0, 420.0),
        (h2, new, 300.0, None),
    ]
    assert got["hour_local"].to_list() == [datetime(2025, 6, 2, 0), datetime(2025, 6, 2, 11)]
    assert forecast_error(got) == {"mae_g_per_kwh": 10.0, "bias_g_per_kwh": -10.0, "hours": 1}
    assert forecast_error(got.filter(pl.col("actual_g_per_kwh").is_null())) is None
    assert forecast_vs_actual(tmp_path, "Z", date(2025, 6, 4), BERLIN).is_empty()


def bases() -> pl.DataFrame:
    return with_local(
        ci(
            [
                (T0, "production", 300.0, 380.0),
                (T0, "consumption", 330.0, 400.0),
                (T0 + H, "production", 200.0, 260.0),
                (T0 + H, "consumption", None, None),  # not traced this hour
                (T0 + 2 * H, "production", 100.0, 140.0),
            ]
        )
    )


def test_direct_vs_lifecycle_gap():
    pairs = direct_vs_lifecycle(bases())
    assert pairs["gap_g_per_kwh"].to_list() == [80.0, 60.0, 40.0]
    summary = gap_summary(pairs, "direct_g_per_kwh", "lifecycle_g_per_kwh")
    assert summary == {
        "direct_g_per_kwh": 200.0,
        "lifecycle_g_per_kwh": 260.0,
        "gap_g_per_kwh": 60.0,
        "gap_pct": 30.0,
        "hours": 3,
    }


def test_production_vs_consumption_on_hours_with_both():
    traced = production_vs_consumption(bases(), "ci_direct_g_per_kwh")
    assert traced.select(
        "hour_utc", "production_g_per_kwh", "consumption_g_per_kwh", "import_effect_g_per_kwh"
    ).rows() == [(T0, 300.0, 330.0, 30.0)]
    summary = gap_summary(traced, "production_g_per_kwh", "consumption_g_per_kwh")
    assert summary["gap_pct"] == 10.0
    only_production = bases().filter(pl.col("basis") == "production")
    assert production_vs_consumption(only_production, "ci_direct_g_per_kwh").is_empty()
    assert gap_summary(only_production.head(0), "a", "b") is None


def test_profile_by_hour():
    frame = bases().with_columns(pl.col("hour_local").dt.hour().alias("hour"))
    got = profile(frame, ["hour"], "ci_lifecycle_g_per_kwh")
    assert got.rows() == [
        (12, 380.0, 380.0, 380.0, 1),
        (13, 260.0, 260.0, 260.0, 1),
        (14, 140.0, 140.0, 140.0, 1),
    ]
    both = profile(frame.with_columns(pl.lit(6).alias("month")), ["month"], "ci_direct_g_per_kwh")
    assert both.rows() == [(6, 200.0, 100.0, 300.0, 3)]


def test_mean_of_pairs_by_local_hour_and_month():
    pairs = direct_vs_lifecycle(bases())
    by_hour = mean_by(pairs, "hour")
    assert by_hour["hour"].to_list() == [12, 13, 14]
    assert by_hour["gap_g_per_kwh"].to_list() == [80.0, 60.0, 40.0]
    by_month = mean_by(pairs, "month")
    assert by_month.rows() == [(6, 200.0, 260.0, 60.0, 3)]


def test_seasons_need_two_months_of_days():
    days = pl.DataFrame({"day": [date(2025, 1, 1) + timedelta(days=k) for k in range(60)]})
    assert seasonal_grain(days) == "month"
    assert seasonal_grain(days.head(59)) == "day"
