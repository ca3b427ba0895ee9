"""The planning assets over the sample-site week: plans land, both kinds, as of their time."""

import json
from datetime import UTC, datetime, timedelta

import polars as pl

from pipelines import lake
from pipelines.planning.site_lake import plans_in_force

DAY_AHEAD_AS_OF = datetime(2025, 4, 1, 10, tzinfo=UTC)  # 12:00 CEST on the last day
INTRADAY_AS_OF = datetime(2025, 4, 2, tzinfo=UTC)  # the end of the newest telemetry


def _runs(settings) -> dict:
    runs = lake.scan(settings.lake_root, "plan_runs").collect()
    return {r["kind"]: r for r in runs.iter_rows(named=True)}


def test_day_ahead_and_intraday_plans_land_with_their_horizons(week):
    settings, *_ = week
    runs = _runs(settings)
    da, intra = runs["day_ahead"], runs["intraday"]
    assert da["created_at_utc"] == DAY_AHEAD_AS_OF and da["valid_from_utc"] == DAY_AHEAD_AS_OF
    # to the end of the next local day: 00:00 CEST on 3 April
    assert da["valid_until_utc"] == datetime(2025, 4, 2, 22, tzinfo=UTC)
    assert intra["created_at_utc"] == INTRADAY_AS_OF
    assert intra["valid_until_utc"] == da["valid_until_utc"]  # the remaining horizon
    for run in (da, intra):
        assert run["feasible"] and json.loads(run["explanations"]) == []
        assert run["cost_eur"] <= run["baseline_cost_eur"] + 1e-6


def test_every_device_has_a_setpoint_in_every_slot(week):
    settings, *_ = week
    plans = lake.scan(settings.lake_root, "setpoint_plans").collect()
    devices = {"battery-1", "pv-curtailment", "load-shredder-2", "load-3dprinters"} | {
        f"charger-{i}" for i in range(1, 7)
    }
    for _, rows in plans.group_by("plan_id"):
        assert set(rows["device_id"]) == devices
        per_device = rows.group_by("device_id").agg(pl.len())["len"].unique().to_list()
        assert len(per_device) == 1  # same slots for each device
        first, last = rows["slot_start_utc"].min(), rows["slot_start_utc"].max()
        assert (last - first) / timedelta(minutes=15) + 1 == per_device[0]


def test_leased_vehicles_never_discharge_and_jobs_run_at_their_power(week):
    settings, *_ = week
    plans = lake.scan(settings.lake_root, "setpoint_plans").collect()
    leased = plans.filter(pl.col("device_id").is_in(["charger-5", "charger-6"]))
    assert leased["power_w"].min() >= 0
    shredder = plans.filter(pl.col("device_id") == "load-shredder-2")["power_w"].unique()
    assert set(shredder.round(3).to_list()) <= {0.0, 60_000.0}


def test_the_intraday_plan_is_in_force_from_its_creation(week):
    settings, *_ = week
    inforce = plans_in_force(lake.scan(settings.lake_root, "setpoint_plans").collect())
    before = inforce.filter(pl.col("slot_start_utc") < INTRADAY_AS_OF)["plan_id"].unique()
    after = inforce.filter(pl.col("slot_start_utc") >= INTRADAY_AS_OF)["plan_id"].unique()
    assert before.to_list() == ["day_ahead-warehouse-b-20250401T1000Z"]
    assert after.to_list() == ["intraday-warehouse-b-20250402T0000Z"]


def test_v2g_settlements_pay_owners_of_v2g_vehicles_only(week):
    settings, *_ = week
    rows = lake.scan(settings.lake_root, "v2g_settlements").collect()
    planned = rows.filter(pl.col("basis") == "planned")
    assert planned.height > 0
    assert set(planned["owner_account"]) == {"warehouse-b-fleet"}
    assert (planned["discharged_kwh"] > 0).all()
    assert (planned["amount_eur"].abs() <= planned["discharged_kwh"] * 1.0).all()  # <= 1 EUR/kWh
