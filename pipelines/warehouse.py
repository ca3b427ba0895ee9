"""DuckDB views over the lake: the names analysts, dashboards and auditors query.

The warehouse file holds only views; the data stays in Parquet. One process writes the
warehouse (the Dagster run that refreshes the views), replacing the whole file atomically;
readers open it read-only.

With an object-store lake root (``s3://...``) the views read through fsspec's filesystem
registered on each connection (DuckDB's own httpfs extension is not needed); the
warehouse file itself stays local.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import duckdb
import polars as pl

from pipelines.lake import PARTITIONING, dataset_files, dataset_glob, is_remote
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
        root = lake_root if is_remote(lake_root) else Path(lake_root).resolve()
        glob = dataset_glob(root, dataset).replace("'", "''")
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
    target = Path(warehouse_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Built aside and renamed over the old file: a notebook or dashboard holding the old file
    # open read-only would otherwise lock the writer out; it keeps the old views until it
    # reconnects, and new connections see the new ones.
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
    try:
        with duckdb.connect(str(tmp)) as con:
            con.execute("SET TimeZone = 'UTC'")
            if is_remote(lake_root):
                _register_object_store(con, str(lake_root).split("://", 1)[0])
            for view, dataset in VIEWS.items():
                con.execute(view_sql(lake_root, dataset, view))
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)
    return list(VIEWS)


def connect_read_only(warehouse_path: str | Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection for dashboards and notebooks, with UTC session time."""
    con = duckdb.connect(str(warehouse_path), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    for (protocol,) in con.execute(OBJECT_STORES_IN_VIEWS).fetchall():
        _register_object_store(con, protocol)
    return con


# protocols (s3, gs...) the warehouse's views read from
OBJECT_STORES_IN_VIEWS = r"""
SELECT DISTINCT regexp_extract(sql, '([a-z0-9]+)://', 1) FROM duckdb_views()
WHERE NOT internal AND regexp_matches(sql, '[a-z0-9]+://')
"""


def _register_object_store(con: duckdb.DuckDBPyConnection, protocol: str) -> None:
    """Let ``con`` read ``protocol://`` URLs through fsspec (e.g. s3fs for ``s3``)."""
    import fsspec

    con.register_filesystem(fsspec.filesystem(protocol, use_listings_cache=False))


# Errors DuckDB raises when a partition file is replaced while a query reads it: DuckDB opens
# a file more than once per query (schema at bind time, data at scan time), and may meet the
# new file's bytes with the old file's footer. It fails loudly, never returns mixed rows.
RACED_A_REWRITE = ("Invalid data", "TProtocolException", "No files found", "No such file")


RETRY_AFTER_S = 0.05  # [s] first pause before a retry; it grows with each attempt


def query(warehouse_path: str | Path, sql: str, attempts: int = 8) -> pl.DataFrame:
    """Run ``sql`` on a read-only connection and return a frame.

    A query that meets a partition being rewritten by a pipeline run (see
    :data:`RACED_A_REWRITE`) is run again, up to ``attempts`` times; other errors are raised
    at once.
    """
    for attempt in range(1, attempts + 1):
        try:
            with connect_read_only(warehouse_path) as con:
                return con.sql(sql).pl()
        except duckdb.Error as exc:
            if attempt == attempts or not any(m in str(exc) for m in RACED_A_REWRITE):
                raise
            time.sleep(RETRY_AFTER_S * attempt)  # let the writer finish its rename
    raise ValueError(f"attempts must be at least 1, got {attempts}")
