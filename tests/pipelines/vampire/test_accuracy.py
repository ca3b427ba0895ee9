"""Event-level accuracy on sample sites generated with seeds and a site id never tuned on.

The detector was tuned on seeds 1–5 of "warehouse-b" (whole years and 4- and 8-week
windows); these seeds and this site id were only ever used here.
"""

import polars as pl
import pytest

from ingest.sample_site import SiteConfig, generate_site
from pipelines.vampire import detect_vampire_loads, score_events

HELD_OUT_SEEDS = (201, 202)
SITE = "test-plant"


@pytest.mark.slow
def test_precision_and_recall_on_held_out_sample_sites():
    detected, labels = [], []
    for seed in HELD_OUT_SEEDS:
        site = generate_site(SiteConfig(seed=seed, site_id=SITE))
        loads = site.meters.filter(pl.col("kind") == "load")["meter_id"].implode()
        readings = site.meter_readings.filter(pl.col("meter_id").is_in(loads))
        events = detect_vampire_loads(readings, site_id=SITE, timezone=site.config.timezone)
        tag = pl.lit(f"{seed}/")
        detected.append(events.with_columns(pl.concat_str(tag, "meter_id").alias("meter_id")))
        labels.append(
            site.vampire_labels.with_columns(pl.concat_str(tag, "meter_id").alias("meter_id"))
        )
    scores = score_events(pl.concat(detected), pl.concat(labels))
    print(scores)
    assert scores.n_labelled >= 30
    assert scores.precision >= 0.9, scores
    assert scores.recall >= 0.9, scores
