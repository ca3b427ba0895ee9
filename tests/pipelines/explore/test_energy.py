from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from pipelines import lake
from pipelines.explore.energy import (
    data_span,
    energy_balance,
    grid_peak_kw,
    overview_kpis,
    sankey_links,
    signed_flows,
    site_energy_daily,
    site_energy_hourly,
)
from pipelines.schemas import SCHEMAS

BERLIN = "Europe/Berlin"  # UTC+2 in June


def hours(start: datetime, n: int, **kwh: float) -> pl.DataFrame:
    """n hourly site_energy_hourly rows of site s from start, every energy column 0 unless given."""
    rows = []
    for h in range(n):
        row = {c: 0.0 for c in SCHEMAS["site_energy_hourly"] if c.endswith("_kwh")}
        row.update(kwh)
        row.update(
            site_id="s",
            hour_utc=start + timedelta(hours=h),
            intervals_expected=4,
            intervals_present=4,
            quality="complete",
        )
        rows.append(row)
    return pl.DataFrame(rows, schema=SCHEMAS["site_energy_hourly"])


def two_june_days(root) -> None:
    """48 UTC hours from 2025-06-01 00:00: 10 kWh grid import, 4 kWh PV (3 self-consumed)."""
    frame = hours(
        datetime(2025, 6, 1, tzinfo=UTC),
        48,
        grid_import_kwh=10.0,
        pv_production_kwh=4.0,
        pv_self_consumed_kwh=3.0,
        grid_export_kwh=1.0,
        consumption_kwh=12.0,
        ev_charge_kwh=1.0,
    )
    lake.write_days(root, "site_energy_hourly", frame, ["s"], [date(2025, 6, 1), date(2025, 6, 2)])


def test_hourly_rows_of_a_local_day(tmp_path):
    two_june_days(tmp_path)
    got = site_energy_hourly(tmp_path, "s", date(2025, 6, 1), date(2025, 6, 1), BERLIN)
    # local 2025-06-01 is 05-31 22:00 to 06-01 22:00 UTC; the lake starts at 06-01 00:00 UTC
    assert got.height == 22
    assert got["hour_local"][0] == datetime(2025, 6, 1, 2)
    assert got["hour_local"][-1] == datetime(2025, 6, 1, 23)
    assert got["day"].unique().to_list() == [date(2025, 6, 1)]


def test_daily_totals_by_local_day(tmp_path):
    two_june_days(tmp_path)
    daily = site_energy_daily(tmp_path, "s", BERLIN, date(2025, 6, 1), date(2025, 6, 3))
    assert daily["day"].to_list() == [date(2025, 6, 1), date(2025, 6, 2), date(2025, 6, 3)]
    assert daily["grid_import_kwh"].to_list() == [220.0, 240.0, 20.0]  # 22 + 24 + 2 hours
    utc = site_energy_daily(tmp_path, "s")
    assert utc["grid_import_kwh"].to_list() == [240.0, 240.0]


def test_kpis_of_a_day():
    daily = hours(
        datetime(2025, 6, 1, tzinfo=UTC),
        2,
        consumption_kwh=9.0,
        ev_charge_kwh=1.0,
        pv_production_kwh=5.0,
        pv_self_consumed_kwh=4.0,
    )
    kpis = overview_kpis(daily)
    assert kpis == {"consumption_mwh": 0.02, "pv_production_mwh": 0.01, "pv_share_pct": 40.0}
    assert overview_kpis(daily.clear())["pv_share_pct"] == 0.0


def test_span_ends_on_the_last_complete_local_day(tmp_path):
    assert data_span(tmp_path, "s", BERLIN) is None
    two_june_days(tmp_path)
    # the last UTC hour, 06-02 23:00, is 06-03 01:00 local: 06-03 has 2 hours only
    assert data_span(tmp_path, "s", BERLIN) == (date(2025, 6, 1), date(2025, 6, 2))
    assert data_span(tmp_path, "s", "UTC") == (date(2025, 6, 1), date(2025, 6, 2))


def test_span_of_less_than_a_day_is_that_day(tmp_path):
    frame = hours(datetime(2025, 6, 1, 3, tzinfo=UTC), 3, grid_import_kwh=1.0)
    lake.write_days(tmp_path, "site_energy_hourly", frame, ["s"], [date(2025, 6, 1)])
    assert data_span(tmp_path, "s", BERLIN) == (date(2025, 6, 1), date(2025, 6, 1))


