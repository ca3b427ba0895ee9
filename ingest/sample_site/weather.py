"""Typical-year weather from the German weather service's Test Reference Year 2010.

demandlib ships the TRY 2010 files of the 15 German climate regions; region 04 is
Potsdam. A TRY row is the hour *ending* at HH in CET (UTC+1, no daylight saving).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from importlib.resources import files

import polars as pl

TRY_COLUMNS = [
    "RG",
    "IS",
    "MM",
    "DD",
    "HH",
    "N",
    "WR",
    "WG",
    "t",
    "p",
    "x",
    "RF",
    "W",
    "B",
    "D",
    "IK",
    "A",
    "E",
    "IL",
]


def read_try(region: int = 4) -> pl.DataFrame:
    """Read a TRY 2010 file shipped with demandlib.

    Returns
    -------
    pl.DataFrame
        month, day, hour_start_cet (0..23), temp_air [°C], wind_speed [m/s],
        dni_horizontal [W/m²] (direct on the horizontal), dhi [W/m²], 8,760 rows.
    """
    path = files("demandlib.vdi").joinpath("resources_weather", f"TRY2010_{region:02d}_Jahr.dat")
    lines = path.read_text(encoding="latin-1").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("***")) + 1
    rows = [line.split() for line in lines[start:] if line.strip()]
    frame = pl.DataFrame(rows, schema=TRY_COLUMNS, orient="row")
    return frame.select(
        pl.col("MM").cast(pl.Int32).alias("month"),
        pl.col("DD").cast(pl.Int32).alias("day"),
        (pl.col("HH").cast(pl.Int32) - 1).alias("hour_start_cet"),
        pl.col("t").cast(pl.Float64).alias("temp_air"),
        pl.col("WG").cast(pl.Float64).alias("wind_speed"),
        pl.col("B").cast(pl.Float64).alias("direct_horizontal"),
        pl.col("D").cast(pl.Float64).alias("dhi"),
    )


def weather_for_period(start: date, end: date, region: int = 4) -> pl.DataFrame:
    """Hourly TRY weather laid onto the calendar hours ``start <= t < end`` (UTC).

    Each UTC hour takes the TRY value of the same month, day and CET hour; 29 February
    takes 28 February. Columns: ts_utc (hour start) and the TRY columns.
    """
    try_year = read_try(region)
    first = datetime(start.year, start.month, start.day, tzinfo=UTC)
    hours = int((end - start) / timedelta(hours=1))
    ts = pl.datetime_range(
        first, first + timedelta(hours=hours - 1), "1h", eager=True, time_zone="UTC"
    )
    cet = ts.dt.offset_by("1h")
    frame = pl.DataFrame({"ts_utc": ts}).with_columns(
        cet.dt.month().cast(pl.Int32).alias("month"),
        pl.when((cet.dt.month() == 2) & (cet.dt.day() == 29))
        .then(28)
        .otherwise(cet.dt.day())
        .cast(pl.Int32)
        .alias("day"),
        cet.dt.hour().cast(pl.Int32).alias("hour_start_cet"),
    )
    return frame.join(try_year, on=["month", "day", "hour_start_cet"], how="left").drop(
        "month", "day", "hour_start_cet"
    )
