from datetime import UTC, date, datetime

import polars as pl

from pipelines import lake
from pipelines.warehouse import VIEWS, connect_read_only, refresh_views


def test_views_exist_for_every_dataset_even_before_data(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    refresh_views(tmp_path / "lake", warehouse)
    with connect_read_only(warehouse) as con:
        names = {
            r[0]
            for r in con.execute(
                "SELECT view_name FROM duckdb_views() WHERE NOT internal"
            ).fetchall()
        }
        assert set(VIEWS) <= names
        cols = [r[0] for r in con.execute("DESCRIBE site_energy_hourly").fetchall()]
        assert cols[:3] == ["site_id", "hour_utc", "consumption_kwh"]
        assert con.execute("SELECT count(*) FROM meter_readings").fetchone()[0] == 0


def test_views_read_the_lake_in_utc(tmp_path):
    ts = datetime(2025, 6, 1, 22, 0, tzinfo=UTC)
    df = pl.DataFrame(
        {
            "site_id": ["s"],
            "meter_id": ["m"],
            "ts_utc": [ts],
            "interval_s": [900],
            "energy_wh": [12.5],
            "quality": ["measured"],
        }
    )
    lake.write_days(tmp_path / "lake", "meter_readings", df, ["s"], [date(2025, 6, 1)])
    refresh_views(tmp_path / "lake", tmp_path / "w.duckdb")
    with connect_read_only(tmp_path / "w.duckdb") as con:
        got_ts, energy = con.execute("SELECT ts_utc, energy_wh FROM meter_readings").fetchone()
    assert got_ts == ts and energy == 12.5
