"""Smart-meter data quality: GE suites on raw meter exports, readings and telemetry.

The suites fail on corrupted batches and pass on clean ones, blocking suites stop
``site_energy_hourly``, and every suite stores one ``data_quality_results`` row per
expectation per day, replaced (never duplicated) when the check runs again.
"""

import shutil
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl
import pytest

from assets_defs.checks.results import read_results
from assets_defs.partitions import range_tags, site_day_key
from assets_defs.site.assets import (
    device_telemetry,
    meter_readings,
    meter_registry,
    sample_site_raw,
    site_energy_hourly,
)
from assets_defs.site.checks import (
    device_telemetry_checks,
    meter_readings_checks,
    raw_meter_readings_checks,
)
from ingest import raw_files
from novaenergy.demo import QUIET, instance_with_sites, resources_for
from pipelines import data_quality, lake
from pipelines.schemas import KEYS, conform

from .conftest import week_settings

DAY = date(2025, 3, 27)
PARTITION = DAY.isoformat()
SITE = "warehouse-b"
RAW = "raw_meter_readings"

RAW_SUITES = {
    f"{RAW}_schema": {
        "expect_table_row_count_to_be_between",
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_in_set",
    },
    f"{RAW}_value_ranges": {
        "expect_column_values_to_be_between",
        "expect_column_pair_values_a_to_be_greater_than_b[register == interval]",
    },
    f"{RAW}_unique_key": {"expect_compound_columns_to_be_unique"},
    f"{RAW}_monotonic_registers": {"expect_column_values_to_be_between"},
    f"{RAW}_complete_intervals": {
        "expect_column_distinct_values_to_contain_set",
        "expect_column_pair_values_to_be_equal",
    },
}


# ---------------------------------------------------------------- setup


@pytest.fixture(scope="module")
def landed_day(tmp_path_factory):
    """Raw files of one sample day and the meter registry, built once."""
    root = tmp_path_factory.mktemp("dq_base")
    settings = week_settings(root)
    for asset, key in ((meter_registry, SITE), (sample_site_raw, f"{PARTITION}|{SITE}")):
        result = dg.materialize(
            [asset],
            resources=resources_for(settings),
            partition_key=key,
            run_config=QUIET,
            instance=instance_with_sites([SITE]),
        )
        assert result.success
    return root


@pytest.fixture
def settings(landed_day, tmp_path):
    """A private copy of the landed day."""
    for name in ("raw", "lake"):
        shutil.copytree(landed_day / name, tmp_path / name)
    return week_settings(tmp_path)


def run_checks(settings, assets, checks, selection=None) -> tuple[dict[str, bool], object]:
    """Materialize ``DAY``: as a single partition, or as a one-day range when only
    checks are selected (a range has no partitioned asset to take its key from)."""
    checks_only = selection is not None and not selection.resolve([*assets, *checks])
    site_id = settings.site_id
    result = dg.materialize(
        [*assets, *checks],
        selection=selection,
        resources=resources_for(settings),
        partition_key=None if checks_only else str(site_day_key(DAY, site_id)),
        tags=range_tags(DAY, DAY, site_id) if checks_only else None,
        run_config=QUIET,
        raise_on_error=False,
        instance=instance_with_sites([site_id]),
    )
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}, result


def run_raw_checks(settings) -> dict[str, bool]:
    outcome, _ = run_checks(
        settings,
        [meter_readings],
        [raw_meter_readings_checks],
        dg.AssetSelection.checks_for_assets(meter_readings),
    )
    return outcome


def raw_path(settings):
    return raw_files.meter_file(settings.raw_root, SITE, DAY)


def read_raw(settings) -> pl.DataFrame:
    return pl.read_csv(raw_path(settings), infer_schema=False)


def write_raw(settings, frame: pl.DataFrame) -> None:
    frame.write_csv(raw_path(settings))


def set_value(frame: pl.DataFrame, row: int, column: str, value) -> pl.DataFrame:
    return frame.with_columns(
        pl.when(pl.int_range(pl.len()) == row)
        .then(pl.lit(value))
        .otherwise(pl.col(column))
        .alias(column)
    )


