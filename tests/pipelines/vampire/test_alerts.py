from datetime import UTC, datetime

import polars as pl

from pipelines.schemas import SCHEMAS, conform
from pipelines.vampire.alerts import severity, vampire_alerts


def make_events(**overrides) -> pl.DataFrame:
    row = {
        "site_id": "warehouse-b",
        "meter_id": "load-shredder-2",
        "start_utc": datetime(2025, 2, 20, 21, tzinfo=UTC),  # 22:00 CET
        "end_utc": datetime(2025, 2, 21, 4, 30, tzinfo=UTC),  # 05:30 CET
        "excess_kwh": 112.4,
        "excess_cost_eur": 31.2,
        "excess_co2_kg": 42.0,
        "mean_excess_power_w": 14_000.0,
        "score": 2.5,
    } | overrides
    return conform(pl.DataFrame([row]), "vampire_load_events")


METERS = pl.DataFrame(
    {
        "site_id": ["warehouse-b", "warehouse-b"],
        "meter_id": ["load-shredder-2", "load-hvac"],
        "description": ["shredder line 2", ""],
    }
)


def test_alert_message_in_local_time_with_cost_and_co2():
    alerts = vampire_alerts(make_events(), METERS)
    assert alerts.schema == pl.Schema(SCHEMAS["vampire_alerts"])
    alert = alerts.row(0, named=True)
    assert alert["message"] == (
        "High Consumption Alert: shredder line 2 drew 14 kW from 22:00 to 05:30, "
        "112 kWh, 31 €, 42 kg CO2 (Thu 2025-02-20)"
    )
    assert alert["severity"] == "high"
    assert alert["excess_kwh"] == 112.4


def test_alert_without_price_intensity_or_description():
    events = make_events(
        meter_id="load-hvac",
        start_utc=datetime(2025, 7, 4, 20, tzinfo=UTC),  # Friday 22:00 CEST
        end_utc=datetime(2025, 7, 6, 4, tzinfo=UTC),  # Sunday 06:00 CEST
        excess_kwh=45.0,
        excess_cost_eur=None,
        excess_co2_kg=None,
        mean_excess_power_w=1_406.25,
    )
    alert = vampire_alerts(events, METERS).row(0, named=True)
    assert alert["message"] == (
        "High Consumption Alert: load-hvac drew 1.4 kW from Fri 22:00 to Sun 06:00, "
        "45 kWh (Fri 2025-07-04)"
    )
    assert alert["severity"] == "medium"
    assert vampire_alerts(events).row(0, named=True)["message"] == alert["message"]


def test_severity_grows_with_excess_energy_and_no_events_no_alerts():
    assert [severity(x) for x in (5.0, 20.0, 99.9, 100.0)] == ["low", "medium", "medium", "high"]
    assert severity(50.0, (60.0, 200.0)) == "low"
    empty = vampire_alerts(make_events().clear())
    assert empty.is_empty() and empty.schema == pl.Schema(SCHEMAS["vampire_alerts"])
