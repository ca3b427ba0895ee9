"""Interval energy from cumulative register readings: differences, rollovers, resets.

A register reading at time t closes the interval that began at the meter's previous
reading, so the energy of a difference is stamped with the previous reading's time.
"""

from __future__ import annotations

import polars as pl

#: A drop from a reading at or above this share of the register's width is a rollover.
ROLLOVER_SHARE = 0.9


def power_of_ten_above(value: pl.Expr) -> pl.Expr:
    """Smallest power of ten strictly greater than ``value`` (> 0) [same unit as value].

    The logarithm is corrected by one step either way, so exact powers of ten (1000 ->
    10000) and values just below one (999999.9 -> 1e6) come out right despite rounding.
    """
    guess = pl.lit(10.0).pow(value.log10().floor() + 1)
    guess = pl.when(guess <= value).then(guess * 10).otherwise(guess)
    return pl.when(guess / 10 > value).then(guess / 10).otherwise(guess)


def register_differences(work: pl.DataFrame) -> pl.DataFrame:
    """Turn the cumulative rows of ``work`` into interval energy.

    Parameters
    ----------
    work : pl.DataFrame
        Rows sorted by meter key ``__mk`` and ``ts_utc`` with unique keys, holding
        ``__cum`` (Boolean), ``__wh`` (the register reading [Wh] on cumulative rows) and
        ``interval_s`` [s]. A meter's rows are either all cumulative or all interval.

    Returns
    -------
    pl.DataFrame
        ``work`` where cumulative rows have ``ts_utc`` = start of the covered span (the
        previous reading's time), ``__wh`` = energy per interval [Wh], and the added
        columns ``__k`` (number of intervals the difference covers, 1 if not
        cumulative), ``__baseline``, ``__irregular``, ``__rollover``, ``__reset`` and
        ``quality``.

    Notes
    -----
    - The first reading of each meter has no predecessor: ``__baseline``.
    - A drop where the previous reading is at least 90 % of the register's width is a
      rollover at that width; the width is the power of ten above the largest reading
      the meter has shown so far (a register that has read 999,900 is at least six
      digits wide, so a later drop from 900 to 120 is a reset, not a rollover at 1,000).
    - Any other drop is a reset: the energy is the new reading (counted from zero),
      quality ``register_reset``.
    - A difference over k > 1 intervals is spread evenly over them later: ``__k`` = k,
      quality ``estimated_spread``. A span that is not a whole number of intervals is
      ``__irregular``.
    """
    cum = pl.col("__cum")
    key = pl.col("__mk")
    first = (key != key.shift(1)).fill_null(True)
    prev = pl.col("__wh").shift(1)
    prev_ts = pl.col("ts_utc").shift(1)
    largest_before = pl.col("__wh").cum_max().over("__mk").shift(1)
    width = power_of_ten_above(largest_before)
    drop = cum & ~first & (pl.col("__wh") < prev)
    rollover = drop & (prev >= ROLLOVER_SHARE * width)
    reset = drop & ~rollover
    span_us = (pl.col("ts_utc") - prev_ts).dt.total_microseconds()
    interval_us = pl.col("interval_s").cast(pl.Int64) * 1_000_000
    k = pl.when(cum & ~first).then(span_us // interval_us).otherwise(1)
    energy = (
        pl.when(rollover)
        .then(pl.col("__wh") + width - prev)
        .when(reset)
        .then(pl.col("__wh"))
        .otherwise(pl.col("__wh") - prev)
    )
    return (
        work.with_columns(
            (cum & first).alias("__baseline"),
            (cum & ~first & (span_us % interval_us != 0)).alias("__irregular"),
            rollover.alias("__rollover"),
            reset.alias("__reset"),
            k.alias("__k"),
            pl.when(cum & ~first).then(energy).otherwise(pl.col("__wh")).alias("__energy"),
            pl.when(cum & ~first).then(prev_ts).otherwise(pl.col("ts_utc")).alias("__start"),
        )
        .with_columns(
            pl.when(pl.col("__k") > 1)
            .then(pl.col("__energy") / pl.col("__k"))
            .otherwise(pl.col("__energy"))
            .alias("__wh"),
            pl.col("__start").alias("ts_utc"),
            pl.when(pl.col("__reset"))
            .then(pl.lit("register_reset"))
            .when(pl.col("__k") > 1)
            .then(pl.lit("estimated_spread"))
            .otherwise(pl.lit("measured"))
            .alias("quality"),
        )
        .drop("__energy", "__start")
    )
