"""entsoe-py's own parser and client on real recorded ENTSO-E documents."""

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from ingest.entsoe_documents import (
    EntsoeDocumentError,
    generation_frame,
    get_generation,
    make_client,
    read_generation_xml,
    recorded_session,
)
from pipelines.carbon_intensity import production_intensity
from pipelines.emission_factors import load_factor_table

DATA = Path(__file__).resolve().parents[1] / "data" / "entsoe"
LU = DATA / "LU_generation_A75_2024-05-21.xml"
SE4 = DATA / "SE4_generation_A75_2025-10-20.xml"
VERSION, FACTORS = load_factor_table()


def weighted(ci: pl.DataFrame, col: str) -> float:
    return float((ci[col] * ci["generation_mwh"]).sum() / ci["generation_mwh"].sum())


@pytest.mark.parametrize(
    ("path", "zone", "hours", "first", "mean"),
    [
        (LU, "LU", 72, (21.50, 120.41), (16.70, 115.24)),
        (SE4, "SE_4", 71, (52.86, 80.02), (70.07, 96.41)),
    ],
)
def test_reference_values_of_the_recorded_documents(path, zone, hours, first, mean):
    ci = production_intensity(read_generation_xml(path, zone), FACTORS, VERSION)
    assert ci.height == hours
    row = ci.row(0, named=True)
    assert row["ci_direct_g_per_kwh"] == pytest.approx(first[0], abs=0.01)
    assert row["ci_lifecycle_g_per_kwh"] == pytest.approx(first[1], abs=0.01)
    assert weighted(ci, "ci_direct_g_per_kwh") == pytest.approx(mean[0], abs=0.01)
    assert weighted(ci, "ci_lifecycle_g_per_kwh") == pytest.approx(mean[1], abs=0.01)


def test_one_hour_worked_by_hand():
    mix = read_generation_xml(LU, "LU")
    hour = mix.filter(pl.col("ts_utc") < datetime(2024, 5, 21, 11, tzinfo=UTC))
    mw = {
        code: hour.filter(pl.col("production_type") == code)["power_mw"].mean()
        for code in hour["production_type"].unique()
    }
    # lifecycle factors: biomass and waste 230, gas 490, hydro 24, solar 45, wind 11; direct: gas 370
    lifecycle = {"B01": 230, "B17": 230, "B04": 490, "B11": 24, "B12": 24, "B16": 45, "B19": 11}
    total = sum(mw.values())
    expected_lifecycle = sum(mw[k] * lifecycle[k] for k in mw) / total
    expected_direct = mw["B04"] * 370 / total
    row = production_intensity(mix, FACTORS, VERSION).row(0, named=True)
    assert row["ci_lifecycle_g_per_kwh"] == pytest.approx(expected_lifecycle)
    assert row["ci_direct_g_per_kwh"] == pytest.approx(expected_direct)
    assert round(expected_direct, 2) == 21.50 and round(expected_lifecycle, 2) == 120.41


def test_a03_left_out_points_are_forward_filled():
    gas = read_generation_xml(SE4, "SE_4").filter(pl.col("production_type") == "B04")
    # positions 4 (14:00) = 0.4; 5 (15:00) is left out in the document and repeats it
    values = dict(zip(gas["ts_utc"].to_list(), gas["power_mw"].to_list(), strict=True))
    assert values[datetime(2025, 10, 20, 14, tzinfo=UTC)] == 0.4
    assert values[datetime(2025, 10, 20, 15, tzinfo=UTC)] == 0.4
    assert gas.height == 71


def test_fifteen_minute_series_keep_their_resolution_and_the_short_hour_is_flagged():
    mix = read_generation_xml(LU, "LU")
    assert set(mix["interval_s"].unique()) == {900}
    ci = production_intensity(mix, FACTORS, VERSION)
    # five series miss one quarter hour of 2024-05-24 03:00 UTC in the recorded document
    short = (
        mix.group_by(pl.col("ts_utc").dt.truncate("1h").alias("hour_utc"), "production_type")
        .len()
        .filter(pl.col("len") < 4)["hour_utc"]
        .unique()
        .to_list()
    )
    assert short == [datetime(2024, 5, 24, 3, tzinfo=UTC)]
    assert ci.filter(pl.col("quality") != "complete")["hour_utc"].to_list() == short


