"""Order and uniqueness checks on key columns that run in one linear pass.

Sorting tens of millions of rows, or hashing every key to find duplicates, dominates
ingest time; exports and partitions usually arrive sorted already. These helpers let
callers check first and sort only when needed.
"""

from __future__ import annotations

import polars as pl


def _prev(col: str) -> pl.Expr:
    return pl.col(col).shift(1)


def _is_sorted_lexicographic(frame: pl.DataFrame, key: list[str]) -> bool:
    in_order = pl.lit(True)
    # a row is in order if its first differing key column is greater than the previous row's
    for col in reversed(key):
        in_order = (pl.col(col) > _prev(col)) | ((pl.col(col) == _prev(col)) & in_order)
    return bool(frame.select(in_order.fill_null(True).all()).item())


def is_sorted_by(frame: pl.DataFrame, key: list[str]) -> bool:
    """True if ``frame`` is sorted ascending by ``key`` (ties allowed).

    Only equality is tested on every row for the leading columns (cheap, even for
    strings); order is compared on every row only for the last column, and for the
    leading columns only where their value changes.
    """
    if frame.height < 2:
        return True
    *leading, last = key
    if not leading:
        return _is_sorted_lexicographic(frame, key)
    boundary = pl.any_horizontal([pl.col(c) != _prev(c) for c in leading]).fill_null(True)
    marked = frame.select(*leading, last, boundary.alias("__boundary"))
    within = marked.select(
        ((pl.col(last) >= _prev(last)) | pl.col("__boundary")).fill_null(True).all()
    ).item()
    if not within:
        return False
    heads = marked.filter(pl.col("__boundary")).select(leading)
    # each run of equal leading values must appear once, in ascending order
    return _is_sorted_lexicographic(heads, leading) and not heads.is_duplicated().any()


def same_key_as_previous(key: list[str]) -> pl.Expr:
    """Boolean expression: this row's key equals the previous row's (false on row 0)."""
    expr = pl.lit(True)
    for col in key:
        expr = expr & (pl.col(col) == _prev(col))
    return expr.fill_null(False)


def sort_if_needed(frame: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    """``frame`` sorted by ``key`` (stable), without sorting when it already is."""
    return frame if is_sorted_by(frame, key) else frame.sort(key, maintain_order=True)
