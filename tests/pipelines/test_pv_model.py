"""The project's PV chain: NREL's PVWatts reference, and the sample site it generates."""

from dataclasses import replace
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from ingest.sample_site import SiteConfig, generate_site
from ingest.sample_site.pv import kwp_per_inverter, pv_system
from ingest.sample_site.weather import weather_for_period
from pipelines.pv_model import PVSystem, ac_power_w, cec_inverter, model_chain, parse_pvwatts_hourly

PVWATTS_CSV = Path(__file__).parents[1] / "data" / "pvwatts" / "pvwatts_8760_rackmount_denver.csv"
PUBLISHED_KWH_PER_KWP = 1505.9  # PVWatts' own annual AC output, 6,023.7 kWh from 4 kWp
PUBLISHED_POA_KWH_PER_M2 = 1930.9
SAMPLE_PV_WH_2025 = 279_474_106.8  # pv-roof meter, generate_site(SiteConfig()), before the move


@pytest.fixture(scope="module")
def pvwatts():
    return parse_pvwatts_hourly(PVWATTS_CSV.read_text())


def test_pvwatts_header_describes_the_reference_system(pvwatts):
    system, hourly = pvwatts
    assert hourly.height == 8760
    assert (system.latitude, system.longitude, system.tilt_deg, system.azimuth_deg) == (
        39.73,
        -105.18,
        20.0,
        180.0,
    )
    assert (system.pdc0_w, system.losses, system.inverter_efficiency, system.dc_ac_ratio) == (
        4000.0,
        0.1408,
        0.96,
        1.2,
    )
    # the file's own totals row: AC 6,023,671.24 Wh
    assert hourly["ac_power_w"].sum() == pytest.approx(6_023_671.24)


def test_chain_reproduces_pvwatts_annual_yield_within_2_percent(pvwatts):
    """Our chain on the file's irradiance and temperature: 1,505.7 kWh/kWp (−0.01 %)."""
    system, hourly = pvwatts
    out = model_chain(hourly, system)
    kwh_per_kwp = out["ac_power_w"].sum() / system.dc_nameplate_w  # hourly means: Wh/W
    diff = kwh_per_kwp / PUBLISHED_KWH_PER_KWP - 1
    assert abs(diff) < 0.02, f"{kwh_per_kwp:.1f} kWh/kWp, {diff:+.2%} from 1,505.9"
    poa = out["poa_global_w_per_m2"].sum() / 1000
    assert poa == pytest.approx(PUBLISHED_POA_KWH_PER_M2, rel=0.01)
    # hour by hour too, not only the total
    hourly_error = (out["ac_power_w"] - hourly["ac_power_w"]).abs().mean()
    assert hourly_error < 0.01 * hourly["ac_power_w"].filter(hourly["ac_power_w"] > 0).mean()


def test_sample_site_pv_meter_total_is_unchanged_by_the_shared_chain():
    site = generate_site(SiteConfig())
    total_wh = site.meter_readings.filter(pl.col("meter_id") == "pv-roof")["energy_wh"].sum()
    assert abs(total_wh - SAMPLE_PV_WH_2025) < 0.5  # to the Wh: 279.474 MWh


def test_sample_system_is_the_cec_array_of_the_site():
    system = pv_system(SiteConfig())
    assert system.route == "cec"
    assert system.dc_nameplate_w == pytest.approx(5 * kwp_per_inverter() * 1000)


@pytest.fixture(scope="module")
def june_week():
    cfg = replace(SiteConfig(), start=date(2025, 6, 16), end=date(2025, 6, 23))
    return cfg, weather_for_period(cfg.start, cfg.end, cfg.try_region)


def test_ac_power_is_zero_at_night_and_within_the_inverter_rating(june_week):
    cfg, weather = june_week
    system = pv_system(cfg)
    out = ac_power_w(weather, system).join(weather, on="ts_utc")
    assert out["ac_power_w"].min() >= 0
    dark = out.filter(pl.col("direct_horizontal") + pl.col("dhi") == 0)
    assert dark.height > 0 and (dark["ac_power_w"] == 0).all()
    rating = float(cec_inverter(system.inverter)["Paco"]) * system.inverters
    assert 0.5 * rating < out["ac_power_w"].max() <= rating


def test_a_system_is_either_cec_or_pvwatts():
    with pytest.raises(ValueError, match="either"):
        PVSystem(52.0, 13.0, 15.0, 180.0)
    with pytest.raises(ValueError, match="either"):
        PVSystem(52.0, 13.0, 15.0, 180.0, module="m", inverter="i", pdc0_w=1000.0)
    assert PVSystem(52.0, 13.0, 15.0, 180.0, pdc0_w=1000.0).route == "pvwatts"
