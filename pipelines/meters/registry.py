"""Look up the meters of an export in the meter registry, once per run of rows.

Exports hold long runs of one meter, so the registry is consulted once per run (a
change of ``meter_id`` or ``site_id`` from the row before) and the answer is repeated
over the run: a join or a mapping per row would hash every string of a large export.
Every known (site_id, meter_id) pair of the export gets a small integer key whose order
is the order of (site_id, meter_id); sorting and comparing rows by that key is much
cheaper than by the strings.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class MeterLookup:
    """Registry answers for the rows of one export.

    Attributes
    ----------
    keys : pl.DataFrame
        One row per meter of the export that the registry knows, sorted by site_id and
        meter_id: site_id, meter_id, max_power_w [W]. A meter's key is its row index.
    row_key : pl.Series
        UInt32 key of each export row; null where the meter cannot be resolved.
    run_id : pl.Series
        UInt32 run of each export row (rows of a run share meter_id and site_id).
    run_problem : pl.Series
        Per run: why its meter cannot be resolved (``unknown meter m-7``), else null.
    ids_verbatim : bool
        True when every resolved meter_id was given exactly as registered (no blanks
        around it), so the export's own column can stand for ``keys.meter_id``.
    """

    keys: pl.DataFrame
    row_key: pl.Series
    run_id: pl.Series
    run_problem: pl.Series
    ids_verbatim: bool

    def problems(self, rows: pl.Series) -> pl.Series:
        """Why the meters of the given row positions are unresolved (null if resolved)."""
        return self.run_problem.gather(self.run_id.gather(rows))


def _run_starts(columns: list[pl.Series]) -> pl.Series:
    """Boolean: the row's values differ from the row before (true on the first row)."""
    change = columns[0].ne_missing(columns[0].shift(1))
    for column in columns[1:]:
        change = change | column.ne_missing(column.shift(1))
    if change.len():
        change[0] = True
    return change


def _registry_tables(registry: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The registry by (site_id, meter_id), and by meter_id with the sites that hold it."""
    by_site = registry.select(
        pl.col("site_id").cast(pl.String),
        pl.col("meter_id").cast(pl.String),
        pl.col("max_power_w").cast(pl.Float64),
    ).unique(["site_id", "meter_id"], keep="first", maintain_order=True)
    by_meter = by_site.group_by("meter_id").agg(
        pl.len().alias("__n_sites"),
        pl.col("site_id").first().alias("__only_site"),
        pl.col("site_id").sort().str.join(", ").alias("__sites"),
    )
    return by_site, by_meter


def _resolve_heads(heads: pl.DataFrame, registry: pl.DataFrame) -> pl.DataFrame:
    """Add site_id, meter_id (resolved, else null site_id) and ``__problem`` to run heads."""
    by_site, by_meter = _registry_tables(registry)
    blank_to_null = pl.when(pl.col("__clean") != "").then(pl.col("__clean"))
    heads = (
        heads.with_columns(pl.col("__meter_in").str.strip_chars().alias("__clean"))
        .with_columns(blank_to_null.alias("meter_id"))
        .with_columns(pl.col("__site_in").str.strip_chars().alias("__clean"))
        .with_columns(blank_to_null.alias("__site_given"))
        .drop("__clean")
    )
    heads = heads.join(by_meter, on="meter_id", how="left", maintain_order="left").join(
        by_site.select(
            pl.col("site_id").alias("__site_given"), "meter_id", pl.lit(True).alias("__at_site")
        ),
        on=["__site_given", "meter_id"],
        how="left",
        maintain_order="left",
    )
    given = pl.col("__site_given").is_not_null()
    site = (
        pl.when(given)
        .then(pl.when(pl.col("__at_site")).then(pl.col("__site_given")))
        .when(pl.col("__n_sites") == 1)
        .then(pl.col("__only_site"))
    )
    problem = (
        pl.when(pl.col("meter_id").is_null())
        .then(pl.lit("missing meter_id"))
        .when(given & pl.col("__at_site").is_null())
        .then(pl.format("unknown meter {} at site {}", "meter_id", "__site_given"))
        .when(pl.col("__n_sites").is_null())
        .then(pl.format("unknown meter {}", "meter_id"))
        .when(pl.col("__n_sites") > 1)
        .then(
            pl.format(
                "ambiguous meter {}: registered at sites {}; add a site_id column",
                "meter_id",
                "__sites",
            )
        )
    )
    return heads.with_columns(site.alias("site_id"), problem.alias("__problem"))


def lookup_meters(
    meter_ids: pl.Series, site_ids: pl.Series | None, registry: pl.DataFrame
) -> MeterLookup:
    """Resolve each export row's meter against the registry.

    Parameters
    ----------
    meter_ids : pl.Series
        The export's ``meter_id`` column.
    site_ids : pl.Series or None
        The export's ``site_id`` column, if it has one. A blank site_id means "look the
        meter up by its id alone", which fails if the id is registered at several sites.
    registry : pl.DataFrame
        site_id, meter_id, max_power_w [W] (more columns are ignored).

    Returns
    -------
    MeterLookup
    """
    meter_in = meter_ids.cast(pl.String).alias("__meter_in")
    site_in = (
        site_ids.cast(pl.String) if site_ids is not None else pl.repeat(None, 0, dtype=pl.String)
    ).alias("__site_in")
    starts = _run_starts([meter_in] if site_ids is None else [meter_in, site_in])
    run_id = (starts.cast(pl.UInt32).cum_sum() - 1).cast(pl.UInt32)
    head_rows = starts.arg_true()
    heads = pl.DataFrame(
        {
            "__meter_in": meter_in.gather(head_rows),
            "__site_in": site_in.gather(head_rows)
            if site_ids is not None
            else pl.Series([None] * head_rows.len(), dtype=pl.String),
        }
    )
    heads = _resolve_heads(heads, registry)
    by_site, _ = _registry_tables(registry)
    keys = (
        heads.filter(pl.col("site_id").is_not_null())
        .select("site_id", "meter_id")
        .unique()
        .sort("site_id", "meter_id")
        .join(by_site, on=["site_id", "meter_id"], how="left", maintain_order="left")
    )
    heads = heads.join(
        keys.with_row_index("__key").select("site_id", "meter_id", "__key"),
        on=["site_id", "meter_id"],
        how="left",
        maintain_order="left",
    )
    resolved = heads.filter(pl.col("__key").is_not_null())
    return MeterLookup(
        keys=keys,
        row_key=heads["__key"].cast(pl.UInt32).gather(run_id),
        run_id=run_id,
        run_problem=heads["__problem"],
        ids_verbatim=bool((resolved["__meter_in"] == resolved["meter_id"]).all()),
    )
