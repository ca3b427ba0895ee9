"""The day-ahead forecast assets target the day after the last metered day."""

from datetime import UTC, date, datetime

import polars as pl

from assets_defs.analytics.assets import _day_ahead_inputs
from assets_defs.resources import SiteResource
from pipelines import lake
from pipelines.forecasting import target_day


def test_forecasts_are_issued_for_the_day_after_the_last_metered_day(tmp_path):
    readings = pl.DataFrame(
        {
            "site_id": ["warehouse-b"],
            "meter_id": ["load-1"],
            "ts_utc": [datetime(2025, 3, 10, 22, 45, tzinfo=UTC)],
            "interval_s": [900],
            "energy_wh": [1.0],
            "quality": ["ok"],
        }
    )
    lake.write_partition(tmp_path, "meter_readings", readings, "warehouse-b", date(2025, 3, 10))
    site = SiteResource()
    *_, issue, weather, forecast = _day_ahead_inputs(str(tmp_path), site)
    assert target_day(issue, site.timezone) == date(2025, 3, 11)
    assert issue == datetime(2025, 3, 10, 11, tzinfo=UTC)  # 12:00 Europe/Berlin (CET)
    assert forecast["ts_utc"].max() >= datetime(2025, 3, 11, 23, tzinfo=UTC)
    assert weather.height == forecast.height
