from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from pipelines import lake
from pipelines.explore.anomalies import (
    alert_totals,
    alerts_with_events,
    biggest_waste,
    excess_kwh,
    impact_per_year,
    median_night_baseline,
    meter_night,
    readings_days,
    savings_if_fixed,
    yearly_impact,
)
from pipelines.schemas import SCHEMAS

TZ = "Europe/Berlin"


def test_yearly_impact_per_meter_and_savings():
    alerts = pl.DataFrame(
        {
            "meter_id": ["a", "a", "b"],
            "excess_kwh": [10.0, 30.0, 5.0],
            "excess_cost_eur": [1.0, 3.0, 0.5],
            "excess_co2_kg": [4.0, 12.0, 2.0],
        }
    )
    got = yearly_impact(alerts, 73.0)  # a fifth of a year
    assert got["meter_id"].to_list() == ["a", "b"]
    a = got.row(0, named=True)
    assert (a["alerts"], a["kwh_per_alert"], a["eur_per_alert"]) == (2, 20.0, 2.0)
    assert (a["kwh_per_year"], a["eur_per_year"], a["kg_co2_per_year"]) == (200.0, 20.0, 80.0)
    assert savings_if_fixed(got, "b") == {
        "kwh_per_year": 25.0,
        "eur_per_year": 2.5,
        "kg_co2_per_year": 10.0,
    }
    assert savings_if_fixed(got, "nobody")["kwh_per_year"] == 0.0
    assert alert_totals(alerts) == {
        "alerts": 3.0,
        "excess_kwh": 45.0,
        "excess_cost_eur": 4.5,
        "excess_co2_kg": 18.0,
    }


def test_excess_counts_only_power_above_the_baseline_inside_the_event():
    night = pl.DataFrame(
        {
            "power_w": [5000.0, 3000.0, 1000.0, 9000.0],
            "expected_w": [1000.0, 1000.0, 2000.0, 1000.0],
            "in_event": [True, True, True, False],
        }
    )
    # (4000 + 2000 + 0) W × 0.25 h
    assert excess_kwh(night) == 1.5


def readings(meter, start: datetime, days: int, power_w, extra=None) -> pl.DataFrame:
    """Quarter-hour readings at ``power_w`` [W]; ``extra`` (start, end, W) on top."""
    ts = pl.datetime_range(
        start, start + timedelta(days=days) - timedelta(minutes=15), "15m", eager=True
    )
    frame = pl.DataFrame({"ts_utc": ts}).with_columns(
        pl.lit("s").alias("site_id"),
        pl.lit(meter).alias("meter_id"),
        pl.lit(900).alias("interval_s"),
        pl.lit(power_w / 4).alias("energy_wh"),
        pl.lit("measured").alias("quality"),
    )
    if extra:
        lo, hi, w = extra
        frame = frame.with_columns(
            pl.when(pl.col("ts_utc").is_between(lo, hi, closed="left"))
            .then(pl.col("energy_wh") + w / 4)
            .otherwise(pl.col("energy_wh"))
        )
    return frame


def test_median_night_baseline_compares_each_slot_with_its_median():
    start = datetime(2025, 1, 6, tzinfo=UTC)  # Monday
    night = (datetime(2025, 1, 7, 21, tzinfo=UTC), datetime(2025, 1, 8, 5, tzinfo=UTC))
    frame = readings("m", start, 4, 1000.0, (*night, 3000.0))
    got = median_night_baseline(frame, TZ)
    inside = got.filter(pl.col("ts_utc").is_between(*night, closed="left"))
    assert inside["night"].unique().to_list() == [date(2025, 1, 7)]  # 22:00 local on the 7th
    assert inside["expected_w"].unique().to_list() == [1000.0]
    assert inside["power_w"].unique().to_list() == [4000.0]
    noon = got.filter(pl.col("ts_utc") == datetime(2025, 1, 7, 11, tzinfo=UTC))
    assert noon["night"].item() is None and noon["expected_w"].item() is None


def registry(meters) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "site_id": "s",
            "meter_id": meters,
            "kind": "load",
            "description": meters,
            "max_power_w": 1e6,
        },
        schema=SCHEMAS["meter_registry"],
    )