def meters(root) -> None:
    registry = pl.DataFrame(
        {
            "site_id": ["s", "s"],
            "meter_id": ["grid-in", "hall"],
            "kind": ["grid_import", "load"],
            "description": ["", ""],
            "max_power_w": [1e6, 1e6],
        }
    )
    lake.write_partition(root, "meter_registry", registry, "s")
    # (UTC time, meter, Wh over 15 min)
    rows = [
        (datetime(2025, 5, 31, 21, 45, tzinfo=UTC), "grid-in", 90_000.0),  # 23:45 local, 05-31
        (datetime(2025, 5, 31, 22, 0, tzinfo=UTC), "grid-in", 20_000.0),  # 00:00 local, 80 kW
        (datetime(2025, 6, 1, 9, 15, tzinfo=UTC), "grid-in", 25_000.0),  # 11:15 local, 100 kW
        (datetime(2025, 6, 1, 9, 15, tzinfo=UTC), "hall", 80_000.0),  # a load meter, not grid
        (datetime(2025, 6, 1, 22, 0, tzinfo=UTC), "grid-in", 50_000.0),  # 06-02 local
    ]
    readings = pl.DataFrame(
        [
            {
                "site_id": "s",
                "meter_id": m,
                "ts_utc": t,
                "interval_s": 900,
                "energy_wh": wh,
                "quality": "measured",
            }
            for t, m, wh in rows
        ],
        schema=SCHEMAS["meter_readings"],
    )
    lake.write_days(root, "meter_readings", readings, ["s"], [date(2025, 5, 31), date(2025, 6, 1)])


def test_peak_from_quarter_hour_grid_import(tmp_path):
    meters(tmp_path)
    peak = grid_peak_kw(tmp_path, "s", date(2025, 6, 1), BERLIN)
    assert peak == {
        "peak_kw": 100.0,
        "at_utc": datetime(2025, 6, 1, 9, 15, tzinfo=UTC),
        "interval_s": 900,
    }


def test_peak_from_hourly_energy_without_readings(tmp_path):
    assert grid_peak_kw(tmp_path, "s", date(2025, 6, 1), BERLIN) is None
    frame = hours(datetime(2025, 6, 1, tzinfo=UTC), 3, grid_import_kwh=10.0)
    frame = frame.with_columns(
        pl.when(pl.col("hour_utc").dt.hour() == 1)
        .then(30.0)
        .otherwise(10.0)
        .alias("grid_import_kwh")
    )
    lake.write_days(tmp_path, "site_energy_hourly", frame, ["s"], [date(2025, 6, 1)])
    peak = grid_peak_kw(tmp_path, "s", date(2025, 6, 1), BERLIN)
    assert peak == {
        "peak_kw": 30.0,
        "at_utc": datetime(2025, 6, 1, 1, tzinfo=UTC),
        "interval_s": 3600,
    }


def balanced() -> pl.DataFrame:
    """Two hours: 6 kWh in (PV 2, grid 3, battery 1) and 6 kWh out (loads 4, EV 1, export 1)."""
    return hours(
        datetime(2025, 6, 1, tzinfo=UTC),
        2,
        pv_production_kwh=2.0,
        grid_import_kwh=3.0,
        battery_discharge_kwh=1.0,
        consumption_kwh=4.0,
        ev_charge_kwh=1.0,
        grid_export_kwh=1.0,
    ).with_columns(pl.lit(datetime(2025, 6, 1)).alias("hour_local"))


def test_balance_closes():
    balance = energy_balance(balanced())
    assert balance["in_kwh"] == 12.0
    assert balance["out_kwh"] == 12.0
    assert balance["imbalance_kwh"] == 0.0
    assert balance["battery_discharge_kwh"] == 2.0
    links = sankey_links(balance)
    assert links.rows() == [
        ("PV", "Site bus", 4.0),
        ("Grid import", "Site bus", 6.0),
        ("Battery discharge", "Site bus", 2.0),
        ("Site bus", "Loads", 8.0),
        ("Site bus", "EV charging", 2.0),
        ("Site bus", "Export", 2.0),
    ]


@pytest.mark.parametrize(
    ("extra_load", "link"),
    [(1.5, ("Imbalance", "Site bus", 3.0)), (-0.5, ("Site bus", "Imbalance", 1.0))],
)
def test_an_imbalance_gets_its_own_link(extra_load, link):
    frame = balanced().with_columns(pl.col("consumption_kwh") + extra_load)
    balance = energy_balance(frame)
    assert balance["imbalance_kwh"] == -2 * extra_load
    assert sankey_links(balance).row(-1) == link


def test_signed_flows_put_sinks_below_zero():
    flows = signed_flows(balanced().head(1))
    got = dict(zip(flows["flow"], flows["kwh"], strict=True))
    assert got["PV"] == 2.0
    assert got["Loads"] == -4.0
    assert got["Export"] == -1.0
    assert flows.height == 8
