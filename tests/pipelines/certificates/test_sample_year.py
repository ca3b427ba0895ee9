"""The sample site's whole year: hourly CFE never exceeds the annual match."""

from datetime import UTC, date, datetime

import polars as pl
import pytest

from ingest.sample_site import SiteConfig, generate_site
from pipelines.certificates import audit, settlement
from pipelines.certificates.matching import (
    certificates_by_site_hour,
    hourly_matching,
    matching_scores,
)
from pipelines.certificates.schema import connect_ledger
from pipelines.site_energy import site_energy_hourly


@pytest.mark.slow
def test_hourly_cfe_score_is_at_most_the_annual_match_on_the_sample_year():
    site = generate_site(SiteConfig())
    energy = site_energy_hourly(site.meter_readings, site.meters, site.telemetry)
    devices = settlement.pv_devices(site.meters, "DE_LU")
    production, deferred = settlement.metered_production(site.meter_readings, devices)
    con = connect_ledger()
    for month in range(1, 13):
        start = datetime(2025, month, 1, tzinfo=UTC)
        end = datetime(2025 + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        settlement.settle(
            con,
            devices,
            production.filter(pl.col("production_hour_utc").is_between(start, end, "left")),
            settlement.metered_consumption(
                energy.filter(pl.col("hour_utc").is_between(start, end, "left")), "DE_LU"
            ),
            start,
            end,
            sale_account="novatrade",
        )
    assert audit.invariant_violations(con) == []
    matching = hourly_matching(energy, certificates_by_site_hour(con))
    scores = matching_scores(matching)
    assert deferred == 0
    assert matching["hour_utc"].dt.date().min() == date(2025, 1, 1)
    assert matching.height == 8760
    assert 0 < scores["hourly_cfe_score"] <= scores["annual_match_score"] <= 1
    # a sun-only supply cannot cover nights: below its annual-volume match
    assert scores["annual_match_score"] - scores["hourly_cfe_score"] > 0.02

    # domain.md §2.7 sanity figure: PV sized to 100 % of a commercial load matches only
    # about 46 % hour by hour. Scale the sample PV to the site's annual consumption.
    hours = matching.join(energy, on=["site_id", "hour_utc"])
    k = hours["consumption_kwh"].sum() / hours["pv_production_kwh"].sum()
    hourly_100 = hours.select(
        pl.min_horizontal(pl.col("pv_production_kwh") * k, "consumption_kwh").sum()
        / pl.col("consumption_kwh").sum()
    ).item()
    assert 0.35 < hourly_100 < 0.6
