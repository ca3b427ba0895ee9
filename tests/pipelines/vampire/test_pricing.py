from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from pipelines.vampire import detect_vampire_loads
from pipelines.vampire.pricing import event_cost_and_co2, hourly_intensity, interval_prices

from .conftest import TZ, Site, local

T0 = datetime(2025, 9, 30, 22, tzinfo=UTC)


def quarters(start: datetime, n: int) -> pl.Series:
    return pl.Series("ts_utc", [start + timedelta(minutes=15 * i) for i in range(n)]).cast(
        pl.Datetime("us", "UTC")
    )


def test_each_quarter_hour_takes_the_price_of_its_delivery_interval():
    prices = pl.DataFrame(
        {
            "zone": "DE_LU",
            "ts_utc": [
                T0,
                T0 + timedelta(hours=1),
                T0 + timedelta(hours=2),
                T0 + timedelta(hours=2),
            ],
            "interval_s": [3600, 3600, 3600, 900],  # from 00:00 UTC: 15-minute prices too
            "price_eur_per_mwh": [100.0, 80.0, 60.0, 65.0],
        }
    )
    got = interval_prices(quarters(T0, 13), prices)
    expected = [100.0] * 4 + [80.0] * 4 + [65.0] + [60.0] * 3 + [None]
    assert got.to_list() == expected  # the finer price wins, the hourly one fills; gaps null


def test_intensity_is_the_lifecycle_value_of_the_hour_preferring_consumption_basis():
    hours = [T0, T0 + timedelta(hours=1)]
    intensity = pl.DataFrame(
        {
            "zone": "DE_LU",
            "hour_utc": hours * 2,
            "basis": ["production"] * 2 + ["consumption"] * 2,
            "ci_direct_g_per_kwh": [300.0, 310.0, 320.0, 330.0],
            "ci_lifecycle_g_per_kwh": [400.0, 410.0, 420.0, 430.0],
        }
    )
    got = hourly_intensity(quarters(T0 + timedelta(minutes=30), 6), intensity)
    assert got.to_list() == [420.0, 420.0, 430.0, 430.0, 430.0, 430.0]
    production = hourly_intensity(quarters(T0, 1), intensity, basis="production")
    assert production.to_list() == [400.0]


def test_event_cost_and_co2_sum_interval_by_interval_and_are_null_when_incomplete():
    intervals = pl.DataFrame(
        {
            "event": [0, 0, 0, 0, 0, 1, 1],
            "ts_utc": list(quarters(T0 + timedelta(minutes=30), 5)) + list(quarters(T0, 2)),
            "excess_wh": [1_000.0, 2_000.0, 3_000.0, 4_000.0, 5_000.0, 500.0, 500.0],
        }
    )
    prices = pl.DataFrame(
        {
            "ts_utc": [T0, T0 + timedelta(hours=1)],
            "interval_s": [3600, 3600],
            "price_eur_per_mwh": [100.0, 200.0],
        }
    )
    intensity = pl.DataFrame({"hour_utc": [T0], "ci_lifecycle_g_per_kwh": [400.0]})
    out = event_cost_and_co2(intervals, prices, intensity)
    first, second = out.row(0, named=True), out.row(1, named=True)
    # event 0: 3 kWh at 100 €/MWh + 12 kWh at 200 €/MWh; CO2 only known for the first hour
    assert first["excess_wh"] == 15_000.0
    assert first["excess_cost_eur"] == pytest.approx(3 * 0.1 + 12 * 0.2)
    assert first["excess_co2_kg"] is None
    assert second["excess_cost_eur"] == pytest.approx(1 * 0.1)
    assert second["excess_co2_kg"] == pytest.approx(1 * 0.4)
    bare = event_cost_and_co2(intervals)
    assert bare["excess_cost_eur"].null_count() == bare["excess_co2_kg"].null_count() == 2


def test_several_zones_need_a_choice():
    prices = pl.DataFrame(
        {
            "zone": ["DE_LU", "FR"],
            "ts_utc": [T0, T0],
            "interval_s": [3600, 3600],
            "price_eur_per_mwh": [100.0, 50.0],
        }
    )
    with pytest.raises(ValueError, match="several zones"):
        interval_prices(quarters(T0, 1), prices)
    assert interval_prices(quarters(T0, 1), prices, zone="FR").to_list() == [50.0]


def test_detected_events_carry_cost_and_co2_at_the_given_price_and_intensity():
    site = Site(date(2025, 1, 6), 28)
    site.add("press-1", local(2025, 1, 15, 22), local(2025, 1, 16, 5, 30), 8_000.0)
    readings = site.readings()
    hours = pl.datetime_range(readings["ts_utc"].min(), readings["ts_utc"].max(), "1h", eager=True)
    prices = pl.DataFrame({"ts_utc": hours, "interval_s": 3600, "price_eur_per_mwh": 150.0})
    intensity = pl.DataFrame({"hour_utc": hours, "ci_lifecycle_g_per_kwh": 500.0})
    events = detect_vampire_loads(readings, timezone=TZ, prices=prices, intensity=intensity)
    event = events.row(0, named=True)
    assert event["excess_cost_eur"] == pytest.approx(event["excess_kwh"] * 0.150)
    assert event["excess_co2_kg"] == pytest.approx(event["excess_kwh"] * 0.500)
