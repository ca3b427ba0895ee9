from datetime import UTC, date, datetime

import polars as pl
import pytest

from pipelines.carbon_intensity import hourly_intensity_with_gaps, production_intensity
from pipelines.emission_factors import load_factor_table

VERSION, FACTORS = load_factor_table()
H = datetime(2025, 5, 1, 12, tzinfo=UTC)


def mix(rows, hour=H):
    return pl.DataFrame(
        [("DE_LU", hour, psr, mode, e) for psr, mode, e in rows],
        schema={
            "zone": pl.String,
            "ts_utc": pl.Datetime("us", "UTC"),
            "production_type": pl.String,
            "mode": pl.String,
            "energy_mwh": pl.Float64,
        },
        orient="row",
    )


@pytest.mark.parametrize(
    ("rows", "direct", "lifecycle"),
    [
        ([("B02", "generation", 50), ("B19", "generation", 50)], 380.0, (820 + 11) / 2),
        ([("B04", "generation", 100)], 370.0, 490.0),
        ([("B16", "generation", 30), ("B14", "generation", 10)], 0.0, (30 * 45 + 10 * 12) / 40),
        # pumped-storage charging is consumption, not generation: it does not dilute the mix
        ([("B05", "generation", 10), ("B10", "consumption", 90)], 760.0, 820.0),
    ],
)
def test_production_intensity_table(rows, direct, lifecycle):
    out = production_intensity(mix(rows), FACTORS, VERSION).row(0, named=True)
    assert out["ci_direct_g_per_kwh"] == pytest.approx(direct)
    assert out["ci_lifecycle_g_per_kwh"] == pytest.approx(lifecycle)
    assert out["factor_table_version"] == "default-v1"


def test_quarter_hours_make_their_hour_and_a_missing_quarter_is_flagged():
    quarters = pl.concat(
        [
            mix([("B04", "generation", 25), ("B16", "generation", 5)], H.replace(minute=m))
            for m in (0, 15, 30, 45)
        ]
    ).with_columns(pl.lit(900, dtype=pl.Int32).alias("interval_s"))
    out = production_intensity(quarters, FACTORS, VERSION).row(0, named=True)
    # energy of the hour = mean of the quarter-hour MW: gas 100 MW, solar 20 MW
    assert out["generation_mwh"] == 120
    assert out["ci_lifecycle_g_per_kwh"] == pytest.approx((100 * 490 + 20 * 45) / 120)
    assert out["quality"] == "complete"
    gap = quarters.filter(~((pl.col("production_type") == "B16") & (pl.col("ts_utc") == H)))
    out = production_intensity(gap, FACTORS, VERSION).row(0, named=True)
    assert out["quality"] == "partial"
    assert out["generation_mwh"] == 120  # the mean of the three quarters still stands for the hour


def test_missing_hours_are_flagged_never_filled():
    out = hourly_intensity_with_gaps(
        mix([("B04", "generation", 100)]),
        FACTORS,
        VERSION,
        "DE_LU",
        date(2025, 5, 1),
        date(2025, 5, 2),
    )
    assert out.height == 24
    present = out.filter(pl.col("hour_utc") == H)
    assert present["quality"].to_list() == ["complete"]
    missing = out.filter(pl.col("hour_utc") != H)
    assert (missing["quality"] == "missing").all()
    assert missing["ci_lifecycle_g_per_kwh"].null_count() == 23  # neither 0 nor fossil
