"""Plugged-in sessions from routes and charger telemetry."""

from datetime import UTC, datetime, timedelta

import polars as pl

from pipelines.planning.fleet_sessions import ev_sessions

T0 = datetime(2026, 11, 24, 12, tzinfo=UTC)
Q = timedelta(minutes=15)
UTC_TS = pl.Datetime("us", "UTC")

VEHICLES = pl.DataFrame(
    {
        "vehicle_id": ["truck-1"],
        "capacity_kwh": [100.0],
        "max_charge_kw": [22.0],
        "max_discharge_kw": [11.0],
        "v2g_allowed": [True],
        "owner_account": ["fleet-a"],
        "charger_id": ["charger-1"],
    }
)


def trips(*rows) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"vehicle_id": "truck-1", "depart_utc": d, "arrive_utc": a, "energy_kwh": e}
            for d, a, e in rows
        ],
        schema={
            "vehicle_id": pl.String,
            "depart_utc": UTC_TS,
            "arrive_utc": UTC_TS,
            "energy_kwh": pl.Float64,
        },
    )


def power(rows) -> pl.DataFrame:
    return pl.DataFrame(
        [{"device_id": "charger-1", "ts_utc": t, "value": w} for t, w in rows],
        schema={"device_id": pl.String, "ts_utc": UTC_TS, "value": pl.Float64},
    )


def test_plugged_vehicle_state_of_charge_counts_what_its_charger_delivered():
    # back at 10:00 from a 50 kWh route; charged 22 kW for four quarter-hours (22 kWh)
    t = trips(
        (T0 - 6 * timedelta(hours=1), T0 - 2 * timedelta(hours=1), 50.0),
        (T0 + 16 * Q, T0 + 30 * Q, 20.0),
    )
    charged = power([(T0 - 2 * timedelta(hours=1) + i * Q, 22_000.0) for i in range(4)])
    (first, second) = ev_sessions(VEHICLES, t, charged, T0, 96, 15)
    assert first.ev["id"] == "truck-1" and first.charger_id == "charger-1"
    assert first.ev["arrival_slot"] == 0 and first.ev["departure_slot"] == 16
    assert first.ev["soc_kwh"] == 90 - 50 + 22
    assert first.ev["energy_needed_kwh"] == 90 - 62
    assert first.ev["min_soc_kwh"] == 10 and first.ev["v2g"] is True
    assert second.ev["id"] == "truck-1#2"
    assert second.ev["arrival_slot"] == 30 and second.ev["soc_kwh"] == 70
    assert second.ev["departure_slot"] == 96  # no next route on record: back by the end
    assert second.owner_account == "fleet-a"


def test_arrival_between_slot_boundaries_plugs_in_from_the_next_slot():
    t = trips((T0 - timedelta(hours=6), T0 + 3 * Q + timedelta(minutes=5), 30.0))
    (s,) = ev_sessions(VEHICLES, t, power([]), T0, 96, 15)
    assert s.ev["arrival_slot"] == 4


def test_vehicle_on_the_road_for_the_whole_horizon_has_no_session():
    t = trips((T0 - Q, T0 + 96 * Q + Q, 30.0))
    assert ev_sessions(VEHICLES, t, power([]), T0, 96, 15) == []


def test_vehicle_with_no_route_on_record_is_at_its_target():
    (s,) = ev_sessions(VEHICLES, trips(), power([]), T0, 8, 15)
    assert s.ev["soc_kwh"] == 90 and s.ev["energy_needed_kwh"] == 0
