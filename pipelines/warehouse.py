"""DuckDB views over the lake: the names analysts, dashboards and auditors query.

The warehouse file holds only views; the data stays in Parquet. One process writes the
warehouse (the Dagster run that refreshes the views); readers open it read-only.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from pipelines.lake import PARTITIONING, dataset_files, dataset_glob
from pipelines.schemas import SCHEMAS

# view name -> dataset; the contract names views after datasets.
VIEWS: dict[str, str] = {name: name for name in PARTITIONING}


def _duck_type(dtype: pl.DataType) -> str:
    if dtype == pl.String:
        return "VARCHAR"
    if dtype == pl.Float64:
        return "DOUBLE"
    if dtype == pl.Int32:
        return "INTEGER"
    if dtype == pl.Int64:
        return "BIGINT"
    if dtype == pl.Boolean:
        return "BOOLEAN"
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMPTZ"
    if dtype == pl.Date:
        return "DATE"
    raise TypeError(f"no DuckDB type for {dtype}")


def view_sql(lake_root: str | Path, dataset: str, view: str | None = None) -> str:
    """``CREATE OR REPLACE VIEW`` statement for one dataset.

    A dataset with no files yet gets an empty view with the contract's columns, so
    queries written against the contract run from day one.
    """
    view = view or dataset
    schema = SCHEMAS[dataset]
    if dataset_files(lake_root, dataset):
        glob = dataset_glob(Path(lake_root).resolve(), dataset).replace("'", "''")
        body = (
            f"SELECT * FROM read_parquet('{glob}', union_by_name = true, hive_partitioning = false)"
        )
    else:
        cols = ", ".join(f"CAST(NULL AS {_duck_type(t)}) AS {c}" for c, t in schema.items())
        body = f"SELECT {cols} WHERE false"
    return f"CREATE OR REPLACE VIEW {view} AS {body}"


def refresh_views(lake_root: str | Path, warehouse_path: str | Path) -> list[str]:
    """Create or replace every contract view in the warehouse file.

    Returns the view names. DuckDB keeps timestamps in UTC; sessions are set to UTC so
    ``TIMESTAMPTZ`` values print as UTC.
    """
    Path(warehouse_path).parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(warehouse_path)) as con:
        con.execute("SET TimeZone = 'UTC'")
        for view, dataset in VIEWS.items():
            con.execute(view_sql(lake_root, dataset, view))
    return list(VIEWS)


def connect_read_only(warehouse_path: str | Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection for dashboards and notebooks, with UTC session time."""
    con = duckdb.connect(str(warehouse_path), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    return con
