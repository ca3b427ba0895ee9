from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from pipelines.schemas import SCHEMAS
from pipelines.vampire import detect_vampire_loads

from .conftest import TZ, Site, local

QUARTER = timedelta(minutes=15)


def detect(site: Site, **kwargs) -> pl.DataFrame:
    return detect_vampire_loads(site.readings(), site_id="test-site", timezone=TZ, **kwargs)


def assert_one_event(events, meter, start, end, kwh):
    assert events["meter_id"].to_list() == [meter], events
    event = events.row(0, named=True)
    assert abs(event["start_utc"] - start) <= QUARTER
    assert abs(event["end_utc"] - end) <= QUARTER
    assert event["excess_kwh"] == pytest.approx(kwh, rel=0.10)
    return event


def test_a_clean_month_has_no_events():
    events = detect(Site(date(2025, 1, 6), 28))
    assert events.is_empty()
    assert events.schema == pl.Schema(SCHEMAS["vampire_load_events"])


def test_a_machine_left_on_overnight_is_one_event_with_its_bounds_and_excess():
    site = Site(date(2025, 1, 6), 28)
    start, end = local(2025, 1, 15, 22), local(2025, 1, 16, 5, 30)
    site.add("press-1", start, end, 8_000.0)  # 8 kW for 7.5 h = 60 kWh
    event = assert_one_event(detect(site), "press-1", start, end, 60.0)
    assert event["site_id"] == "test-site"
    assert event["mean_excess_power_w"] == pytest.approx(8_000.0, rel=0.10)
    assert event["score"] >= 1.0
    assert event["excess_cost_eur"] is None and event["excess_co2_kg"] is None


def test_an_event_in_the_middle_of_the_night_has_its_own_bounds():
    site = Site(date(2025, 1, 6), 28)
    start, end = local(2025, 1, 21, 23, 45), local(2025, 1, 22, 3, 15)
    site.add("saw-2", start, end, 3_000.0)  # 3 kW for 3.5 h
    assert_one_event(detect(site), "saw-2", start, end, 10.5)


def test_compressor_spikes_of_30_to_45_minutes_do_not_fire():
    site = Site(date(2025, 1, 6), 28)
    rng = np.random.default_rng(1)
    for day in range(28):
        for hour in (0, 2, 4):  # three spikes a night, at least an hour apart
            start = local(2025, 1, 6, 23) + timedelta(days=day, hours=hour)
            minutes = int(rng.choice([30, 45]))
            site.add("saw-2", start, start + timedelta(minutes=minutes), 6_000.0)
    assert detect(site).is_empty()


def test_spring_daylight_saving_night_is_handled_in_local_time():
    site = Site(date(2025, 3, 10), 28)  # 2025-03-30: 02:00 → 03:00 local
    assert detect(site).is_empty()
    start, end = local(2025, 3, 29, 22), local(2025, 3, 30, 5)  # 7 wall-clock hours, 6 real
    site.add("press-1", start, end, 8_000.0)
    assert end - start == timedelta(hours=6)
    assert_one_event(detect(site), "press-1", start, end, 48.0)


def test_autumn_daylight_saving_night_is_handled_in_local_time():
    site = Site(date(2025, 10, 6), 28)  # 2025-10-26: 03:00 → 02:00 local
    assert detect(site).is_empty()
    start, end = local(2025, 10, 25, 22), local(2025, 10, 26, 5)  # 7 wall-clock hours, 8 real
    site.add("oven-3", start, end, 10_000.0)
    assert end - start == timedelta(hours=8)
    assert_one_event(detect(site), "oven-3", start, end, 80.0)


def test_a_public_holiday_with_the_machine_off_is_normal():
    site = Site(date(2025, 5, 12), 28)  # Ascension Day, Thursday 2025-05-29
    assert not site.working[site.mask(local(2025, 5, 29, 6), local(2025, 5, 29, 22))].any()
    assert detect(site).is_empty()


def test_a_machine_running_on_a_public_holiday_is_a_vampire():
    site = Site(date(2025, 5, 12), 28)
    site.run_as_workday("press-1", date(2025, 5, 29))
    assert_one_event(
        detect(site), "press-1", local(2025, 5, 29, 6), local(2025, 5, 29, 22), 19.5 * 16
    )


def test_the_holiday_calendar_follows_the_subdivision():
    # Reformation Day, Friday 2025-10-31, is a holiday in Brandenburg, not in Bavaria:
    # a plant in Bavaria works that day, which is a vampire only by Brandenburg's calendar
    site = Site(date(2025, 10, 13), 28, subdivision="BY")
    assert detect(site, subdivision="BY").is_empty()
    events = detect(site, subdivision="BB")
    assert set(events["meter_id"]) == {"press-1", "saw-2", "oven-3"}
    assert (events["start_utc"] == local(2025, 10, 31, 6)).all()


def test_result_does_not_depend_on_row_order_and_features_are_optional():
    site = Site(date(2025, 1, 6), 28)
    site.add("press-1", local(2025, 1, 15, 22), local(2025, 1, 16, 5, 30), 8_000.0)
    readings = site.readings()
    shuffled = readings.sample(fraction=1.0, shuffle=True, seed=3)
    a = detect_vampire_loads(readings, timezone=TZ)
    b = detect_vampire_loads(shuffled, timezone=TZ)
    assert a.equals(b)
    assert a["site_id"].to_list() == ["unknown"]
    hours = pl.datetime_range(readings["ts_utc"].min(), readings["ts_utc"].max(), "1h", eager=True)
    temperature = pl.DataFrame(
        {"hour_utc": hours, "temp_air_c": 5.0 + np.sin(np.arange(len(hours)))}
    )
    with_temperature = detect_vampire_loads(readings, timezone=TZ, temperature=temperature)
    without_model = detect_vampire_loads(readings, timezone=TZ, use_model=False)
    for events in (with_temperature, without_model):
        assert events["meter_id"].to_list() == ["press-1"]


def test_missing_intervals_split_nothing_and_count_no_excess():
    site = Site(date(2025, 1, 6), 28)
    start, end = local(2025, 1, 15, 22), local(2025, 1, 16, 5, 30)
    site.add("press-1", start, end, 8_000.0)
    readings = site.readings()
    gap = (pl.col("meter_id") == "press-1") & (pl.col("ts_utc") == local(2025, 1, 16, 1))
    events = detect_vampire_loads(readings.filter(~gap), timezone=TZ)
    assert_one_event(events, "press-1", start, end, 60.0 - 2.0)
