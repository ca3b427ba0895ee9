"""Fleet queries on a small constructed lake: two vehicles over one UTC day.

truck-a (100 kWh, charger-a) is plugged in at midnight (arrival not on record: at its 90 %
target), leaves 06:00, comes back 10:00 having used 40 kWh and charges 20 kW for two
hours. truck-b (50 kWh, charger-b) has no route at all, charges 5 kW 14:00-15:15 (more
than it can take) and gives 5 kW back 16:00-16:15.
Telemetry ends 17:45, so the as-of moment is 18:00. Plans: one made the day before for
the morning (charger-a 5 kW), one made 12:00 (charger-a -10 kW 18:00-19:00, to 06:00 the
next day) and one made 20:00, after the as-of moment, that must not count.
"""

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from pipelines import lake
from pipelines.explore.fleet import (
    fleet_series,
    fleet_status,
    settlement_days,
    v2g_daily,
)
from pipelines.schemas import SCHEMAS

SITE, TZ = "s", "UTC"
DAY = date(2025, 6, 2)
T = datetime(2025, 6, 2, tzinfo=UTC)
Q = timedelta(minutes=15)


def at(hours: float) -> datetime:
    return T + timedelta(hours=hours)


def frame(dataset: str, rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMAS[dataset])


def plan_rows(plan_id: str, created: datetime, first: datetime, slots: int, power) -> list[dict]:
    until = first + slots * Q
    return [
        {
            "site_id": SITE,
            "plan_id": plan_id,
            "kind": "day_ahead",
            "created_at_utc": created,
            "valid_from_utc": first,
            "valid_until_utc": until,
            "device_id": charger,
            "slot_start_utc": first + k * Q,
            "power_w": power(charger, first + k * Q),
        }
        for charger in ("charger-a", "charger-b")
        for k in range(slots)
    ]


def telemetry_w(charger: str, ts: datetime) -> float:
    if charger == "charger-a":
        return 20_000.0 if at(10) <= ts < at(12) else 0.0
    if at(16) <= ts < at(16.25):
        return -5_000.0
    return 5_000.0 if at(14) <= ts < at(15.25) else 0.0


def discharge_evening(charger: str, ts: datetime) -> float:
    return -10_000.0 if charger == "charger-a" and at(18) <= ts < at(19) else 0.0


@pytest.fixture
def fleet_lake(tmp_path):
    root = tmp_path / "lake"
    vehicles = [
        ("truck-a", 100.0, True, "fleet-owner", "charger-a"),
        ("truck-b", 50.0, False, "leasing", "charger-b"),
    ]
    lake.write_partition(
        root,
        "fleet_vehicles",
        frame(
            "fleet_vehicles",
            [
                {
                    "site_id": SITE,
                    "vehicle_id": v,
                    "capacity_kwh": cap,
                    "max_charge_kw": 22.0,
                    "max_discharge_kw": 22.0 if v2g else 0.0,
                    "v2g_allowed": v2g,
                    "owner_account": owner,
                    "charger_id": charger,
                }
                for v, cap, v2g, owner, charger in vehicles
            ],
        ),
        SITE,
    )
    trips = [
        (at(6), at(10), 40.0),
        (at(30), at(36), 10.0),  # tomorrow 06:00
    ]
    lake.write_partition(
        root,
        "fleet_trips",
        frame(
            "fleet_trips",
            [
                {
                    "site_id": SITE,
                    "vehicle_id": "truck-a",
                    "depart_utc": d,
                    "arrive_utc": a,
                    "energy_kwh": e,
                }
                for d, a, e in trips
            ],
        ),
        SITE,
    )
    telemetry = frame(
        "device_telemetry",
        [
            {
                "site_id": SITE,
                "device_id": charger,
                "ts_utc": at(0) + k * Q,
                "metric": "power_w",
                "value": telemetry_w(charger, at(0) + k * Q),
                "unit": "W",
            }
            for charger in ("charger-a", "charger-b")
            for k in range(72)  # 00:00 to 17:45
        ],
    )
    lake.write_days(root, "device_telemetry", telemetry, [SITE], [DAY])
    plans = (
        plan_rows("morning", at(-12), at(0), 48, lambda c, ts: 5_000.0 if c == "charger-a" else 0)
        + plan_rows("noon", at(12), at(12), 72, discharge_evening)
        + plan_rows("late", at(20), at(20), 40, lambda c, ts: 22_000.0)
    )
    lake.merge_days(root, "setpoint_plans", frame("setpoint_plans", plans))
    settled = [
        (DAY, "truck-a", "planned", 10.0, 1.5, 0),
        (DAY, "truck-a", "metered", 8.0, 1.2, 0),
        (DAY + timedelta(days=1), "truck-a", "planned", 5.0, 0.5, 2),
        (DAY - timedelta(days=10), "truck-a", "planned", 100.0, 9.0, 0),  # outside the week
    ]
    lake.write_partition(
        root,
        "v2g_settlements",
        frame(
            "v2g_settlements",
            [
                {
                    "site_id": SITE,
                    "day": d,
                    "owner_account": "fleet-owner",
                    "vehicle_id": v,
                    "basis": basis,
                    "discharged_kwh": kwh,
                    "amount_eur": eur,
                    "price_slots_missing": missing,
                }
                for d, v, basis, kwh, eur, missing in settled
            ],
        ),
        SITE,
    )
    return str(root)