def cumulative_export(frame: pl.DataFrame, meter: str, start_wh: float = 5_000.0) -> pl.DataFrame:
    """The export with ``meter`` as cumulative register readings [Wh]."""
    register = frame.filter(pl.col("meter_id") == meter).with_columns(
        (pl.col("energy_wh").cast(pl.Float64).cum_sum() + start_wh)
        .round(1)
        .cast(pl.String)
        .alias("energy_wh"),
        pl.lit("cumulative").alias("register"),
    )
    others = frame.filter(pl.col("meter_id") != meter).with_columns(
        pl.lit("interval").alias("register")
    )
    return pl.concat([others, register])


# ---------------------------------------------------------------- raw meter exports


def test_raw_suites_pass_on_the_clean_day(settings):
    outcome = run_raw_checks(settings)
    assert outcome == {name: True for name in RAW_SUITES}


def _duplicate(frame):
    copy = frame.slice(10, 1).with_columns(pl.lit("999.0").alias("energy_wh"))
    return pl.concat([frame, copy])


def _negative(frame):
    return set_value(frame, 20, "energy_wh", "-5.0")


def _above_capacity(frame):
    # load-3dprinters: 30 kW x 0.25 h x 1.1 = 8250 Wh at most
    row = frame.with_row_index().filter(pl.col("meter_id") == "load-3dprinters")["index"][0]
    return set_value(frame, row, "energy_wh", "9000.0")


def _missing_interval(frame):
    return frame.filter(pl.int_range(pl.len()) != 30)


def _missing_meter(frame):
    return frame.filter(pl.col("meter_id") != "load-lighting")


def _unparseable(frame):
    return set_value(frame, 40, "ts_utc", "yesterday")


def _register_drop(frame):
    cum = cumulative_export(frame, "load-hvac")
    rows = cum.with_row_index().filter(pl.col("meter_id") == "load-hvac")["index"]
    return set_value(cum, rows[50], "energy_wh", "100.0")  # the register falls back


CORRUPTIONS = {
    "duplicate meter/ts": (_duplicate, {f"{RAW}_unique_key"}),
    "negative energy": (_negative, {f"{RAW}_value_ranges"}),
    "above meter capacity": (_above_capacity, {f"{RAW}_value_ranges"}),
    "missing interval": (_missing_interval, {f"{RAW}_complete_intervals"}),
    "missing meter": (_missing_meter, {f"{RAW}_complete_intervals"}),
    "unparseable timestamp": (
        _unparseable,
        {f"{RAW}_schema", f"{RAW}_complete_intervals"},
    ),
    "non-monotonic register": (_register_drop, {f"{RAW}_monotonic_registers"}),
}


@pytest.mark.parametrize("case", CORRUPTIONS, ids=list(CORRUPTIONS))
def test_raw_suites_fail_on_a_corrupted_export(settings, case):
    corrupt, failing = CORRUPTIONS[case]
    write_raw(settings, corrupt(read_raw(settings)))
    outcome = run_raw_checks(settings)
    assert {name for name, passed in outcome.items() if not passed} == failing


def test_cumulative_registers_pass_when_rising_or_rolling_over(settings):
    frame = cumulative_export(read_raw(settings), "load-hvac", start_wh=900_000.0)
    # the six-digit register rolls over to zero during the day: not a decrease
    frame = frame.with_columns(
        pl.when(pl.col("register") == "cumulative")
        .then((pl.col("energy_wh").cast(pl.Float64) % 1_000_000).round(1).cast(pl.String))
        .otherwise(pl.col("energy_wh"))
        .alias("energy_wh")
    )
    readings = frame.filter(pl.col("register") == "cumulative")["energy_wh"].cast(pl.Float64)
    assert (readings.diff() < 0).sum() == 1  # one rollover in the export
    write_raw(settings, frame)
    assert all(run_raw_checks(settings).values())


def test_a_drop_across_days_is_caught(settings):
    """Register steps span the run's window: day 2 starting below day 1's end fails."""
    day2 = DAY + timedelta(days=1)
    first = cumulative_export(read_raw(settings), "load-hvac", start_wh=50_000.0)
    second = first.with_columns(
        pl.col("ts_utc").str.replace(PARTITION, day2.isoformat()),
    )
    write_raw(settings, first)
    second.write_csv(raw_files.meter_file(settings.raw_root, SITE, day2))
    result = dg.materialize(
        [meter_readings, raw_meter_readings_checks],
        selection=dg.AssetSelection.checks_for_assets(meter_readings),
        resources=resources_for(settings),
        tags=range_tags(DAY, day2, SITE),
        run_config=QUIET,
        instance=instance_with_sites([SITE]),
        raise_on_error=False,
    )
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    monotonic = evaluations[f"{RAW}_monotonic_registers"]
    assert not monotonic.passed
    assert monotonic.metadata["failed_days"].value == [day2.isoformat()]