def test_storage_charge_is_consumption_and_duplicates_keep_the_last_value():
    index = pd.DatetimeIndex(["2024-01-01 00:00", "2024-01-01 01:00", "2024-01-01 01:00"], tz="UTC")
    wide = pd.DataFrame(
        {
            ("Hydro Pumped Storage", "Actual Aggregated"): [100.0, 0.0, 50.0],
            ("Hydro Pumped Storage", "Actual Consumption"): [0.0, 300.0, 300.0],
            ("Fossil Gas", "Actual Aggregated"): [100.0, 100.0, 100.0],
        },
        index=index,
    )
    frame = generation_frame(wide, "DE_LU")
    assert frame.filter((pl.col("production_type") == "B10") & (pl.col("mode") == "consumption"))[
        "power_mw"
    ].to_list() == [0.0, 300.0]
    assert frame.filter((pl.col("production_type") == "B10") & (pl.col("mode") == "generation"))[
        "power_mw"
    ].to_list() == [100.0, 50.0]
    ci = production_intensity(frame, FACTORS, VERSION)
    # hour 1: 50 MW pumped-storage discharge (2024: 350.96) + 100 MW gas; the 300 MW charge is not generation
    assert ci.row(1, named=True)["ci_lifecycle_g_per_kwh"] == pytest.approx(
        (50 * 350.96 + 100 * 490) / 150
    )


def test_daylight_saving_day_in_local_time_gives_25_utc_hours():
    index = pd.date_range("2025-10-26 00:00", periods=25, freq="60min", tz="Europe/Berlin")
    wide = pd.DataFrame({"Fossil Gas": 100.0, "Solar": 10.0}, index=index)
    ci = production_intensity(generation_frame(wide, "DE_LU"), FACTORS, VERSION)
    assert ci.height == 25
    assert ci["hour_utc"].n_unique() == 25
    assert ci["hour_utc"][0] == datetime(2025, 10, 25, 22, tzinfo=UTC)


def test_offline_client_runs_entsoe_py_code_on_a_recorded_document():
    client = make_client("offline-no-key", session=recorded_session(LU))
    mix = get_generation(
        client,
        "LU",
        pd.Timestamp("2024-05-21 10:00", tz="UTC"),
        pd.Timestamp("2024-05-24 10:00", tz="UTC"),
    )
    direct = read_generation_xml(LU, "LU")
    assert mix.height > 0
    assert mix.equals(direct.filter(pl.col("ts_utc").is_in(mix["ts_utc"].implode())))


def test_no_matching_data_is_an_empty_frame_not_an_error(tmp_path):
    ack = tmp_path / "ack.xml"
    ack.write_text(
        '<?xml version="1.0" encoding="UTF-8"?><Acknowledgement_MarketDocument><Reason><code>999</code>'
        "<text>No matching data found for Data item ENERGY_PRODUCTION</text></Reason></Acknowledgement_MarketDocument>"
    )
    client = make_client("offline-no-key", session=recorded_session(ack))
    mix = get_generation(
        client, "LU", pd.Timestamp("2024-05-21", tz="UTC"), pd.Timestamp("2024-05-22", tz="UTC")
    )
    assert mix.is_empty()


@pytest.mark.parametrize("name", ["DK1_load_A65.xml", "FR_day_ahead_prices_A44.xml"])
def test_other_documents_are_refused_with_the_file_named(name):
    with pytest.raises(EntsoeDocumentError, match=name):
        read_generation_xml(DATA / name, "X")


def test_prices_keep_15_and_60_minute_series_side_by_side():
    from ingest.entsoe_documents import parse_prices_xml

    prices = parse_prices_xml(
        (DATA / "DE_LU_day_ahead_prices_A44_2021-01-01.xml").read_text(), "DE_LU"
    )
    hourly = prices.filter(pl.col("interval_s") == 3600)
    quarter = prices.filter(pl.col("interval_s") == 900)
    assert hourly.row(0, named=True)["price_eur_per_mwh"] == 50.87
    assert hourly["ts_utc"][0] == datetime(2020, 12, 31, 23, tzinfo=UTC)
    assert (hourly.height, quarter.height) == (48, 192)
    assert prices.select("ts_utc", "interval_s").is_duplicated().sum() == 0
    fr = parse_prices_xml((DATA / "FR_day_ahead_prices_A44.xml").read_text(), "FR")
    assert fr.height == 48 and set(fr["interval_s"]) == {3600}


