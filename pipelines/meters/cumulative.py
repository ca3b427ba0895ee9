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
    cum, key, wh, ts = pl.col("__cum"), pl.col("__mk"), pl.col("__wh"), pl.col("ts_utc")
    interval_us = pl.col("interval_s").cast(pl.Int64) * 1_000_000
    # built in stages so that each intermediate column is computed once
    work = work.with_columns(
        (cum & (key != key.shift(1)).fill_null(True)).alias("__baseline"),
        pl.when(cum).then(wh.shift(1)).alias("__prev"),
        pl.when(cum).then(ts.shift(1)).alias("__prev_ts"),
    )
    follows = cum & ~pl.col("__baseline")  # a reading with a predecessor
    prev = pl.col("__prev")
    work = work.with_columns(
        (follows & (wh < prev)).alias("__drop"),
        pl.when(follows).then((ts - pl.col("__prev_ts")).dt.total_microseconds()).alias("__span"),
    )
    drop = pl.col("__drop")
    largest_before = wh.cum_max().over("__mk").shift(1)
    work = work.with_columns(
        pl.when(drop).then(power_of_ten_above(largest_before)).alias("__width")
    ).with_columns(
        (drop & (prev >= ROLLOVER_SHARE * pl.col("__width"))).alias("__rollover"),
    )
    rollover, span = pl.col("__rollover"), pl.col("__span")
    reset = drop & ~rollover
    k = pl.when(follows).then(span // interval_us).otherwise(1)
    energy = (
        pl.when(rollover)
        .then(wh + pl.col("__width") - prev)
        .when(reset)
        .then(wh)
        .otherwise(wh - prev)
    )
    work = work.with_columns(
        reset.alias("__reset"),
        (follows & (span % interval_us != 0)).alias("__irregular"),
        k.alias("__k"),
        (span // 1_000_000).alias("__span_s"),
        pl.when(follows).then(energy).otherwise(wh).alias("__energy"),
    )
    return work.with_columns(
        pl.when(pl.col("__k") > 1)
        .then(pl.col("__energy") / pl.col("__k"))
        .otherwise(pl.col("__energy"))
        .alias("__wh"),
        pl.when(follows).then(pl.col("__prev_ts")).otherwise(ts).alias("ts_utc"),
        pl.when(pl.col("__reset"))
        .then(pl.lit("register_reset"))
        .when(pl.col("__k") > 1)
        .then(pl.lit("estimated_spread"))
        .otherwise(pl.lit("measured"))
        .alias("quality"),
    ).drop("__prev", "__prev_ts", "__drop", "__span", "__width", "__energy")