# ---------------------------------------------------------------- telemetry


def land_telemetry(settings, corrupt=lambda f: f) -> None:
    raw = pl.read_parquet(raw_files.telemetry_file(settings.raw_root, SITE, DAY))
    frame = conform(corrupt(raw), "device_telemetry")
    lake.write_days(settings.lake_root, "device_telemetry", frame, [SITE], [DAY])


def run_telemetry_checks(settings) -> dict[str, bool]:
    outcome, _ = run_checks(
        settings,
        [device_telemetry],
        [device_telemetry_checks],
        dg.AssetSelection.checks_for_assets(device_telemetry),
    )
    return outcome


def _where(metric: str) -> pl.Expr:
    """The first sample of ``metric``."""
    return (pl.col("metric") == metric) & (pl.int_range(pl.len()).over("metric") == 0)


TELEMETRY_CORRUPTIONS = {
    "soc above 100": (
        lambda f: f.with_columns(
            pl.when(_where("soc_pct")).then(120.0).otherwise(pl.col("value")).alias("value")
        ),
        {"device_telemetry_value_ranges"},
    ),
    "negative soc": (
        lambda f: f.with_columns(
            pl.when(_where("soc_pct")).then(-3.0).otherwise(pl.col("value")).alias("value")
        ),
        {"device_telemetry_value_ranges"},
    ),
    "power beyond the cap": (
        lambda f: f.with_columns(
            pl.when(_where("power_w")).then(-5e6).otherwise(pl.col("value")).alias("value")
        ),
        {"device_telemetry_value_ranges"},
    ),
    "power in kW": (
        lambda f: f.with_columns(
            pl.when(_where("power_w")).then(pl.lit("kW")).otherwise(pl.col("unit")).alias("unit")
        ),
        {"device_telemetry_value_ranges"},
    ),
    "missing interval": (
        lambda f: f.filter(pl.int_range(pl.len()) != 7),
        {"device_telemetry_complete_intervals"},
    ),
}


def test_telemetry_suites_pass_on_the_clean_day(settings):
    land_telemetry(settings)
    outcome = run_telemetry_checks(settings)
    assert outcome and all(outcome.values()), outcome


def every_10_s(frame: pl.DataFrame) -> pl.DataFrame:
    """Each 15-minute sample repeated every 10 s of its interval: telemetry at 0.1 Hz."""
    offsets = pl.DataFrame({"offset_s": list(range(0, 900, 10))})
    return (
        frame.join(offsets, how="cross")
        .with_columns(pl.col("ts_utc") + pl.duration(seconds=pl.col("offset_s")))
        .drop("offset_s")
    )


def test_telemetry_faster_than_the_interval_is_complete_with_a_sample_in_each(settings):
    land_telemetry(settings, every_10_s)
    rows = lake.read_partition(settings.lake_root, "device_telemetry", SITE, DAY)
    assert rows["ts_utc"].dt.second().n_unique() == 6  # finer than 15 min
    outcome = run_telemetry_checks(settings)
    assert outcome and all(outcome.values()), outcome

    # one series without a sample for one quarter hour (its 90 samples all gone)
    first = rows.row(0, named=True)
    gap = (pl.col("device_id") == first["device_id"]) & (pl.col("metric") == first["metric"])
    quarter = pl.col("ts_utc").dt.truncate("15m") == first["ts_utc"].replace(second=0)
    land_telemetry(settings, lambda f: every_10_s(f).filter(~(gap & quarter)))
    outcome = run_telemetry_checks(settings)
    assert [name for name, ok in outcome.items() if not ok] == [
        "device_telemetry_complete_intervals"
    ]


@pytest.mark.parametrize("case", TELEMETRY_CORRUPTIONS, ids=list(TELEMETRY_CORRUPTIONS))
def test_telemetry_suites_fail_on_a_corrupted_batch(settings, case):
    corrupt, failing = TELEMETRY_CORRUPTIONS[case]
    land_telemetry(settings, corrupt)
    outcome = run_telemetry_checks(settings)
    assert {name for name, passed in outcome.items() if not passed} == failing


