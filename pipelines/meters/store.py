"""Stored meter readings: merge a batch into a partition, and roll readings up to hours."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from pipelines.frames import sort_if_needed
from pipelines.schemas import SCHEMAS

KEY = ["site_id", "meter_id", "ts_utc"]
_US_PER_HOUR = 3_600_000_000


@dataclass(frozen=True)
class MergeResult:
    """Outcome of merging incoming readings into stored ones.

    Attributes
    ----------
    merged : pl.DataFrame
        Stored plus new readings, ``meter_readings`` schema, sorted by site_id,
        meter_id, ts_utc.
    duplicates_ignored : int
        Incoming readings identical to a stored one.
    conflicts : pl.DataFrame
        Incoming readings whose key is stored with a different interval_s, energy_wh or
        quality; not merged (the caller quarantines them as "conflicts with stored
        reading").
    """

    merged: pl.DataFrame
    duplicates_ignored: int
    conflicts: pl.DataFrame


def _contract(frame: pl.DataFrame) -> pl.DataFrame:
    """The ``meter_readings`` columns of ``frame``, cast to the contract types if needed."""
    schema = SCHEMAS["meter_readings"]
    frame = frame.select(list(schema))
    if frame.schema == pl.Schema(schema):
        return frame
    return frame.cast(schema)  # type: ignore[arg-type]


def merge_readings(existing: pl.DataFrame, incoming: pl.DataFrame) -> MergeResult:
    """Merge new readings into a stored partition, keyed on (site_id, meter_id, ts_utc).

    Parameters
    ----------
    existing : pl.DataFrame
        Stored readings (``meter_readings`` schema), unique on the key.
    incoming : pl.DataFrame
        New readings, unique on the key (as :func:`validate_meter_rows` returns them).

    Returns
    -------
    MergeResult
        The merged partition, sorted by the key so that rewriting it gives the same
        bytes; the number of identical incoming rows; the conflicting incoming rows.
    """
    existing, incoming = _contract(existing), _contract(incoming)
    if existing.is_empty() or incoming.is_empty():
        merged = existing if incoming.is_empty() else incoming
        return MergeResult(sort_if_needed(merged, KEY), 0, incoming.head(0))
    stored = existing.select(
        *KEY,
        pl.lit(True).alias("__stored"),
        pl.col("interval_s").alias("__interval_s"),
        pl.col("energy_wh").alias("__energy_wh"),
        pl.col("quality").alias("__quality"),
    )
    joined = incoming.join(stored, on=KEY, how="left", maintain_order="left")
    is_stored = pl.col("__stored").fill_null(False)
    identical = (
        (pl.col("interval_s") == pl.col("__interval_s"))
        & (pl.col("energy_wh") == pl.col("__energy_wh"))
        & (pl.col("quality") == pl.col("__quality"))
    ).fill_null(False)
    duplicates = joined.select((is_stored & identical).sum()).item()
    conflicts = joined.filter(is_stored & ~identical).select(list(incoming.columns))
    new = joined.filter(~is_stored).select(list(incoming.columns))
    merged = pl.concat([existing, new]).sort(KEY, maintain_order=True)
    return MergeResult(merged, int(duplicates), conflicts)


def _strictly_increasing(heads: pl.DataFrame) -> bool:
    """Whether each row of (site_id, meter_id) is greater than the row before."""
    site, meter = pl.col("site_id"), pl.col("meter_id")
    later = (site > site.shift(1)) | ((site == site.shift(1)) & (meter > meter.shift(1)))
    return bool(heads.select(later.fill_null(True).all()).item())


def _hourly_runs(readings: pl.DataFrame) -> pl.DataFrame | None:
    """Hourly sums of readings sorted by the key, or None if they are not sorted.

    Sorted, each meter is one run of rows and each of its hours a run within it, so
    the hours are found by comparing neighbours and summed run by run in row order
    (``np.add.reduceat``): no hashing, no sorting, and the same float result on every
    run, which a parallel hash group-by does not guarantee.
    """
    site, meter, ts = pl.col("site_id"), pl.col("meter_id"), pl.col("ts_utc").to_physical()
    hour = ts // _US_PER_HOUR
    new_meter = meter.ne_missing(meter.shift(1))
    if readings.select(site.min() != site.max()).item():  # cheap; most exports have one site
        new_meter = new_meter | site.ne_missing(site.shift(1))
    new_meter = new_meter.fill_null(True)
    steps = (
        readings.lazy()  # lazy: the shared subexpressions are computed once
        .select(
            new_meter.alias("new_meter"),
            (new_meter | (hour != hour.shift(1))).fill_null(True).alias("new_hour"),
            (~new_meter & (ts < ts.shift(1))).fill_null(False).alias("back"),
        )
        .collect()
    )
    if steps["back"].any():  # time goes back within a meter
        return None
    meter_starts = steps["new_meter"].arg_true()
    heads = readings.select(site.gather(meter_starts), meter.gather(meter_starts))
    if not _strictly_increasing(heads):  # a meter in two runs, or runs out of order
        return None
    starts = steps["new_hour"].arg_true()
    starts_np = starts.to_numpy()
    # the hours of meter i are the starts from its first row on: a few searches suffice
    first_hour = np.searchsorted(starts_np, meter_starts.to_numpy())
    hours_per_meter = np.diff(np.append(first_hour, starts_np.size))
    meter_of_start = np.repeat(np.arange(first_hour.size, dtype=np.uint32), hours_per_meter)
    return pl.DataFrame(
        {
            "site_id": heads["site_id"].gather(meter_of_start),
            "meter_id": heads["meter_id"].gather(meter_of_start),
            "hour_utc": (readings["ts_utc"].gather(starts).dt.truncate("1h")),
            "energy_wh": np.add.reduceat(readings["energy_wh"].to_numpy(), starts_np),
            "n_intervals": np.diff(np.append(starts_np, readings.height)).astype(np.uint32),
        }
    )


def hourly_energy(readings: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Sum readings into hours.

    Parameters
    ----------
    readings : pl.DataFrame or pl.LazyFrame
        ``meter_readings`` rows: site_id, meter_id, ts_utc (interval start, UTC),
        energy_wh [Wh]. Every interval lies within one hour (interval_s divides 3600).

    Returns
    -------
    pl.LazyFrame
        site_id, meter_id, hour_utc (start of the hour, UTC), energy_wh [Wh] summed,
        n_intervals (readings in the hour, UInt32); sorted by site_id, meter_id,
        hour_utc.

    Notes
    -----
    A DataFrame already sorted by (site_id, meter_id, ts_utc), as
    :func:`validate_meter_rows` returns it, is summed run by run without hashing or
    sorting; anything else is grouped and sorted lazily.
    """
    if isinstance(readings, pl.DataFrame) and readings.height:
        hourly = _hourly_runs(readings.select(*KEY, "energy_wh"))
        if hourly is not None:
            return hourly.lazy()
    hour = pl.col("ts_utc").dt.truncate("1h").alias("hour_utc")
    return (
        readings.lazy()
        .group_by("site_id", "meter_id", hour)
        .agg(pl.col("energy_wh").sum(), pl.len().cast(pl.UInt32).alias("n_intervals"))
        .sort("site_id", "meter_id", "hour_utc")
    )
