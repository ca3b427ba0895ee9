from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.flow_tracing import consumption_intensity, solve_hour

H = datetime(2025, 1, 1, 12, tzinfo=UTC)
EFS = np.array([12.0, 820.0, 490.0, 11.0])  # nuclear, coal, gas, wind lifecycle


def production(rows):
    return pl.DataFrame(
        [
            {
                "zone": z,
                "hour_utc": H,
                "generation_mwh": g,
                "ci_direct_g_per_kwh": d,
                "ci_lifecycle_g_per_kwh": c,
                "factor_table_version": "v",
            }
            for z, g, d, c in rows
        ]
    ).with_columns(pl.col("hour_utc").dt.cast_time_unit("us"))


def flows(rows):
    return pl.DataFrame(
        [{"zone_from": a, "zone_to": b, "hour_utc": H, "flow_mwh": f} for a, b, f in rows],
        schema={
            "zone_from": pl.String,
            "zone_to": pl.String,
            "hour_utc": pl.Datetime("us", "UTC"),
            "flow_mwh": pl.Float64,
        },
    )


def test_two_zones_worked_by_hand():
    # A: 100 MWh at 800 g/kWh exports 50 MWh to B; B: 100 MWh at 100 g/kWh
    out = consumption_intensity(
        production([("A", 100, 700, 800), ("B", 100, 50, 100)]), flows([("A", "B", 50)])
    )
    a, b = out.row(0, named=True), out.row(1, named=True)
    assert a["ci_lifecycle_g_per_kwh"] == pytest.approx(
        800
    )  # an exporter with no imports keeps its own
    assert b["ci_lifecycle_g_per_kwh"] == pytest.approx((100 * 100 + 50 * 800) / 150)
    assert b["ci_direct_g_per_kwh"] == pytest.approx((100 * 50 + 50 * 700) / 150)
    assert out["basis"].unique().to_list() == ["consumption"]


def test_import_from_a_zone_without_data_is_flagged_not_guessed():
    out = consumption_intensity(production([("B", 100, 50, 100)]), flows([("X", "B", 50)]))
    row = out.row(0, named=True)
    assert row["quality"] == "missing_neighbour" and row["ci_lifecycle_g_per_kwh"] is None


@st.composite
def grids(draw):
    n = draw(st.integers(1, 5))
    mix = np.array(
        draw(st.lists(st.lists(st.floats(0, 1000), min_size=4, max_size=4), min_size=n, max_size=n))
    )
    mix[:, 0] += 1.0  # every zone generates something
    f = np.array(
        draw(st.lists(st.lists(st.floats(0, 500), min_size=n, max_size=n), min_size=n, max_size=n))
    )
    np.fill_diagonal(f, 0.0)
    return mix, f


def _solve(mix, f):
    gen = mix.sum(axis=1)
    emissions = (mix @ EFS)[:, None]
    return gen, emissions, solve_hour(gen, emissions, f)[:, 0]


@settings(max_examples=200, deadline=None)
@given(grids())
def test_no_exchange_equals_production_based(grid):
    mix, f = grid
    gen, emissions, x = _solve(mix, np.zeros_like(f))
    np.testing.assert_allclose(x, emissions[:, 0] / gen, rtol=1e-9)


@settings(max_examples=200, deadline=None)
@given(grids())
def test_emissions_are_conserved_and_bounded_by_the_factors(grid):
    mix, f = grid
    gen, emissions, x = _solve(mix, f)
    consumption = gen + f.sum(axis=0) - f.sum(axis=1)
    np.testing.assert_allclose((x * consumption).sum(), emissions.sum(), rtol=1e-6, atol=1e-6)
    used = EFS[(mix > 0).any(axis=0)]
    assert (x >= used.min() - 1e-6).all() and (x <= used.max() + 1e-6).all()


@settings(max_examples=100, deadline=None)
@given(
    st.floats(1, 1000), st.floats(1, 1000), st.floats(0, 1000), st.floats(0, 900), st.floats(0, 900)
)
def test_two_zone_property(g_a, g_b, flow, ci_a, ci_b):
    x = solve_hour(
        np.array([g_a, g_b]), np.array([[g_a * ci_a], [g_b * ci_b]]), np.array([[0, flow], [0, 0]])
    )[:, 0]
    assert x[0] == pytest.approx(ci_a)
    assert x[1] == pytest.approx((g_b * ci_b + flow * ci_a) / (g_b + flow))
