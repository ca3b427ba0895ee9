"""Emission factors as versioned data.

The default table (``data/emission_factors_default_v1.csv``) is the one in the domain
reference §1.1, with a source per row; ENTSO-E production types map to modes through
``data/psr_types.csv`` (§1.2). Storage discharge factors depend on the year; a row with
an empty ``year`` holds for every year.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import polars as pl

FACTOR_TABLE_VERSION = "default-v1"
_DATA = files("pipelines").joinpath("data")


def load_factor_table(path: str | Path | None = None) -> tuple[str, pl.DataFrame]:
    """Read an emission-factor table.

    Parameters
    ----------
    path : str or Path, optional
        A CSV with mode, year, ci_direct_g_per_kwh [gCO2eq/kWh],
        ci_lifecycle_g_per_kwh [gCO2eq/kWh], source. Defaults to the default table.

    Returns
    -------
    version : str
        ``default-v1`` for the default table, else ``file:<name>``.
    factors : pl.DataFrame
    """
    if path is None:
        version, source = FACTOR_TABLE_VERSION, _DATA.joinpath("emission_factors_default_v1.csv")
    else:
        version, source = f"file:{Path(path).name}", Path(path)
    factors = pl.read_csv(
        source.read_bytes(),
        schema={
            "mode": pl.String,
            "year": pl.Int32,
            "ci_direct_g_per_kwh": pl.Float64,
            "ci_lifecycle_g_per_kwh": pl.Float64,
            "source": pl.String,
        },
    )
    return version, factors


OVERRIDE_SCHEMA = {
    "zone": pl.String,
    "mode": pl.String,
    "valid_from": pl.Date,
    "valid_to": pl.Date,
    "ci_direct_g_per_kwh": pl.Float64,
    "ci_lifecycle_g_per_kwh": pl.Float64,
    "source": pl.String,
}
BUNDLED_OVERRIDES = {"de-v1": "emission_factor_overrides_de_v1.csv"}


def load_overrides(name_or_path: str | Path) -> tuple[str, pl.DataFrame]:
    """Read opt-in zone overrides: effective-dated factors for one zone and mode.

    ``name_or_path`` is a bundled name (``de-v1``: Germany's yearly coal and gas
    factors) or a CSV with zone, mode, valid_from, valid_to (exclusive), both
    intensities [gCO2eq/kWh] and source. Returns (version, overrides).
    """
    if str(name_or_path) in BUNDLED_OVERRIDES:
        version, source = (
            f"overrides-{name_or_path}",
            _DATA.joinpath(BUNDLED_OVERRIDES[str(name_or_path)]),
        )
    else:
        version, source = f"overrides-file:{Path(name_or_path).name}", Path(name_or_path)
    return version, pl.read_csv(source.read_bytes(), schema=OVERRIDE_SCHEMA)


def apply_overrides(with_factors: pl.DataFrame, overrides: pl.DataFrame) -> pl.DataFrame:
    """Replace factors where an override's zone, mode and validity period match.

    ``with_factors`` is the output of :func:`factors_for` (zone, ts_utc, factor_mode and
    both intensities).
    """
    cols = ["ci_direct_g_per_kwh", "ci_lifecycle_g_per_kwh"]
    keyed = with_factors.with_row_index("__row").with_columns(
        pl.col("ts_utc").dt.date().alias("__date")
    )
    hits = (
        keyed.select("__row", "zone", "factor_mode", "__date")
        .join(overrides.rename({"mode": "factor_mode"}), on=["zone", "factor_mode"])
        .filter(
            (pl.col("__date") >= pl.col("valid_from")) & (pl.col("__date") < pl.col("valid_to"))
        )
        .select("__row", *[pl.col(c).alias(f"{c}__o") for c in cols])
    )
    if hits["__row"].is_duplicated().any():
        raise ValueError("overlapping override periods for one zone and mode")
    out = keyed.join(hits, on="__row", how="left")
    return out.with_columns([pl.coalesce(f"{c}__o", c).alias(c) for c in cols]).drop(
        "__row", "__date", *[f"{c}__o" for c in cols]
    )


def largest_factors() -> tuple[float, float]:
    """The largest direct and lifecycle factor of the default table and every bundled
    override [gCO2eq/kWh]: no intensity computed with them can exceed these."""
    tables = [load_factor_table()[1], *(load_overrides(name)[1] for name in BUNDLED_OVERRIDES)]
    both = pl.concat([t.select("ci_direct_g_per_kwh", "ci_lifecycle_g_per_kwh") for t in tables])
    return float(both["ci_direct_g_per_kwh"].max()), float(both["ci_lifecycle_g_per_kwh"].max())


def load_psr_types() -> pl.DataFrame:
    """ENTSO-E psrType codes with their generation mode and, for storage, charge mode."""
    return pl.read_csv(
        _DATA.joinpath("psr_types.csv").read_bytes(),
        schema_overrides={"storage_mode_charge": pl.String},
    )


def factors_for(mix: pl.DataFrame, factors: pl.DataFrame) -> pl.DataFrame:
    """Attach the factor of each row's mode and year to a generation mix.

    ``mix`` has production_type (psr code), mode (``generation``/``consumption``) and
    ts_utc. Adds ``factor_mode``, ``ci_direct_g_per_kwh`` and ``ci_lifecycle_g_per_kwh``.
    A row whose mode has no factor raises ``ValueError``: a gap in the table is never
    read as zero.
    """
    psr = load_psr_types()
    with_mode = mix.join(
        psr.select("psr_type", "mode", "storage_mode_charge").rename({"mode": "gen_mode"}),
        left_on="production_type",
        right_on="psr_type",
        how="left",
    )
    unknown = with_mode.filter(pl.col("gen_mode").is_null())["production_type"].unique().to_list()
    if unknown:
        raise ValueError(f"unknown ENTSO-E production types {unknown}; add them to psr_types.csv")
    with_mode = with_mode.with_columns(
        pl.when(pl.col("mode") == "consumption")
        .then(pl.col("storage_mode_charge"))
        .otherwise(pl.col("gen_mode"))
        .alias("factor_mode"),
        pl.col("ts_utc").dt.year().cast(pl.Int32).alias("__year"),
    ).drop("gen_mode", "storage_mode_charge")
    cols = ["ci_direct_g_per_kwh", "ci_lifecycle_g_per_kwh"]
    any_year = factors.filter(pl.col("year").is_null()).select("mode", *cols)
    by_year = factors.filter(pl.col("year").is_not_null()).select(
        "mode", pl.col("year").alias("__year"), *cols
    )
    out = with_mode.join(any_year, left_on="factor_mode", right_on="mode", how="left")
    out = out.join(
        by_year,
        left_on=["factor_mode", "__year"],
        right_on=["mode", "__year"],
        how="left",
        suffix="_y",
    )
    out = out.with_columns([pl.coalesce(f"{c}_y", c).alias(c) for c in cols]).drop(
        [f"{c}_y" for c in cols]
    )
    if out.height and out["ci_lifecycle_g_per_kwh"].null_count():
        missing = (
            out.filter(pl.col("ci_lifecycle_g_per_kwh").is_null())
            .select("factor_mode", "__year")
            .unique()
            .rows()
        )
        raise ValueError(f"no emission factor for (mode, year) {missing[:5]}")
    return out.drop("__year")
