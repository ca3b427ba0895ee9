"""V2G settlement: discharged energy × day-ahead price per owner, vehicle and local day."""

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from pipelines.planning.v2g import settle_v2g

UTC_TS = pl.Datetime("us", "UTC")
Q = timedelta(minutes=15)
# 22:00 UTC on the 24th is 23:00 in Berlin; 23:00 UTC is already the 25th there
T0 = datetime(2026, 11, 24, 22, tzinfo=UTC)

VEHICLES = pl.DataFrame(
    {
        "site_id": ["s", "s"],
        "vehicle_id": ["truck-1", "truck-2"],
        "owner_account": ["fleet-a", "leasing-b"],
        "charger_id": ["charger-1", "charger-2"],
    }
)


def power(rows) -> pl.DataFrame:
    return pl.DataFrame(
        [{"device_id": d, "ts_utc": T0 + i * Q, "power_w": w} for d, i, w in rows],
        schema={"device_id": pl.String, "ts_utc": UTC_TS, "power_w": pl.Float64},
    )


PRICES = pl.DataFrame(
    {
        "ts_utc": [T0, T0 + timedelta(hours=1)],
        "interval_s": [3600, 3600],
        "price_eur_per_mwh": [100.0, 200.0],
    }
).with_columns(pl.col("ts_utc").cast(UTC_TS))


def test_payment_is_discharged_energy_times_price_per_local_day():
    p = power(
        [("charger-1", i, -11_000.0) for i in range(8)]  # 2 h discharging at 11 kW
        + [("charger-2", 0, 22_000.0)]  # charging is not paid
    )
    out = settle_v2g(p, Q, VEHICLES, PRICES, "Europe/Berlin", "planned")
    assert out.columns == [
        "site_id",
        "day",
        "owner_account",
        "vehicle_id",
        "discharged_kwh",
        "amount_eur",
        "price_slots_missing",
        "basis",
    ]
    rows = out.sort("day").to_dicts()
    assert [r["day"].isoformat() for r in rows] == ["2026-11-24", "2026-11-25"]
    assert rows[0]["discharged_kwh"] == pytest.approx(11.0)
    assert rows[0]["amount_eur"] == pytest.approx(1.1)
    assert rows[1]["amount_eur"] == pytest.approx(2.2)
    assert {r["owner_account"] for r in rows} == {"fleet-a"}
    assert (out["basis"] == "planned").all()


def test_discharge_without_a_price_is_counted_not_dropped():
    p = power([("charger-2", 12, -10_000.0)])  # 01:00 UTC on the 25th: no price
    (row,) = settle_v2g(p, Q, VEHICLES, PRICES, "Europe/Berlin", "metered").to_dicts()
    assert row["discharged_kwh"] == pytest.approx(2.5)
    assert row["amount_eur"] == 0.0 and row["price_slots_missing"] == 1
    assert row["owner_account"] == "leasing-b"


def test_quarter_hour_prices_win_over_hourly_ones():
    fine = pl.concat(
        [
            PRICES,
            pl.DataFrame(
                {"ts_utc": [T0], "interval_s": [900], "price_eur_per_mwh": [400.0]}
            ).with_columns(pl.col("ts_utc").cast(UTC_TS)),
        ]
    )
    p = power([("charger-1", 0, -4_000.0), ("charger-1", 1, -4_000.0)])
    (row,) = settle_v2g(p, Q, VEHICLES, fine, "Europe/Berlin", "planned").to_dicts()
    assert row["amount_eur"] == pytest.approx(0.001 * 400 + 0.001 * 100)
