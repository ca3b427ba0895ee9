"""Vampire-load events day by day, each day on a window of its own.

A day's events are detected on the readings of the ``history_days`` before it, the day
itself and the ``lookahead_days`` after it, and kept when they start on that day. The
baseline is fitted on that window alone, so a day's events never depend on which other
days share its run: one run of 28 days and 28 runs of one day write the same events.
The lookahead lets an event that starts late on the day run on through the night or the
weekend, and centres the baseline's rolling levels on the day; until those days are
metered, the day's events are provisional (the nightly schedule re-detects them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from pipelines.schemas import empty_frame
from pipelines.vampire.detect import detect_vampire_loads
from pipelines.vampire.readings import VampireInputError

# The baseline's rolling levels look up to 14 days either side of a day (weekend daytimes),
# and its model learns from every off-hours block of the window. On held-out sample site
# seed 102 (bench/bench_vampire.py), against F1 1.000 for one fit over the year, windows of
# 28 days before and 3 after scored 0.800, 28 and 14 0.893, 56 and 14 0.983, 91 and 14 1.000.
HISTORY_DAYS = 91
LOOKAHEAD_DAYS = 14


@dataclass(frozen=True)
class DailyEvents:
    """Events of the days asked for and the days that could not be detected.

    Attributes
    ----------
    events : pl.DataFrame
        ``vampire_load_events`` rows starting on the days that were detected.
    skipped : dict
        date → why its events could not be detected (too little history, ...).
    """

    events: pl.DataFrame
    skipped: dict[date, str]


def day_window(day: date, history_days: int, lookahead_days: int) -> tuple[date, date]:
    """UTC days ``start <= d < end`` whose readings a day's detection uses."""
    return day - timedelta(days=history_days), day + timedelta(days=1 + lookahead_days)


def detect_by_day(
    readings: pl.DataFrame,
    days: Iterable[date],
    prices: pl.DataFrame | None = None,
    intensity: pl.DataFrame | None = None,
    history_days: int = HISTORY_DAYS,
    lookahead_days: int = LOOKAHEAD_DAYS,
    **detect_kwargs,
) -> DailyEvents:
    """Detect each day's vampire-load events on its own window (see the module).

    Parameters
    ----------
    readings : pl.DataFrame
        ``meter_id``, ``ts_utc``, ``energy_wh`` [Wh] per 15-minute interval, covering
        ``history_days`` before the first day to ``lookahead_days`` after the last.
    days : iterable of datetime.date
        UTC days whose events are wanted.
    prices, intensity : pl.DataFrame, optional
        As for :func:`~pipelines.vampire.detect.detect_vampire_loads`; looked up per
        interval of an event.
    history_days : int, default 91
        Days [d] before a day that its baseline learns from.
    lookahead_days : int, default 14
        Days [d] after a day that its events may run on into and its baseline sees.
    **detect_kwargs
        Passed to :func:`~pipelines.vampire.detect.detect_vampire_loads` (site_id,
        timezone, zone, params, ...).

    Returns
    -------
    DailyEvents
    """
    frames, skipped = [], {}
    for day in sorted(set(days)):
        start, end = day_window(day, history_days, lookahead_days)
        try:
            events = detect_vampire_loads(
                readings.filter(pl.col("ts_utc").dt.date().is_between(start, end, "left")),
                prices=prices,
                intensity=intensity,
                **detect_kwargs,
            )
        except VampireInputError as exc:
            skipped[day] = str(exc)
            continue
        frames.append(events.filter(pl.col("start_utc").dt.date() == day))
    events = pl.concat(frames) if frames else empty_frame("vampire_load_events")
    return DailyEvents(events.sort("meter_id", "start_utc"), skipped)
