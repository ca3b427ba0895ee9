import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.frames import is_sorted_by, same_key_as_previous, sort_if_needed


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([("a", "m1", 1), ("a", "m1", 2), ("a", "m2", 0)], True),
        ([("a", "m1", 2), ("a", "m1", 1)], False),
        ([("a", "m2", 1), ("a", "m1", 2)], False),
        ([("a", "m1", 1), ("a", "m2", 1), ("a", "m1", 3)], False),  # m1 twice, not contiguous
        ([("b", "m1", 1), ("a", "m9", 1)], False),
        ([("a", "m1", 1), ("a", "m1", 1)], True),  # ties allowed
    ],
)
def test_is_sorted_by_table(rows, expected):
    frame = pl.DataFrame(rows, schema=["s", "m", "t"], orient="row")
    assert is_sorted_by(frame, ["s", "m", "t"]) is expected


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("ab"), st.sampled_from(["m1", "m2", "m3"]), st.integers(0, 3)),
        max_size=12,
    )
)
def test_is_sorted_by_agrees_with_sorting(rows):
    frame = pl.DataFrame(rows, schema={"s": pl.String, "m": pl.String, "t": pl.Int64}, orient="row")
    key = ["s", "m", "t"]
    assert is_sorted_by(frame, key) == frame.equals(frame.sort(key))
    ordered = sort_if_needed(frame, key)
    assert is_sorted_by(ordered, key)
    assert (
        ordered.filter(same_key_as_previous(key)).height == frame.height - frame.unique(key).height
    )
