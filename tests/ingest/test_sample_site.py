"""The sample site generator, on a short period and on one full year."""

import dataclasses
import hashlib
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from ingest.sample_site import SiteConfig, generate_site, vampire, write_raw
from ingest.sample_site.calendar import quarter_hours
from ingest.sample_site.pv import kwp_per_inverter
from pipelines.carbon_intensity import production_intensity
from pipelines.emission_factors import load_factor_table

# spans the autumn DST change (2025-10-26) and Reformation Day (2025-10-31, a Friday,
# a public holiday in Brandenburg)
SHORT = replace(SiteConfig(), start=date(2025, 10, 20), end=date(2025, 11, 3))
FOSSIL = ["B02", "B04", "B05"]


@pytest.fixture(scope="module")
def short():
    return generate_site(SHORT)


@pytest.fixture(scope="module")
def year():
    return generate_site(SiteConfig())


def frames(site):
    return {
        f.name: getattr(site, f.name)
        for f in dataclasses.fields(site)
        if isinstance(getattr(site, f.name), pl.DataFrame)
    }


def power_w(site, device_id):
    tel = site.telemetry.filter(
        (pl.col("device_id") == device_id) & (pl.col("metric") == "power_w")
    )
    return tel.sort("ts_utc")["value"].to_numpy()


def meter_w(site, meter_id):
    r = site.meter_readings.filter(pl.col("meter_id") == meter_id).sort("ts_utc")
    return r["ts_utc"], r["energy_wh"].to_numpy() * 4


def fossil_share(mix):
    return (
        mix.filter(pl.col("mode") == "generation")
        .group_by("ts_utc")
        .agg(
            (
                pl.col("energy_mwh").filter(pl.col("production_type").is_in(FOSSIL)).sum()
                / pl.col("energy_mwh").sum()
            ).alias("share")
        )
    )


def test_same_seed_same_frames_other_seed_other_data(short):
    again = generate_site(SHORT)
    for name, frame in frames(short).items():
        assert frame.equals(frames(again)[name]), name
    other = generate_site(replace(SHORT, seed=7))
    assert not other.meter_readings.equals(short.meter_readings)
    assert not other.day_ahead_prices.equals(short.day_ahead_prices)


def test_every_timestamp_is_utc_aware(short):
    for name, frame in frames(short).items():
        for col, dtype in frame.schema.items():
            if isinstance(dtype, pl.Datetime):
                assert dtype == pl.Datetime("us", "UTC"), (name, col, dtype)


def test_every_meter_has_every_quarter_hour_and_no_negative_energy(short):
    r = short.meter_readings
    assert r.height == short.meters.height * 14 * 96  # 14 UTC days, one of them 25 h local
    assert r.select("meter_id", "ts_utc").is_duplicated().sum() == 0
    assert set(r["interval_s"]) == {900} and r.schema["interval_s"] == pl.Int32
    assert set(r["meter_id"]) == set(short.meters["meter_id"])
    assert (r["energy_wh"] >= 0).all()
    assert (short.grid_mix["energy_mwh"] >= 0).all()
    for charger in short.fleet_vehicles["charger_id"]:
        assert (power_w(short, charger) >= 0).all()  # baseline: no V2G discharge


def test_grid_meters_balance_every_quarter_hour_exactly(short):
    wide = short.meter_readings.pivot(on="meter_id", index="ts_utc", values="energy_wh").sort(
        "ts_utc"
    )
    devices = short.telemetry.filter(
        (pl.col("metric") == "power_w")
        & (
            pl.col("device_id").str.starts_with("battery")
            | pl.col("device_id").str.starts_with("charger")
        )
    )
    dev_wh = (
        devices.group_by("ts_utc").agg((pl.col("value") * 0.25).sum().alias("dev")).sort("ts_utc")
    )
    loads = [c for c in wide.columns if c.startswith("load-")]
    net = (
        wide.select(sum(pl.col(c) for c in loads) - pl.col("pv-roof")).to_series() + dev_wh["dev"]
    ).to_numpy()
    imp, exp = wide["grid-import"].to_numpy(), wide["grid-export"].to_numpy()
    np.testing.assert_allclose(imp - exp, net, atol=1e-6)
    assert not ((imp > 0) & (exp > 0)).any()  # one register runs at a time
    # the battery really shifts energy: it charges and discharges in two weeks of autumn
    bat = power_w(short, "battery-1")
    assert bat.max() > 0 and bat.min() < 0


