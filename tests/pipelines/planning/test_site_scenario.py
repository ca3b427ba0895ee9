"""A site's scenario from lake-shaped inputs: horizons, fallbacks, state, jobs, devices."""

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from pipelines.planning import solve_scenario
from pipelines.planning.site_scenario import (
    BatterySpec,
    PlanInputError,
    PlanInputs,
    SiteSpec,
    build_site_scenario,
    device_plan,
    horizon,
)

UTC_TS = pl.Datetime("us", "UTC")
T0 = datetime(2026, 11, 24, 11, tzinfo=UTC)  # 12:00 in Berlin
Q = timedelta(minutes=15)
H = timedelta(hours=1)

SPEC = SiteSpec(
    site_id="s",
    timezone="Europe/Berlin",
    max_import_kw=400,
    max_export_kw=50,
    peak_charge_eur_per_kw=0,
    co2_price_eur_per_t=80,
    import_surcharge_eur_per_mwh=100,
    battery=BatterySpec("battery-1", 200, 100, 100, 0.92, 10, 95),
)


def series(col: str, start: datetime, n: int, step: timedelta, **values) -> pl.DataFrame:
    return pl.DataFrame(
        {col: [start + i * step for i in range(n)], **{k: [v] * n for k, v in values.items()}}
    ).with_columns(pl.col(col).cast(UTC_TS))


def inputs(slots: int = 8, **over) -> PlanInputs:
    span = slots * Q
    base = dict(
        load_forecast=series("ts_utc", T0, slots, Q, power_w=50_000.0, issued_at_utc=T0),
        pv_forecast=series("ts_utc", T0, slots, Q, power_w=20_000.0, issued_at_utc=T0),
        load_history=series("ts_utc", T0 - timedelta(days=8), 8 * 96, Q, power_w=40_000.0),
        pv_history=series("ts_utc", T0 - timedelta(days=8), 8 * 96, Q, power_w=0.0),
        prices=series("ts_utc", T0, int(span / H) + 1, H, interval_s=3600, price_eur_per_mwh=80.0),
        ci_forecast=series(
            "hour_utc", T0, int(span / H) + 1, H, issued_at_utc=T0, ci_lifecycle_g_per_kwh=300.0
        ),
        ci_history=series(
            "hour_utc", T0 - timedelta(days=8), 8 * 24, H, ci_lifecycle_g_per_kwh=350.0
        ),
        telemetry=series(
            "ts_utc", T0 - H, 4, Q, device_id="battery-1", metric="soc_pct", value=50.0
        ),
        vehicles=pl.DataFrame(
            {
                "vehicle_id": ["truck-1"],
                "capacity_kwh": [100.0],
                "max_charge_kw": [22.0],
                "max_discharge_kw": [11.0],
                "v2g_allowed": [True],
                "owner_account": ["fleet-a"],
                "charger_id": ["charger-1"],
            }
        ),
        trips=pl.DataFrame(
            {
                "vehicle_id": ["truck-1"],
                "depart_utc": [T0 - 6 * H],
                "arrive_utc": [T0 + 2 * Q],
                "energy_kwh": [30.0],
            }
        ).with_columns(pl.col("depart_utc", "arrive_utc").cast(UTC_TS)),
        jobs=pl.DataFrame(
            {
                "job_id": ["shredder@1"],
                "device_id": ["load-shredder"],
                "power_kw": [60.0],
                "duration_min": [30],
                "earliest_utc": [T0],
                "deadline_utc": [T0 + slots * Q],
                "interruptible": [False],
            }
        ).with_columns(pl.col("earliest_utc", "deadline_utc").cast(UTC_TS)),
        plan_in_force=pl.DataFrame(
            schema={"device_id": pl.String, "slot_start_utc": UTC_TS, "power_w": pl.Float64}
        ),
    )
    base.update(over)
    return PlanInputs(**base)


def test_day_ahead_at_noon_runs_to_the_end_of_tomorrow():
    assert horizon("day_ahead", T0, "Europe/Berlin") == (T0, 144)


def test_day_ahead_before_a_clock_change_has_one_hour_more():
    noon = datetime(2026, 10, 24, 10, tzinfo=UTC)  # 12:00 CEST; clocks go back on the 25th
    assert horizon("day_ahead", noon, "Europe/Berlin") == (noon, 148)