def write_readings(root, frame: pl.DataFrame) -> None:
    days = frame["ts_utc"].dt.date().unique().sort().to_list()
    lake.write_days(root, "meter_readings", frame, ["s"], days)


@pytest.fixture
def month_lake(tmp_path):
    """Three load meters over 21 days; one left on (+2 kW) one night, late enough for the
    detector's 14 days of history."""
    start = datetime(2025, 1, 6, tzinfo=UTC)
    event = (datetime(2025, 1, 20, 21, tzinfo=UTC), datetime(2025, 1, 21, 5, tzinfo=UTC))
    frames = [
        readings("press", start, 21, 1000.0, (*event, 2000.0)),
        readings("hall", start, 21, 3000.0),
        readings("pump", start, 21, 500.0),
    ]
    lake.write_partition(tmp_path, "meter_registry", registry(["hall", "press", "pump"]), "s")
    write_readings(tmp_path, pl.concat(frames))
    return tmp_path, event


def test_meter_night_uses_the_detectors_baseline(month_lake):
    root, (start, end) = month_lake
    night = meter_night(root, "s", "press", start, end, TZ)
    assert night["baseline"].unique().to_list() == ["detector"]
    assert night["ts_utc"][0] == start - timedelta(hours=3)
    assert night.filter("in_event").height == 32
    assert excess_kwh(night) == pytest.approx(16.0)  # 2 kW × 8 h
    assert len(readings_days(root, "s")) == 21


def test_a_short_lake_falls_back_to_the_median_night(tmp_path):
    start = datetime(2025, 1, 6, tzinfo=UTC)
    event = (datetime(2025, 1, 7, 21, tzinfo=UTC), datetime(2025, 1, 8, 5, tzinfo=UTC))
    lake.write_partition(tmp_path, "meter_registry", registry(["press"]), "s")
    write_readings(tmp_path, readings("press", start, 5, 1000.0, (*event, 2000.0)))
    night = meter_night(tmp_path, "s", "press", *event, TZ)
    assert night["baseline"].unique().to_list() == ["median night"]
    assert excess_kwh(night) == 16.0
    waste = biggest_waste(tmp_path, "s", "Z", TZ)
    assert waste["source"] == "median night"
    assert (waste["meter_id"], waste["start_utc"], waste["end_utc"]) == ("press", *event)
    assert waste["excess_kwh"] == 16.0
    assert waste["excess_cost_eur"] is None  # no prices in this lake
    impact = impact_per_year(tmp_path, "s", "Z", TZ)
    assert impact["kwh_per_year"].item() == 16.0 * 365 / 5


def test_alerts_joined_with_their_events_newest_first(tmp_path):
    starts = [datetime(2025, 1, 7, 21, tzinfo=UTC), datetime(2025, 1, 9, 21, tzinfo=UTC)]
    base = {"site_id": "s", "meter_id": "press", "start_utc": starts}
    ends = [s + timedelta(hours=8) for s in starts]
    impact = {"excess_kwh": [16.0, 8.0], "excess_cost_eur": [2.0, 1.0], "excess_co2_kg": [6.0, 3.0]}
    alerts = pl.DataFrame(
        {**base, "end_utc": ends, "severity": "low", "message": ["m1", "m2"], **impact}
    )
    events = pl.DataFrame(
        {**base, "end_utc": ends, **impact, "mean_excess_power_w": [2000.0, 1000.0], "score": 2.0}
    )
    days = [date(2025, 1, 7), date(2025, 1, 9)]
    lake.write_days(tmp_path, "vampire_alerts", alerts, ["s"], days)
    lake.write_days(tmp_path, "vampire_load_events", events, ["s"], days)
    got = alerts_with_events(tmp_path, "s", TZ)
    assert got["message"].to_list() == ["m2", "m1"]
    assert got["mean_excess_power_w"].to_list() == [1000.0, 2000.0]
    assert got["start_local"][0].hour == 22
    waste = biggest_waste(tmp_path, "s", "Z", TZ)
    assert (waste["source"], waste["excess_kwh"]) == ("alert", 16.0)
    assert alerts_with_events(tmp_path, "other", TZ).is_empty()