def test_pv_telemetry_mirrors_the_pv_meter_with_feed_in_sign(short):
    _, pv = meter_w(short, "pv-roof")
    np.testing.assert_allclose(power_w(short, "pv-inverter-1"), -pv, atol=1e-6)


def test_battery_stays_within_its_limits(short):
    cfg = short.config
    soc = short.telemetry.filter(pl.col("metric") == "soc_pct")["value"]
    assert (
        cfg.battery_soc_min_pct - 1e-6 <= soc.min() and soc.max() <= cfg.battery_soc_max_pct + 1e-6
    )
    assert np.abs(power_w(short, "battery-1")).max() <= cfg.battery_power_kw * 1000 + 1e-6


def test_shredder_shifts_follow_local_time_across_dst_and_holidays(short):
    ts, w = meter_w(short, "load-shredder-2")
    running = pl.DataFrame({"ts_utc": ts, "on": w > 30_000})

    def first_on_utc(day):
        on = running.filter(pl.col("ts_utc").dt.date() == day, pl.col("on"))
        return on["ts_utc"].min() if on.height else None

    # 06:00 local: 04:00 UTC in summer time (Fri 24 Oct), 05:00 UTC in winter time (Mon 27 Oct)
    assert first_on_utc(date(2025, 10, 24)) == datetime(2025, 10, 24, 4, tzinfo=UTC)
    assert first_on_utc(date(2025, 10, 27)) == datetime(2025, 10, 27, 5, tzinfo=UTC)
    assert first_on_utc(date(2025, 10, 31)) is None  # Reformation Day in Brandenburg
    assert first_on_utc(date(2025, 10, 25)) is None  # Saturday


def test_trucks_charge_back_what_their_trips_used(short):
    trips = short.fleet_trips
    local = trips.with_columns(
        pl.col("depart_utc").dt.convert_time_zone("Europe/Berlin").alias("d"),
        pl.col("arrive_utc").dt.convert_time_zone("Europe/Berlin").alias("a"),
    )
    dep_h = (local["d"].dt.hour() + local["d"].dt.minute() / 60).to_numpy()
    arr_h = (local["a"].dt.hour() + local["a"].dt.minute() / 60).to_numpy()
    assert ((dep_h >= 5.5) & (dep_h <= 8)).all() and ((arr_h >= 13.5) & (arr_h <= 17.5)).all()
    # every trip of the period ends by mid-afternoon, so all its energy is back before the end
    charged_kwh = sum(
        power_w(short, c).sum() * 0.25 / 1000 for c in short.fleet_vehicles["charger_id"]
    )
    assert charged_kwh == pytest.approx(trips["energy_kwh"].sum(), abs=0.1)


def test_injected_vampire_power_is_exactly_what_the_labels_say():
    cal = quarter_hours(date(2025, 3, 1), date(2025, 6, 1), "Europe/Berlin")
    flat = {m: np.zeros(cal.height) for m in vampire.SCENARIOS}
    labels = vampire.inject_vampires(cal, flat, np.random.default_rng(3), "s")
    assert labels.height >= 3
    ts = cal["ts_utc"]
    expected = {m: np.zeros(cal.height, dtype=bool) for m in flat}
    for meter, start, end, excess in labels.select(
        "meter_id", "start_utc", "end_utc", "excess_power_w"
    ).iter_rows():
        inside = ((ts >= start) & (ts < end)).to_numpy()
        expected[meter] |= inside
        np.testing.assert_allclose(flat[meter][inside].mean(), excess, rtol=0.05)
    for meter, w in flat.items():
        np.testing.assert_array_equal(w > 0, expected[meter])  # nothing outside the labels


def test_vampire_labels_lie_in_off_hours(year):
    cal = quarter_hours(date(2025, 1, 1), date(2026, 1, 1), "Europe/Berlin")
    off = dict(zip(cal["ts_utc"].to_list(), cal["off_hours"].to_list(), strict=True))
    labels = year.vampire_labels
    assert 12 <= labels.height <= 48  # roughly 1–3 events a month
    assert labels["meter_id"].str.starts_with("load-").all()
    hours = (labels["end_utc"] - labels["start_utc"]).dt.total_minutes() / 60
    assert hours.min() >= 2 and hours.max() <= 60
    for start, end in labels.select("start_utc", "end_utc").iter_rows():
        t = start
        while t < end:
            assert off[t], (start, end, t)
            t += timedelta(minutes=15)