def test_validated_readings_fail_above_meter_capacity(settings):
    run_checks(settings, [meter_readings], [], dg.AssetSelection.assets(meter_readings))
    readings = lake.read_partition(settings.lake_root, "meter_readings", SITE, DAY)
    bad = readings.with_columns(
        pl.when(pl.col("meter_id") == "load-3dprinters")
        .then(9_000.0)
        .otherwise(pl.col("energy_wh"))
        .alias("energy_wh")
    )
    lake.write_partition(settings.lake_root, "meter_readings", bad, SITE, DAY)
    outcome, _ = run_checks(
        settings,
        [meter_readings],
        [meter_readings_checks],
        dg.AssetSelection.checks_for_assets(meter_readings),
    )
    assert {n for n, passed in outcome.items() if not passed} == {"meter_readings_value_ranges"}


# ---------------------------------------------------------------- blocking


def materialized(result) -> set[str]:
    return {
        e.asset_key.to_user_string()
        for e in result.get_asset_materialization_events()
        if e.asset_key is not None
    }


SITE_RUN = [meter_readings, device_telemetry, site_energy_hourly]


def test_clean_batches_reach_site_energy_hourly(settings):
    outcome, result = run_checks(
        settings, SITE_RUN, [raw_meter_readings_checks, device_telemetry_checks]
    )
    assert result.success and all(outcome.values())
    assert materialized(result) == {"meter_readings", "device_telemetry", "site_energy_hourly"}


def test_a_non_monotonic_register_blocks_site_energy_hourly(settings):
    write_raw(settings, _register_drop(read_raw(settings)))
    outcome, result = run_checks(
        settings, SITE_RUN, [raw_meter_readings_checks, device_telemetry_checks]
    )
    assert outcome[f"{RAW}_monotonic_registers"] is False
    assert not result.success
    assert "site_energy_hourly" not in materialized(result)
    assert "meter_readings" in materialized(result)  # landed; its consumer is held back


def test_duplicate_readings_block_site_energy_hourly(settings):
    write_raw(settings, _duplicate(read_raw(settings)))
    outcome, result = run_checks(settings, SITE_RUN, [raw_meter_readings_checks])
    assert outcome[f"{RAW}_unique_key"] is False
    assert "site_energy_hourly" not in materialized(result)


def test_out_of_range_telemetry_blocks_site_energy_hourly(settings):
    path = raw_files.telemetry_file(settings.raw_root, SITE, DAY)
    corrupt, _ = TELEMETRY_CORRUPTIONS["soc above 100"]
    corrupt(pl.read_parquet(path)).write_parquet(path)
    outcome, result = run_checks(settings, SITE_RUN, [device_telemetry_checks])
    assert outcome["device_telemetry_value_ranges"] is False
    assert "site_energy_hourly" not in materialized(result)


def test_warn_only_suites_do_not_block(settings):
    write_raw(settings, _missing_interval(read_raw(settings)))
    outcome, result = run_checks(settings, SITE_RUN, [raw_meter_readings_checks])
    assert outcome[f"{RAW}_complete_intervals"] is False
    assert result.success
    assert "site_energy_hourly" in materialized(result)


# ---------------------------------------------------------------- stored results


def result_file(settings, dataset: str):
    partition = data_quality.dataset_scope(dataset, SITE)
    return lake.partition_dir(settings.lake_root, "data_quality_results", partition, DAY)


def test_results_are_stored_per_day_and_replaced_on_rerun(settings):
    run_raw_checks(settings)
    stored = read_results(settings.lake_root, RAW)
    assert stored["day_utc"].unique().to_list() == [datetime(2025, 3, 27, tzinfo=UTC)]
    names = stored.group_by("suite").agg(pl.col("expectation").unique())
    assert {s: set(e) for s, e in names.iter_rows()} == RAW_SUITES
    assert stored["success"].all()
    assert not stored.select(KEYS["data_quality_results"]).is_duplicated().any()
    not_null = stored.filter(pl.col("expectation") == "expect_column_values_to_not_be_null")
    assert set(not_null["column"]) == set(data_quality.RAW_METER_SCHEMA)

    file = result_file(settings, RAW) / lake.PART_FILE
    before = file.read_bytes()
    run_raw_checks(settings)
    assert file.read_bytes() == before  # unchanged outcomes: the same bytes

    write_raw(settings, _duplicate(read_raw(settings)))
    run_raw_checks(settings)
    again = read_results(settings.lake_root, RAW)
    assert again.height == stored.height
    failed = again.filter(~pl.col("success"))
    assert failed.select("suite", "expectation", "column").rows() == [
        (f"{RAW}_unique_key", "expect_compound_columns_to_be_unique", "meter_id,ts_utc")
    ]
    assert failed["observed"][0].startswith("2 unexpected of ")
    key = KEYS["data_quality_results"]
    pairs = again.join(stored, on=key, suffix="_before", nulls_equal=True)
    assert pairs.height == stored.height
    same = pairs.filter(
        (pl.col("success") == pl.col("success_before"))
        & pl.col("observed").eq_missing(pl.col("observed_before"))
    )
    assert same.height and (same["evaluated_at_utc"] == same["evaluated_at_utc_before"]).all()
    changed = pairs.filter(pl.col("observed").ne_missing(pl.col("observed_before")))
    assert (changed["evaluated_at_utc"] > changed["evaluated_at_utc_before"]).all()