def test_intraday_covers_the_rest_of_the_day_ahead_plan_from_the_next_slot():
    start, slots = horizon("intraday", T0 + timedelta(minutes=7), "Europe/Berlin", 15, T0 + 8 * H)
    assert start == T0 + Q and slots == 31
    assert horizon("intraday", T0, "Europe/Berlin")[1] == 96  # no day-ahead plan: 24 h


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="plan kind"):
        horizon("weekly", T0, "Europe/Berlin")


def test_scenario_takes_forecasts_prices_state_and_devices():
    site = build_site_scenario(SPEC, inputs(), T0, T0, 8)
    sc = site.scenario
    assert sc["site"]["base_load_kw"] == [50.0] * 8 and sc["site"]["pv_kw"] == [20.0] * 8
    assert sc["grid"]["import_price_eur_per_mwh"] == [180.0] * 8  # day-ahead + surcharge
    assert sc["grid"]["export_price_eur_per_mwh"] == [80.0] * 8
    assert sc["battery"]["soc_kwh"] == 100.0 and sc["battery"]["final_soc_kwh"] == 100.0
    (ev,) = sc["evs"]
    assert (ev["arrival_slot"], ev["soc_kwh"], ev["energy_needed_kwh"]) == (2, 60.0, 30.0)
    (job,) = sc["jobs"]
    assert (job["duration_slots"], job["earliest_slot"], job["deadline_slot"]) == (2, 0, 8)
    assert site.device_of == {"truck-1": "charger-1", "shredder@1": "load-shredder"}
    assert site.devices == ["battery-1", "charger-1", "load-shredder", "pv-curtailment"]
    assert site.fallbacks == {
        "load_forecast": 0,
        "pv_forecast": 0,
        "day_ahead_prices": 0,
        "grid_carbon_intensity_forecast": 0,
    }


def test_missing_forecast_falls_back_to_last_week_and_says_so():
    late = inputs(load_forecast=series("ts_utc", T0, 4, Q, power_w=50_000.0, issued_at_utc=T0 + H))
    site = build_site_scenario(SPEC, late, T0, T0, 8)
    assert site.scenario["site"]["base_load_kw"] == [40.0] * 8  # issued after as_of: unseen
    assert site.fallbacks["load_forecast"] == 8


def test_prices_missing_even_last_week_is_an_error():
    empty = inputs(prices=series("ts_utc", T0, 0, H, interval_s=3600, price_eur_per_mwh=0.0))
    with pytest.raises(PlanInputError, match="day_ahead_prices: no value for 8 slots"):
        build_site_scenario(SPEC, empty, T0, T0, 8)


def test_unmeasured_battery_is_planned_from_its_minimum():
    stale = inputs(
        telemetry=series(
            "ts_utc", T0 - 5 * H, 1, Q, device_id="battery-1", metric="soc_pct", value=80.0
        )
    )
    site = build_site_scenario(SPEC, stale, T0, T0, 8)
    assert site.scenario["battery"]["soc_kwh"] == 20.0
    assert "no state of charge" in site.notes[0]


def test_a_started_uninterruptible_job_finishes_without_a_break():
    running = pl.DataFrame(
        {"device_id": ["load-shredder"], "slot_start_utc": [T0], "power_w": [60_000.0]}
    ).with_columns(pl.col("slot_start_utc").cast(UTC_TS))
    site = build_site_scenario(SPEC, inputs(plan_in_force=running), T0 + Q, T0 + Q, 7)
    (job,) = site.scenario["jobs"]
    assert (job["duration_slots"], job["earliest_slot"], job["deadline_slot"]) == (1, 0, 1)


def test_device_plan_puts_sessions_on_chargers_and_fills_idle_slots():
    next_route = pl.DataFrame(
        {
            "vehicle_id": ["truck-1"] * 2,
            "depart_utc": [T0 - 6 * H, T0 + 8 * Q],
            "arrive_utc": [T0 + 2 * Q, T0 + 12 * H],
            "energy_kwh": [30.0, 30.0],
        }
    ).with_columns(pl.col("depart_utc", "arrive_utc").cast(UTC_TS))
    site = build_site_scenario(SPEC, inputs(trips=next_route), T0, T0, 8)
    plan = device_plan(site, solve_scenario(site.scenario).frame)
    assert plan.height == 4 * 8
    charger = plan.filter(pl.col("device_id") == "charger-1")["power_kw"].to_numpy()
    assert np.all(charger[:2] == 0)  # not plugged in yet
    assert charger[2:].sum() * 0.25 == pytest.approx(30.0, abs=0.01)
    shredder = plan.filter(pl.col("device_id") == "load-shredder")["power_kw"].to_numpy()
    assert sorted(shredder.tolist()) == [0.0] * 6 + [60.0] * 2
