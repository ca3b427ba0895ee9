"""Strategies and settings shared by the fuzz tests: bad input of every kind.

Every fuzz test runs a bounded, reproducible search (:func:`bounded`): a fixed number of
examples, no deadline (the first example pays for imports), derandomized and without the
example database, so CI sees the same inputs on every run. ``make fuzz-long`` searches
further, at random.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

ABSURD_NUMBERS = st.sampled_from(
    [0, -0.0, 1, -1, 0.5, 5e-324, 1e-300, 1e15, 2**63, -(2**63), 1e308, -1e308, 10**400]
    + [-(10**400), float("nan"), float("inf"), float("-inf")]
)
"""Numbers at and beyond the edges of float and int64, and the non-finite ones."""

ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "latin-1", "cp1252")
"""Encodings a file from the field may come in; only UTF-8 (with or without BOM) is valid."""


def bounded(max_examples: int, *, slow_fixture: bool = False) -> settings:
    """Hypothesis settings for one fuzz test: ``max_examples`` reproducible examples.

    ``make fuzz-long`` sets ``NOVAENERGY_FUZZ_SCALE`` (read when a test module is
    collected): that many times the examples, drawn at random instead of reproducibly,
    so a long run explores inputs CI never sees.

    Parameters
    ----------
    max_examples : int
        How many inputs to try in CI [-].
    slow_fixture : bool
        Allow a function-scoped fixture (such as ``time_limit_30s``) that is meant to
        span all examples of the test.
    """
    scale = int(os.environ.get("NOVAENERGY_FUZZ_SCALE", "1"))
    suppress = [HealthCheck.too_slow, HealthCheck.data_too_large]
    if slow_fixture:
        suppress.append(HealthCheck.function_scoped_fixture)
    return settings(
        max_examples=max_examples * scale,
        deadline=None,
        derandomize=scale == 1,
        database=None,
        suppress_health_check=suppress,
    )


def json_values(keys: st.SearchStrategy[str] | None = None) -> st.SearchStrategy:
    """Any JSON document (as Python values), its numbers drawn partly from ABSURD_NUMBERS.

    Parameters
    ----------
    keys : strategy of str, optional
        Object keys; known field names make the documents reach deeper checks.
    """
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | ABSURD_NUMBERS
        | st.text(max_size=12)
    )
    keys = keys if keys is not None else st.text(max_size=8)
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
        max_leaves=16,
    )


@st.composite
def mangled_bytes(draw, data: bytes, max_edits: int = 3) -> bytes:
    """``data`` with up to ``max_edits`` edits: truncated, a span deleted or repeated, a byte
    replaced or random bytes inserted (as files get cut, corrupted or concatenated)."""
    for _ in range(draw(st.integers(1, max_edits))):
        edit = draw(st.sampled_from(["truncate", "delete", "repeat", "replace", "insert"]))
        at = draw(st.integers(0, len(data)))
        if edit == "truncate":
            data = data[:at]
        elif edit in ("delete", "repeat"):
            end = draw(st.integers(at, min(len(data), at + 400)))
            data = data[:at] + data[end:] if edit == "delete" else data[:end] + data[at:]
        elif edit == "replace" and at < len(data):
            data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
        else:
            data = data[:at] + draw(st.binary(min_size=1, max_size=6)) + data[at:]
    return data
