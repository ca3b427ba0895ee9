"""Event-level accuracy of detected vampire loads against labelled ones.

Overlap rule
------------
Intervals are half-open, ``[start_utc, end_utc)``, and only intervals of the same meter
(and the same site, when both frames have ``site_id``) are compared. Overlapping
intervals within one frame are first merged, so the union of a set of events counts
once.

- A **labelled** event is *found* when the union of the detected events of its meter
  covers at least ``min_overlap`` of its duration:
  ``|label ∩ ∪ detected| / |label| ≥ min_overlap``.
- A **detected** event is *correct* when the union of the labelled events of its meter
  covers at least ``min_overlap`` of its duration:
  ``|detected ∩ ∪ labels| / |detected| ≥ min_overlap``.

``recall = found / labelled``, ``precision = correct / detected`` and F1 their harmonic
mean. Each side is judged on its own duration rather than by intersection over union:
IoU punishes a detection that trims a long label on both ends as hard as one that
misses half of it, and a label split into two detections by a short dip is still one
found event with two correct detections (neither a miss nor a false alarm). With
``min_overlap = 0.5`` a detection cannot be "correct" while lying mostly outside the
labels, and a label cannot be "found" by a detection touching only its edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class EventScores:
    """Event-level accuracy.

    Attributes
    ----------
    n_detected, n_labelled : int
        Events on each side.
    correct : int
        Detected events covered by labels (``min_overlap``).
    found : int
        Labelled events covered by detections (``min_overlap``).
    precision, recall, f1 : float
        ``correct / n_detected`` (1.0 when nothing was detected), ``found / n_labelled``
        (1.0 when nothing was labelled), and their harmonic mean.
    """

    n_detected: int
    n_labelled: int
    correct: int
    found: int
    precision: float
    recall: float
    f1: float

    def __str__(self) -> str:
        return (
            f"precision {self.precision:.3f} ({self.correct}/{self.n_detected}), "
            f"recall {self.recall:.3f} ({self.found}/{self.n_labelled}), F1 {self.f1:.3f}"
        )


def merge_intervals(events: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Union of overlapping or touching ``[start_utc, end_utc)`` intervals per key."""
    ordered = (
        events.select(*keys, "start_utc", "end_utc")
        .sort(*keys, "start_utc")
        .with_columns(pl.col("end_utc").cum_max().over(keys).alias("_reach"))
    )
    return (
        ordered.with_columns(
            (pl.col("start_utc") > pl.col("_reach").shift(1).over(keys))
            .fill_null(True)
            .cum_sum()
            .over(keys)
            .alias("_run")
        )
        .group_by(*keys, "_run")
        .agg(pl.col("start_utc").min(), pl.col("end_utc").max())
        .drop("_run")
    )


def covered_fraction(intervals: pl.DataFrame, cover: pl.DataFrame, keys: list[str]) -> pl.Series:
    """Fraction of each interval's duration covered by the union of ``cover`` [0–1].

    Parameters
    ----------
    intervals, cover : pl.DataFrame
        ``keys`` plus ``start_utc``, ``end_utc`` (exclusive).
    keys : list of str
        Columns that must match (e.g. ``["meter_id"]``).

    Returns
    -------
    pl.Series
        ``covered``, aligned with ``intervals``; a zero-length interval counts as 0.
    """
    merged = merge_intervals(cover, keys)
    base = intervals.select(*keys, "start_utc", "end_utc").with_row_index("_i")
    overlap = (
        base.join(merged, on=keys, how="inner", suffix="_c")
        .with_columns(
            (
                pl.min_horizontal("end_utc", "end_utc_c")
                - pl.max_horizontal("start_utc", "start_utc_c")
            )
            .dt.total_microseconds()
            .clip(lower_bound=0)
            .alias("_overlap")
        )
        .group_by("_i")
        .agg(pl.col("_overlap").sum())
    )
    duration = (pl.col("end_utc") - pl.col("start_utc")).dt.total_microseconds()
    return (
        base.join(overlap, on="_i", how="left")
        .sort("_i")
        .select(
            pl.when(duration > 0)
            .then(pl.col("_overlap").fill_null(0) / duration)
            .otherwise(0.0)
            .alias("covered")
        )["covered"]
    )


def score_events(
    detected: pl.DataFrame, labels: pl.DataFrame, min_overlap: float = 0.5
) -> EventScores:
    """Event-level precision, recall and F1 under the overlap rule of this module.

    Parameters
    ----------
    detected, labels : pl.DataFrame
        ``meter_id``, ``start_utc``, ``end_utc`` (exclusive); ``site_id`` is matched
        too when both frames have it.
    min_overlap : float, default 0.5
        Fraction of an event's own duration that must be covered [0–1].

    Returns
    -------
    EventScores
    """
    keys = ["meter_id"]
    if "site_id" in detected.columns and "site_id" in labels.columns:
        keys = ["site_id", "meter_id"]
    correct = int((covered_fraction(detected, labels, keys) >= min_overlap).sum())
    found = int((covered_fraction(labels, detected, keys) >= min_overlap).sum())
    n_d, n_l = detected.height, labels.height
    precision = correct / n_d if n_d else 1.0
    recall = found / n_l if n_l else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return EventScores(n_d, n_l, correct, found, precision, recall, f1)
