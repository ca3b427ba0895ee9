from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from pipelines.schemas import SCHEMAS
from pipelines.site_energy import site_energy_hourly

H0 = datetime(2025, 6, 2, 10, tzinfo=UTC)
REGISTRY = pl.DataFrame(
    {
        "site_id": ["s"] * 5,
        "meter_id": ["imp", "exp", "pv", "hall", "office"],
        "kind": ["grid_import", "grid_export", "pv", "load", "load"],
    }
)


def quarter_hours(meter: str, wh: list[float], start: datetime = H0) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "site_id": "s",
            "meter_id": meter,
            "ts_utc": [start + timedelta(minutes=15 * i) for i in range(len(wh))],
            "interval_s": 900,
            "energy_wh": wh,
        }
    ).with_columns(pl.col("ts_utc").dt.cast_time_unit("us"), pl.col("interval_s").cast(pl.Int32))


def telemetry(device: str, watts: list[float]) -> pl.DataFrame:
    n = len(watts)
    return pl.DataFrame(
        {
            "site_id": ["s"] * n,
            "device_id": [device] * n,
            "ts_utc": [H0 + timedelta(minutes=15 * i) for i in range(n)],
            "metric": ["power_w"] * n,
            "value": watts,
            "unit": ["W"] * n,
        },
        schema=SCHEMAS["device_telemetry"],
    )


def full_hour(**meters: float) -> pl.DataFrame:
    return pl.concat([quarter_hours(m, [v / 4] * 4) for m, v in meters.items()])


@pytest.mark.parametrize(
    ("meters_wh", "devices_w", "expected_kwh"),
    [
        # PV covers the loads, surplus exported, battery charges 4 kW for the hour.
        (
            {"imp": 0, "exp": 2000, "pv": 10000, "hall": 3000, "office": 1000},
            {"battery-1": [4000] * 4},
            {
                "consumption_kwh": 4,
                "pv_self_consumed_kwh": 8,
                "battery_charge_kwh": 4,
                "grid_export_kwh": 2,
            },
        ),
        # Night: battery discharges 2 kW, an EV charges 11 kW, the rest is imported.
        (
            {"imp": 12000, "exp": 0, "pv": 0, "hall": 2500, "office": 500},
            {"battery-1": [-2000] * 4, "charger-1": [11000] * 4},
            {
                "consumption_kwh": 3,
                "battery_discharge_kwh": 2,
                "ev_charge_kwh": 11,
                "pv_self_consumed_kwh": 0,
            },
        ),
    ],
)
def test_hourly_balance_table(meters_wh, devices_w, expected_kwh):
    tel = pl.concat([telemetry(d, w) for d, w in devices_w.items()])
    out = site_energy_hourly(full_hour(**meters_wh), REGISTRY, tel)
    assert out.height == 1
    row = out.row(0, named=True)
    for col, value in expected_kwh.items():
        assert row[col] == pytest.approx(value), col
    assert row["quality"] == "complete"
    sources = (
        row["grid_import_kwh"]
        + row["pv_production_kwh"]
        + row["battery_discharge_kwh"]
        + row["ev_discharge_kwh"]
    )
    sinks = (
        row["consumption_kwh"]
        + row["battery_charge_kwh"]
        + row["ev_charge_kwh"]
        + row["grid_export_kwh"]
    )
    assert sources == pytest.approx(sinks)


def test_missing_interval_flags_the_hour_and_keeps_what_it_has():
    meters = full_hour(imp=1000, exp=0, pv=0, hall=600, office=400)
    meters = meters.filter(~((pl.col("meter_id") == "hall") & (pl.col("ts_utc") == H0)))
    row = site_energy_hourly(meters, REGISTRY, telemetry("battery-1", [])).row(0, named=True)
    assert row["quality"] == "incomplete"
    assert (row["intervals_present"], row["intervals_expected"]) == (19, 20)
    assert row["consumption_kwh"] == pytest.approx(0.85)


def test_unregistered_meter_is_not_counted():
    meters = pl.concat(
        [full_hour(imp=1000, exp=0, pv=0, hall=1000, office=0), quarter_hours("rogue", [999.0] * 4)]
    )
    row = site_energy_hourly(meters, REGISTRY, telemetry("battery-1", [])).row(0, named=True)
    assert row["consumption_kwh"] == pytest.approx(1.0)