def slot(series: pl.DataFrame, vehicle: str, hours: float) -> dict:
    return series.filter(vehicle_id=vehicle, ts_utc=at(hours)).row(0, named=True)


def test_series_covers_the_day_and_the_plan_horizon(fleet_lake):
    series = fleet_series(fleet_lake, SITE, TZ, DAY)
    # the noon plan reaches 06:00 tomorrow: 30 hours of 15-minute slots per vehicle
    assert series.height == 2 * 120
    assert series["ts_utc"].min() == at(0) and series["ts_utc"].max() == at(29.75)
    assert slot(series, "truck-a", 17.75)["basis"] == "metered"
    assert slot(series, "truck-a", 18)["basis"] == "planned"


def test_soc_integrates_metered_then_planned_power(fleet_lake):
    series = fleet_series(fleet_lake, SITE, TZ, DAY)
    # plugged at midnight with no arrival on record: at its 90 % target
    assert slot(series, "truck-a", 0)["soc_kwh"] == 90.0
    # away 06:00-10:00
    away = series.filter(
        pl.col("vehicle_id") == "truck-a", pl.col("ts_utc").is_between(at(6), at(10), "left")
    )
    assert away.height == 16 and not away["plugged_in"].any()
    assert away["soc_kwh"].null_count() == 16
    # back with 90 - 40 = 50 kWh, then 20 kW for 15 minutes = 5 kWh per slot
    assert slot(series, "truck-a", 10)["soc_kwh"] == 55.0
    assert slot(series, "truck-a", 11.75)["soc_kwh"] == 90.0
    # after the as-of moment the plan discharges 10 kW for an hour
    assert slot(series, "truck-a", 18)["soc_kwh"] == 87.5
    assert slot(series, "truck-a", 18.75)["soc_pct"] == 80.0
    assert series.filter(vehicle_id="truck-a")["soc_kwh"][-1] == 80.0


def test_soc_stays_within_the_battery(fleet_lake):
    series = fleet_series(fleet_lake, SITE, TZ, DAY)
    assert slot(series, "truck-b", 0)["soc_kwh"] == 45.0  # no route on record
    assert slot(series, "truck-b", 14.75)["soc_pct"] == 100.0  # 45 + 4 × 1.25
    assert slot(series, "truck-b", 15)["soc_kwh"] == 50.0  # full: the last 1.25 kWh not taken
    assert slot(series, "truck-b", 16)["soc_kwh"] == 48.75  # discharging starts from full
    assert series.filter(vehicle_id="truck-b")["plugged_in"].all()


def test_plans_in_force_as_of_the_newest_telemetry(fleet_lake):
    series = fleet_series(fleet_lake, SITE, TZ, DAY)
    assert slot(series, "truck-a", 9)["planned_kw"] == 5.0  # the morning plan
    assert slot(series, "truck-a", 9)["metered_kw"] == 0.0
    assert slot(series, "truck-a", 18)["planned_kw"] == -10.0
    # the late plan was made at 20:00, after the as-of moment (18:00): not in force
    assert slot(series, "truck-a", 21)["planned_kw"] == 0.0


def test_status_per_vehicle_at_the_as_of_moment(fleet_lake):
    status = fleet_status(fleet_lake, SITE, TZ, DAY)
    a, b = status.rows(named=True)
    assert a["as_of_utc"] == at(18) and a["vehicle_id"] == "truck-a"
    assert (a["plugged_in"], a["soc_pct"], a["setpoint_kw"]) == (True, 90.0, -10.0)
    assert a["next_departure_utc"] == at(30)
    # the week up to the plan's last day (tomorrow): the settlement 10 days back is left out
    assert (a["planned_kwh"], a["planned_eur"]) == (15.0, 2.0)
    assert (a["metered_kwh"], a["metered_eur"]) == (8.0, 1.2)
    assert (b["soc_pct"], b["setpoint_kw"], b["next_departure_utc"]) == (97.5, 0.0, None)
    assert (b["planned_kwh"], b["metered_eur"]) == (0.0, 0.0)


def test_settlement_week_ends_with_the_plan(fleet_lake):
    assert settlement_days(fleet_lake, SITE, TZ, DAY) == (date(2025, 5, 28), date(2025, 6, 3))


def test_v2g_daily_puts_planned_next_to_metered(fleet_lake):
    daily = v2g_daily(fleet_lake, SITE, DAY, DAY + timedelta(days=1))
    assert daily.select("day", "planned_kwh", "planned_eur", "metered_kwh").rows() == [
        (DAY, 10.0, 1.5, 8.0),
        (DAY + timedelta(days=1), 5.0, 0.5, 0.0),
    ]
    assert daily["price_slots_missing"].to_list() == [0, 2]


def test_an_empty_lake_gives_empty_frames(tmp_path):
    root = str(tmp_path / "none")
    assert fleet_series(root, SITE, TZ, DAY).is_empty()
    assert fleet_status(root, SITE, TZ, DAY).is_empty()
    assert v2g_daily(root, SITE, DAY, DAY).is_empty()