def test_each_check_writes_its_own_rows(settings):
    land_telemetry(settings)
    run_telemetry_checks(settings)
    run_raw_checks(settings)
    results = read_results(settings.lake_root)
    assert set(results["dataset"]) == {RAW, "device_telemetry"}
    telemetry = results.filter(pl.col("dataset") == "device_telemetry")
    assert set(telemetry["suite"]) == {
        "device_telemetry_schema",
        "device_telemetry_value_ranges",
        "device_telemetry_unique_key",
        "device_telemetry_complete_intervals",
    }
    ranges = set(
        telemetry.filter(pl.col("suite") == "device_telemetry_value_ranges")["expectation"]
    )
    assert {
        "expect_column_values_to_be_between[unit == W]",
        "expect_column_values_to_be_between[unit == %]",
        "expect_column_values_to_be_in_set[metric == soc_pct]",
    } <= ranges


def test_merge_keeps_other_suites_and_unchanged_times():
    t0, t1 = datetime(2025, 3, 27, 6, tzinfo=UTC), datetime(2025, 3, 28, 6, tzinfo=UTC)
    stored = pl.concat(
        [
            data_quality.result_frame(
                "d", "s", DAY, "a", [("e1", "x", True, "0"), ("e2", None, True, "5")], t0
            ),
            data_quality.result_frame("d", "s", DAY, "b", [("e1", "x", True, "0")], t0),
        ]
    )
    new = data_quality.result_frame(
        "d", "s", DAY, "a", [("e1", "x", True, "0"), ("e2", None, False, "4")], t1
    )
    merged = data_quality.merge_results(stored, new, ["a"])
    times = {
        (r["suite"], r["expectation"]): r["evaluated_at_utc"] for r in merged.iter_rows(named=True)
    }
    assert times == {("a", "e1"): t0, ("a", "e2"): t1, ("b", "e1"): t0}
    with pytest.raises(ValueError, match="share a key"):
        data_quality.merge_results(stored, pl.concat([new, new]), ["a"])


# ---------------------------------------------------------------- helpers


def test_register_steps_allow_rollovers_and_flag_drops():
    ts = [datetime(2025, 3, 27, tzinfo=UTC) + timedelta(minutes=15 * i) for i in range(5)]
    frame = pl.DataFrame(
        {
            "meter_id": ["r"] * 5 + ["d"] * 5,
            "ts_utc": ts + ts,
            "energy_wh": [999_000.0, 999_500.0, 999_950.0, 200.0, 700.0]
            + [5_000.0, 5_100.0, 4_000.0, 4_100.0, 4_100.0],
            "register": ["cumulative"] * 10,
        }
    )
    steps = data_quality.with_register_steps(frame, ["meter_id"])["dq_register_step_wh"]
    assert steps.to_list() == [None, 500.0, 450.0, 250.0, 500.0, None, 100.0, -1100.0, 100.0, 0.0]


def test_raw_meter_frame_reads_the_export_variants():
    raw = pl.DataFrame(
        {
            "meter_id": ["a", "a", " b ", ""],
            "ts_local": ["2025-10-26 02:15", "2025-10-26 02:15", "26.10.2025 03:00", "x"],
            "value": ["1.5", "2", "3", "oops"],
            "unit": ["kWh", "kwh", "Wh", "Wh"],
            "register": ["interval", "Cumulative", "", "gauge"],
        }
    )
    frame = data_quality.raw_meter_frame(raw, "Europe/Berlin")
    assert frame["meter_id"].to_list() == ["a", "a", "b", None]
    assert frame["ts_utc"].to_list()[:3] == [
        datetime(2025, 10, 26, 0, 15, tzinfo=UTC),  # summer time, first occurrence
        datetime(2025, 10, 26, 1, 15, tzinfo=UTC),  # winter time, second occurrence
        datetime(2025, 10, 26, 2, 0, tzinfo=UTC),
    ]
    assert frame["energy_wh"].to_list() == [1500.0, 2000.0, 3.0, None]
    assert frame["register"].to_list() == ["interval", "cumulative", "interval", None]
    assert frame["interval_s"].to_list() == [900] * 4