def test_annual_pv_yield_and_base_load_scale(year):
    cfg = year.config
    kwh = dict(
        year.meter_readings.group_by("meter_id").agg(pl.col("energy_wh").sum() / 1000).iter_rows()
    )
    kwp = kwp_per_inverter() * cfg.pv_inverters
    assert 280 <= kwp <= 320
    assert 900 <= kwh["pv-roof"] / kwp <= 1100  # Potsdam TRY: about 985 kWh/kWp
    assert kwh["load-building"] == pytest.approx(cfg.building_base_kwh_per_year, rel=0.01)


def test_grid_mix_hits_the_published_german_lifecycle_intensity(year):
    mix = year.grid_mix
    assert (mix["source"] == "synthetic").all()
    assert mix.filter(pl.col("production_type") == "B14")["energy_mwh"].sum() == 0  # no nuclear
    version, factors = load_factor_table()
    ci = production_intensity(mix, factors, version)
    assert ci.height == 8760
    assert 45_000 <= ci["generation_mwh"].mean() <= 75_000  # German load, MWh per hour
    annual = (ci["ci_lifecycle_g_per_kwh"] * ci["generation_mwh"]).sum() / ci[
        "generation_mwh"
    ].sum()
    assert annual == pytest.approx(381, rel=0.05)  # Ember/OWID, Germany 2023


def test_prices_follow_the_fossil_share_at_realistic_levels(year):
    prices = year.day_ahead_prices
    assert (prices["source"] == "synthetic").all() and set(prices["interval_s"]) == {3600}
    joined = fossil_share(year.grid_mix).join(prices, on="ts_utc")
    assert np.corrcoef(joined["share"], joined["price_eur_per_mwh"])[0, 1] > 0.5
    p = prices["price_eur_per_mwh"]
    assert 80 <= p.mean() <= 100
    assert 50 <= (p < 0).sum() <= 1000  # negative hours happen, on sunny, windy days
    assert p.max() > 250  # scarcity spikes in dark doldrums
    winter = prices.filter(pl.col("ts_utc").dt.month().is_in([1, 2, 11, 12]))
    assert winter["price_eur_per_mwh"].max() == p.max()


def test_a_shorter_period_gives_the_same_grid_days_as_the_full_year(short, year):
    days = short.grid_mix["ts_utc"].implode()
    assert short.grid_mix.equals(year.grid_mix.filter(pl.col("ts_utc").is_in(days)))
    assert short.day_ahead_prices.equals(year.day_ahead_prices.filter(pl.col("ts_utc").is_in(days)))


def test_a_period_beyond_the_factor_table_years_still_generates():
    # the default table holds storage factors for 2023–2025 only; calibration must cope
    site = generate_site(replace(SiteConfig(), start=date(2025, 12, 30), end=date(2026, 1, 2)))
    assert site.grid_mix["ts_utc"].max() == datetime(2026, 1, 1, 23, tzinfo=UTC)
    assert site.meter_readings.height == site.meters.height * 3 * 96


def test_write_raw_is_idempotent_and_atomic(short, tmp_path):
    days = [date(2025, 10, 26), date(2025, 10, 27)]
    first = {
        p: hashlib.sha256(p.read_bytes()).hexdigest() for p in write_raw(short, tmp_path, days)
    }
    second = {
        p: hashlib.sha256(p.read_bytes()).hexdigest() for p in write_raw(short, tmp_path, days)
    }
    assert first == second
    assert not list(tmp_path.rglob("*.partial"))
    root = tmp_path
    for rel in (
        "meters/warehouse-b/2025-10-26.csv",
        "telemetry/warehouse-b/2025-10-26/sample-site-20251026T000000000000Z-000000.parquet",
        "grid/DE_LU/2025-10-27_mix.parquet",
        "grid/DE_LU/2025-10-27_prices.parquet",
        "fleet/warehouse-b/vehicles.parquet",
        "fleet/warehouse-b/trips.parquet",
        "labels/warehouse-b/vampire_events.parquet",
    ):
        assert (root / rel) in first, rel
    text = (root / "meters/warehouse-b/2025-10-26.csv").read_text()
    assert text.splitlines()[0] == "meter_id,ts_utc,energy_wh"
    assert text.splitlines()[1].split(",")[1] == "2025-10-26T00:00:00Z"
    csv = pl.read_csv(root / "meters/warehouse-b/2025-10-26.csv")
    assert csv.height == short.meters.height * 96  # a UTC day is 96 quarter hours, DST or not
    tel = pl.read_parquet(
        root / "telemetry/warehouse-b/2025-10-26/sample-site-20251026T000000000000Z-000000.parquet"
    )
    assert tel["ts_utc"].dt.date().unique().to_list() == [date(2025, 10, 26)]
