"""The sample site generator, on a short period and on one full year."""

import hashlib
from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from ingest.sample_site import SiteConfig, generate_site, write_raw
from ingest.sample_site.calendar import quarter_hours
from ingest.sample_site.pv import kwp_per_inverter
from pipelines.carbon_intensity import production_intensity
from pipelines.emission_factors import load_factor_table

SHORT = replace(
    SiteConfig(), start=date(2025, 10, 20), end=date(2025, 11, 3)
)  # spans the autumn DST change


@pytest.fixture(scope="module")
def short():
    return generate_site(SHORT)


@pytest.fixture(scope="module")
def year():
    return generate_site(SiteConfig())


def test_same_seed_same_data_other_seed_other_data(short):
    again = generate_site(SHORT)
    assert again.meter_readings.equals(short.meter_readings)
    assert again.telemetry.equals(short.telemetry)
    other = generate_site(replace(SHORT, seed=7))
    assert not other.meter_readings.equals(short.meter_readings)


def test_every_meter_has_every_quarter_hour_in_utc(short):
    r = short.meter_readings
    assert r.schema["ts_utc"] == pl.Datetime("us", "UTC")
    assert r.height == short.meters.height * 14 * 96
    assert r.select("meter_id", "ts_utc").is_duplicated().sum() == 0
    assert (r["energy_wh"] >= 0).all()


def test_grid_meters_balance_every_quarter_hour(short):
    wide = short.meter_readings.pivot(on="meter_id", index="ts_utc", values="energy_wh").sort(
        "ts_utc"
    )
    tel = short.telemetry.filter(pl.col("metric") == "power_w")
    devices = tel.filter(
        pl.col("device_id").str.starts_with("battery")
        | pl.col("device_id").str.starts_with("charger")
    )
    dev_wh = (
        devices.group_by("ts_utc").agg((pl.col("value").sum() * 0.25).alias("dev")).sort("ts_utc")
    )
    loads = [c for c in wide.columns if c.startswith("load-")]
    net = wide.select(sum(pl.col(c) for c in loads) - pl.col("pv-roof")).to_series() + dev_wh["dev"]
    np.testing.assert_allclose(
        (wide["grid-import"] - wide["grid-export"]).to_numpy(), net.to_numpy(), atol=0.2
    )


def test_vampire_labels_lie_in_off_hours(year):
    cal = quarter_hours(date(2025, 1, 1), date(2026, 1, 1), "Europe/Berlin")
    off = dict(zip(cal["ts_utc"].to_list(), cal["off_hours"].to_list(), strict=True))
    labels = year.vampire_labels
    assert 20 <= labels.height <= 50
    for start, end in labels.select("start_utc", "end_utc").iter_rows():
        t = start
        while t < end:
            assert off[t], (start, end, t)
            t += timedelta(minutes=15)


def test_full_year_figures(year):
    cfg = year.config
    energy = year.meter_readings.group_by("meter_id").agg(pl.col("energy_wh").sum() / 1000)
    kwh = dict(energy.iter_rows())
    kwp = kwp_per_inverter() * cfg.pv_inverters
    assert 900 <= kwh["pv-roof"] / kwp <= 1100  # Potsdam TRY: about 985 kWh/kWp
    assert kwh["load-building"] == pytest.approx(cfg.building_base_kwh_per_year, rel=0.01)
    version, factors = load_factor_table()
    ci = production_intensity(year.grid_mix, factors, version)
    annual = (ci["ci_lifecycle_g_per_kwh"] * ci["generation_mwh"]).sum() / ci[
        "generation_mwh"
    ].sum()
    assert annual == pytest.approx(381, rel=0.05)
    gen = year.grid_mix.filter(pl.col("mode") == "generation")
    fossil = gen.group_by("ts_utc").agg(
        (
            pl.col("energy_mwh")
            .filter(pl.col("production_type").is_in(["B02", "B04", "B05"]))
            .sum()
            / pl.col("energy_mwh").sum()
        ).alias("share")
    )
    joined = fossil.join(year.day_ahead_prices, on="ts_utc")
    assert np.corrcoef(joined["share"], joined["price_eur_per_mwh"])[0, 1] > 0.5
    assert 60 <= year.day_ahead_prices["price_eur_per_mwh"].mean() <= 110
    assert (year.grid_mix["source"] == "synthetic").all()


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
    csv = pl.read_csv(tmp_path / "meters" / "warehouse-b" / "2025-10-26.csv")
    assert csv.columns == ["meter_id", "ts_utc", "energy_wh"]
    assert csv.height == short.meters.height * 96  # a UTC day is 96 quarter hours, DST or not