def test_interval_counts_skip_rows_outside_the_batch_day():
    day = date(2025, 3, 27)
    ts = [datetime(2025, 3, 26, 23, 45, tzinfo=UTC)] + [
        datetime(2025, 3, 27, tzinfo=UTC) + timedelta(minutes=15 * i) for i in range(3)
    ]
    frame = pl.DataFrame({"m": ["a"] * 4, "ts_utc": ts, data_quality.DAY: [day] * 4})
    counted = data_quality.with_interval_counts(frame, ["m"], "ts_utc", 900)
    assert counted["dq_intervals_present"].to_list() == [None, 3, 3, 3]
    assert counted["dq_intervals_expected"].to_list() == [None, 96, 96, 96]


# ---------------------------------------------------------------- the sample week


def test_the_clean_lake_stores_passing_results_for_every_day(week):
    settings, _, failed = week
    assert failed == []
    results = read_results(settings.lake_root)
    assert not results.select(KEYS["data_quality_results"]).is_duplicated().any()
    for dataset in (RAW, "meter_readings", "device_telemetry", "site_energy_hourly"):
        rows = results.filter(pl.col("dataset") == dataset)
        days = (settings.sample_end - settings.sample_start).days
        assert rows["day_utc"].dt.date().n_unique() == days, dataset
        assert rows["success"].all(), rows.filter(~pl.col("success"))
        per_day = rows.group_by("day_utc").len()["len"]
        assert per_day.n_unique() == 1  # the same expectations every day
    raw = results.filter(pl.col("dataset") == RAW)
    assert {
        s: set(e) for s, e in raw.group_by("suite").agg("expectation").iter_rows()
    } == RAW_SUITES


# ---------------------------------------------------------------- a portfolio lake


def test_a_portfolio_lake_keeps_each_sites_checks_and_results_apart(settings):
    outcome, _ = run_checks(settings, [meter_readings], [meter_readings_checks])
    assert outcome["meter_readings_value_ranges"] is True
    # a second site in the same lake, with readings out of range
    root, other = settings.lake_root, "plant-2"
    own = lake.read_partition(root, "meter_readings", SITE, DAY)
    bad = own.with_columns(pl.lit(other).alias("site_id"), pl.lit(-1.0).alias("energy_wh"))
    lake.write_partition(root, "meter_readings", bad, other, DAY)
    registry = lake.read_partition(root, "meter_registry", SITE)
    lake.write_partition(
        root, "meter_registry", registry.with_columns(pl.lit(other).alias("site_id")), other
    )
    checks_only = dg.AssetSelection.checks_for_assets(meter_readings)
    other_outcome, _ = run_checks(
        replace(settings, site_id=other), [meter_readings], [meter_readings_checks], checks_only
    )
    assert other_outcome["meter_readings_value_ranges"] is False
    # the first site's checks never read the other site's rows
    again, _ = run_checks(settings, [meter_readings], [meter_readings_checks], checks_only)
    assert again == outcome

    results = read_results(root, "meter_readings")
    ranges = results.filter(pl.col("suite") == "meter_readings_value_ranges")
    assert dict(ranges.group_by("scope").agg(pl.col("success").all()).rows()) == {
        SITE: True,
        other: False,
    }
    partitions = {p.parent.parent.name for p in lake.dataset_files(root, "data_quality_results")}
    assert {f"dataset_scope=meter_readings@{SITE}", f"dataset_scope=meter_readings@{other}"} <= (
        partitions
    )


def test_a_dataset_has_one_check_recording_its_results():
    from assets_defs.checks.contract_checks import RECORDED_BY, build_suite_checks
    from assets_defs.checks.raw_meter_checks import raw_meter_suite_set

    assert RECORDED_BY[RAW] == f"{RAW}_checks"
    assert RECORDED_BY["meter_readings"] == "meter_readings_contract_checks"
    second = replace(raw_meter_suite_set(), name="another_raw_check")
    with pytest.raises(ValueError, match="recorded by raw_meter_readings_checks"):
        build_suite_checks("meter_readings", second)
