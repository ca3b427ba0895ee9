from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from pipelines.vampire.evaluate import covered_fraction, merge_intervals, score_events

H0 = datetime(2025, 1, 15, 21, tzinfo=UTC)


def events(*spans: tuple[str, float, float]) -> pl.DataFrame:
    """meter_id, start_utc, end_utc from (meter, start hour, end hour) after H0."""
    return pl.DataFrame(
        {
            "meter_id": [m for m, _, _ in spans],
            "start_utc": [H0 + timedelta(hours=a) for _, a, _ in spans],
            "end_utc": [H0 + timedelta(hours=b) for _, _, b in spans],
        },
        schema={
            "meter_id": pl.String,
            "start_utc": pl.Datetime("us", "UTC"),
            "end_utc": pl.Datetime("us", "UTC"),
        },
    )


LABEL = events(("m1", 0, 8))


@pytest.mark.parametrize(
    ("detected", "correct", "found"),
    [
        (events(("m1", 0, 8)), 1, 1),  # exact
        (events(("m1", 0.25, 7.75)), 1, 1),  # a quarter hour off at each end
        (events(("m1", 4, 12)), 1, 1),  # half of each: 4 h / 8 h both ways
        (events(("m1", 5, 13)), 0, 0),  # 3 h / 8 h: too little either way
        (events(("m1", 0, 16)), 1, 1),  # twice as long: covers the label, half its own time
        (events(("m1", 0, 17)), 0, 1),  # covers the label but mostly outside it
        (events(("m1", 2, 5)), 1, 0),  # inside the label but covers only 3/8 of it
        (events(("m1", 0, 3.5), ("m1", 4, 7.5)), 2, 1),  # split by a dip: 7/8 covered
        (events(("m2", 0, 8)), 0, 0),  # another meter
        (events(), 0, 0),
    ],
)
def test_overlap_rule(detected, correct, found):
    scores = score_events(detected, LABEL)
    assert (scores.correct, scores.found) == (correct, found)
    assert scores.n_detected == detected.height and scores.n_labelled == 1


def test_precision_recall_f1():
    detected = events(("m1", 0, 8), ("m1", 30, 34), ("m2", 0, 8))
    labels = events(("m1", 0, 8), ("m2", 1, 9), ("m3", 0, 4), ("m3", 24, 30))
    scores = score_events(detected, labels)
    assert scores.precision == pytest.approx(2 / 3)
    assert scores.recall == pytest.approx(2 / 4)
    assert scores.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert "precision 0.667 (2/3)" in str(scores)
    empty = score_events(events(), events())
    assert (empty.precision, empty.recall) == (1.0, 1.0)


def test_site_ids_are_matched_when_both_sides_have_them():
    detected = events(("m1", 0, 8)).with_columns(pl.lit("a").alias("site_id"))
    labels = events(("m1", 0, 8)).with_columns(pl.lit("b").alias("site_id"))
    assert score_events(detected, labels).found == 0
    assert score_events(detected.drop("site_id"), labels).found == 1


def test_overlapping_covers_count_once():
    cover = events(("m1", 0, 5), ("m1", 3, 6), ("m1", 6, 7))
    merged = merge_intervals(cover, ["meter_id"])
    assert merged.height == 1 and merged["end_utc"][0] == H0 + timedelta(hours=7)
    assert covered_fraction(LABEL, cover, ["meter_id"]).to_list() == [7 / 8]
