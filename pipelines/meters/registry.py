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

import numpy as np
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
    starts : np.ndarray
        First row of each run.
    run_is_key : bool
        True when run i is meter key i for every run: each meter is one run, all are
        known and they come in key order (the common, already sorted export).
    """

    keys: pl.DataFrame
    row_key: pl.Series
    run_id: pl.Series
    run_problem: pl.Series
    ids_verbatim: bool
    starts: np.ndarray
    run_is_key: bool

    def problems(self, rows: pl.Series) -> pl.Series:
        """Why the meters of the given row positions are unresolved (null if resolved)."""
        return self.run_problem.gather(self.run_id.gather(rows))


def run_starts(columns: list[pl.Series]) -> np.ndarray:
    """Row positions where a run of equal values (in all ``columns``) begins, ascending.

    One pass comparing each row with the row before (nulls compare equal to nulls).
    """
    if len(columns[0]) == 0:
        return np.zeros(0, dtype=np.int64)
    frame = pl.DataFrame({f"c{i}": column for i, column in enumerate(columns)})
    change = pl.any_horizontal([pl.col(c).ne_missing(pl.col(c).shift(1)) for c in frame.columns])
    starts = frame.select(change.arg_true()).to_series().to_numpy().astype(np.int64)
    return starts if starts.size and starts[0] == 0 else np.concatenate([[0], starts])


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
    meter_in = meter_ids.cast(pl.String)
    site_in = site_ids.cast(pl.String) if site_ids is not None else None
    starts = run_starts([meter_in] if site_in is None else [meter_in, site_in])
    lengths = np.diff(np.append(starts, len(meter_in)))
    run_id = pl.Series("__run", np.repeat(np.arange(starts.size, dtype=np.uint32), lengths))
    heads = pl.DataFrame(
        {
            "__meter_in": meter_in.gather(starts),
            "__site_in": site_in.gather(starts)
            if site_in is not None
            else pl.Series([None] * starts.size, dtype=pl.String),
        }
    )
    distinct = heads.unique(maintain_order=True)  # runs of interleaved meters repeat
    resolved = _resolve_heads(distinct, registry)
    by_site, _ = _registry_tables(registry)
    keys = (
        resolved.filter(pl.col("site_id").is_not_null())
        .select("site_id", "meter_id")
        .unique()
        .sort("site_id", "meter_id")
        .join(by_site, on=["site_id", "meter_id"], how="left", maintain_order="left")
    )
    resolved = resolved.join(
        keys.with_row_index("__key").select("site_id", "meter_id", "__key"),
        on=["site_id", "meter_id"],
        how="left",
        maintain_order="left",
    )
    if distinct.height == heads.height:
        heads = resolved
    else:
        heads = heads.join(
            resolved,
            on=["__meter_in", "__site_in"],
            how="left",
            nulls_equal=True,
            maintain_order="left",
        )
    run_key = heads["__key"].cast(pl.UInt32)
    # the common export: one run per known meter, in key order; the run is the key
    identity = bool(run_key.null_count() == 0 and (run_key == np.arange(run_key.len())).all())
    resolved = heads.filter(pl.col("__key").is_not_null())
    return MeterLookup(
        keys=keys,
        row_key=run_id.alias("__mk") if identity else run_key.gather(run_id).alias("__mk"),
        run_id=run_id,
        run_problem=heads["__problem"],
        ids_verbatim=bool((resolved["__meter_in"] == resolved["meter_id"]).all()),
        starts=starts,
        run_is_key=identity,
    )
