from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from pipelines.vampire import VampireInputError, detect_vampire_loads
from pipelines.vampire.baseline import nanmedian, rolling_nanmedian
from pipelines.vampire.grid import meter_chunks, to_grid

from .conftest import Site


@pytest.fixture(scope="module")
def readings() -> pl.DataFrame:
    return Site(date(2025, 1, 6), 21).readings()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.drop("energy_wh"), "lack the column"),
        (lambda r: r.with_columns(pl.col("ts_utc").cast(pl.String)), "must be a Datetime"),
        (
            lambda r: r.with_columns(pl.col("ts_utc") + timedelta(minutes=5)),
            "not 15-minute interval starts",
        ),
        (lambda r: r.with_columns(-pl.col("energy_wh")), "negative energy_wh"),
        (lambda r: pl.concat([r, r.head(3)]), "repeated (meter_id, ts_utc)"),
        (
            lambda r: r.filter(
                (pl.col("meter_id") != "saw-2")
                | (pl.col("ts_utc") < datetime(2025, 1, 16, tzinfo=UTC))
            ),
            "saw-2 (10.0 d) have less than 14 days",
        ),
        (
            lambda r: r.with_columns(pl.lit(None, dtype=pl.String).alias("meter_id")),
            "without meter_id",
        ),
    ],
)
def test_unusable_readings_are_named(readings, change, message):
    with pytest.raises(VampireInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        detect_vampire_loads(change(readings))


def test_grid_codes_meters_in_order_and_tolerates_gaps_and_null_energy(readings):
    gappy = readings.filter(pl.col("ts_utc") != datetime(2025, 1, 10, tzinfo=UTC)).with_columns(
        pl.when(pl.col("ts_utc") == datetime(2025, 1, 11, tzinfo=UTC))
        .then(None)
        .otherwise(pl.col("energy_wh"))
        .alias("energy_wh")
    )
    grid = to_grid(gappy.sort("ts_utc"))  # unsorted by meter: sorted inside
    assert grid.meter_ids == ["oven-3", "press-1", "saw-2"]
    assert grid.row_start.tolist() == [0, 2014, 4028, 6042]  # 21 days x 96 − 2 per meter
    assert (np.diff(grid.k[: grid.row_start[1]]) > 0).all()
    assert grid.power_w[0] == pytest.approx(gappy.sort("meter_id", "ts_utc")["energy_wh"][0] * 4)
    naive = readings.with_columns(pl.col("ts_utc").dt.replace_time_zone(None))
    assert to_grid(naive).k.tolist() == to_grid(readings).k.tolist()


def test_meter_chunks_cover_all_meters_within_the_row_budget(readings):
    grid = to_grid(readings)
    assert meter_chunks(grid, max_rows=10_000_000) == [(0, 3)]
    assert meter_chunks(grid, max_rows=2 * 2016) == [(0, 2), (2, 3)]
    assert meter_chunks(grid, max_rows=10) == [(0, 1), (1, 2), (2, 3)]


def test_sort_based_nanmedian_matches_numpy():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 7, 9))
    a[rng.random(a.shape) < 0.3] = np.nan
    a[0, 0, :] = np.nan
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        expected = np.nanmedian(a, axis=-1)
    np.testing.assert_allclose(nanmedian(a, axis=-1), expected, equal_nan=True)
    np.testing.assert_allclose(nanmedian(a, axis=1)[1], np.nanmedian(a[1], axis=0), equal_nan=True)
    rolled = rolling_nanmedian(np.arange(10.0)[None, :], 2)[0]
    assert rolled.tolist() == [1.0, 1.5, 2, 3, 4, 5, 6, 7, 7.5, 8]