def test_load_document_parses():
    from ingest.entsoe_documents import parse_load_xml

    load = parse_load_xml((DATA / "DK1_load_A65.xml").read_text(), "DK_1")
    assert load.row(0, named=True)["load_mw"] == 3031.0
    assert load["ts_utc"][0] == datetime(2023, 12, 28, 15, tzinfo=UTC)
    assert set(load["interval_s"]) == {3600}


def test_recorded_flows_drive_flow_tracing():
    from ingest.entsoe_documents import parse_flows_xml
    from pipelines.flow_tracing import consumption_intensity

    imports = parse_flows_xml((DATA / "DK1_GB_flows_A11_imports.xml").read_text(), "GB", "DK_1")
    exports = parse_flows_xml((DATA / "DK1_GB_flows_A11_exports.xml").read_text(), "DK_1", "GB")
    flows = pl.concat([imports, exports])
    assert imports.height == 44 and (flows["flow_mwh"] >= 0).all()
    hours = flows["hour_utc"].unique().sort()
    # illustrative mixes: DK1 windy at 100 g/kWh, GB at 300 g/kWh, 1,000 MWh each per hour
    production = pl.concat(
        [
            pl.DataFrame(
                {
                    "zone": z,
                    "hour_utc": hours,
                    "generation_mwh": 1000.0,
                    "ci_direct_g_per_kwh": ci / 2,
                    "ci_lifecycle_g_per_kwh": float(ci),
                    "factor_table_version": "v",
                }
            )
            for z, ci in (("DK_1", 100), ("GB", 300))
        ]
    )
    out = consumption_intensity(production, flows)
    dk1 = out.filter(pl.col("zone") == "DK_1").join(imports, on="hour_utc")
    dk1_out = dk1.join(
        exports.select("hour_utc", pl.col("flow_mwh").alias("exported")), on="hour_utc"
    )
    # where DK1 imports from GB, its consumption mix is dirtier than its own generation
    importing = dk1_out.filter(pl.col("flow_mwh") > 0)
    assert (importing["ci_lifecycle_g_per_kwh"] > 100).all()
    own_only = dk1_out.filter(pl.col("flow_mwh") == 0)["ci_lifecycle_g_per_kwh"]
    assert own_only.len() > 0 and (own_only - 100).abs().max() < 1e-9


def test_client_prices_keep_the_sdac_hourly_series_apart_from_the_quarter_hours():
    from ingest.entsoe_documents import get_day_ahead_prices

    client = make_client(
        "offline-no-key",
        session=recorded_session(DATA / "DE_LU_day_ahead_prices_A44_2021-01-01.xml"),
    )
    start, end = (
        pd.Timestamp("2020-12-31 23:00", tz="UTC"),
        pd.Timestamp("2021-01-01 23:00", tz="UTC"),
    )
    prices = get_day_ahead_prices(client, "DE_LU", start, end)
    hourly = prices.filter(pl.col("interval_s") == 3600)
    assert hourly["price_eur_per_mwh"][0] == 50.87  # the SDAC first hour, not a quarter-hour value
    assert (hourly.height, prices.filter(pl.col("interval_s") == 900).height) == (24, 96)
    assert prices["ts_utc"].max() < end.to_pydatetime()


def test_client_load_on_the_recorded_a65_document():
    from ingest.entsoe_documents import get_load

    client = make_client("offline-no-key", session=recorded_session(DATA / "DK1_load_A65.xml"))
    load = get_load(
        client,
        "DK_1",
        pd.Timestamp("2023-12-28 15:00", tz="UTC"),
        pd.Timestamp("2023-12-29", tz="UTC"),
    )
    assert load.row(0, named=True)["load_mw"] == 3031.0
    assert set(load["interval_s"]) == {3600} and set(load["source"]) == {"entsoe"}
