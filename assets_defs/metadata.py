"""Materialization metadata shared by every asset: row count, a preview, the asset's figures.

The Dagster UI shows ``dagster/row_count`` as the asset's row count and plots every
numeric metadata value across materializations (the asset's Plots tab), so assets pass
their headline figures as plain numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import dagster as dg
import polars as pl

from assets_defs.partitions import Window
from pipelines import lake
from pipelines.schemas import SCHEMAS, empty_frame

#: Rows shown in a preview unless an asset asks for more.
PREVIEW_ROWS = 5
#: Characters of a text cell shown in a preview.
PREVIEW_TEXT_CHARS = 60


def markdown_table(frame: pl.DataFrame) -> str:
    """``frame`` as a markdown table, pipes inside text cells escaped.

    Parameters
    ----------
    frame : pl.DataFrame
        Rows to show; every row and column is printed.

    Returns
    -------
    str
        Header, separator and one line per row.
    """
    escaped = frame.with_columns(pl.col(pl.String).str.replace_all("|", r"\|", literal=True))
    with pl.Config(
        tbl_formatting="MARKDOWN",
        tbl_hide_column_data_types=True,
        tbl_hide_dataframe_shape=True,
        tbl_cols=-1,
        tbl_rows=-1,
        tbl_width_chars=10_000,
        fmt_str_lengths=PREVIEW_TEXT_CHARS,
        float_precision=3,
    ):
        return str(escaped)


def frame_metadata(
    frame: pl.DataFrame,
    /,
    *,
    row_count: int | None = None,
    preview: pl.DataFrame | None = None,
    preview_rows: int = PREVIEW_ROWS,
    **figures: Any,
) -> dict[str, Any]:
    """Metadata of one materialization that wrote ``frame``.

    Parameters
    ----------
    frame : pl.DataFrame
        The rows the asset wrote.
    row_count : int, optional
        Rows written when ``frame`` is only part of them [rows]; default ``frame.height``.
    preview : pl.DataFrame, optional
        Rows to preview instead of the head of ``frame`` (e.g. the non-zero ones).
    preview_rows : int
        Rows shown in the preview at most.
    **figures
        The asset's own figures (numbers are plotted by the UI), added as they are.

    Returns
    -------
    dict
        ``dagster/row_count``, ``preview`` (markdown) and ``figures``.
    """
    shown = (frame if preview is None else preview).head(preview_rows)
    return {
        "dagster/row_count": dg.MetadataValue.int(frame.height if row_count is None else row_count),
        "preview": dg.MetadataValue.md(markdown_table(shown)),
        **figures,
    }


def window_metadata(
    lake_root: str,
    dataset: str,
    window: Window,
    entities: Iterable[str],
    /,
    **figures: Any,
) -> dict[str, Any]:
    """:func:`frame_metadata` of the rows ``dataset`` holds for a window, read back lazily.

    For assets whose rows are merged into the lake by another function (e.g. the meter
    landing), so the count is what the window's partitions hold after the run.

    Parameters
    ----------
    lake_root : str
        Lake root folder.
    dataset : str
        Lake dataset written by the asset.
    window : Window
        UTC days of the run.
    entities : iterable of str
        Entities (sites or zones) written.
    **figures
        The asset's own figures (``window`` may be one of them).

    Returns
    -------
    dict
        As :func:`frame_metadata`.
    """
    files = lake.window_files(lake_root, dataset, window.start, window.end, entities)
    if not files:
        return frame_metadata(empty_frame(dataset), **figures)
    rows = lake.scan_files(files, dataset)
    return frame_metadata(
        rows.head(PREVIEW_ROWS).collect(),
        row_count=rows.select(pl.len()).collect().item(),
        **figures,
    )


def column_schema(dataset: str) -> dg.TableSchema:
    """The contract columns of a lake dataset and their Polars types, for the UI.

    Parameters
    ----------
    dataset : str
        A dataset of :data:`pipelines.schemas.SCHEMAS`.

    Returns
    -------
    dg.TableSchema
        One column per contract column, in contract order.
    """
    return dg.TableSchema(
        columns=[dg.TableColumn(name, str(dtype)) for name, dtype in SCHEMAS[dataset].items()]
    )


#: Sites named in a run's metadata at most (a backfill run may cover a portfolio's day).
LISTED_SITES = 20


def sites_metadata(sites) -> dict[str, Any]:
    """The sites a run covered, for its metadata: their count and the first ids."""
    ids = [s.site_id for s in sites]
    listed = ", ".join(ids[:LISTED_SITES]) + (" …" if len(ids) > LISTED_SITES else "")
    return {"sites": len(ids), "site_ids": listed}
