"""Resources: where the lake lives and which site and grid the code location serves.

Bound once, in :mod:`assets_defs.definitions`, from environment variables through
``EnvVar`` (resolved when a run starts, never at import). The CLI builds the same
resources from its settings with :func:`build_resources`.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg

from ingest.sample_site import SiteConfig


class LakeResource(dg.ConfigurableResource):
    """Lake root, raw landing root, drop folder and the DuckDB warehouse file."""

    root: str = "data/lake"
    raw_root: str = "data/raw"
    drop_dir: str = "data/drop/meters"
    warehouse_path: str = "data/warehouse.duckdb"


class SiteResource(dg.ConfigurableResource):
    """The site (the embedded sample site by default) and its grid zone."""

    site_id: str = "warehouse-b"
    grid_region: str = "EU_ENTSOE_DE_LU"
    timezone: str = "Europe/Berlin"
    sample_start: str = "2025-01-01"
    sample_end: str = "2026-01-01"
    sample_seed: int = 42
    max_export_limit_kw: int = 50

    @property
    def zone(self) -> str:
        """Bidding zone from the region name (``EU_ENTSOE_DE_LU`` → ``DE_LU``)."""
        return self.grid_region.removeprefix("EU_ENTSOE_")

    def sample_config(self) -> SiteConfig:
        return SiteConfig(
            site_id=self.site_id,
            zone=self.zone,
            timezone=self.timezone,
            start=date.fromisoformat(self.sample_start),
            end=date.fromisoformat(self.sample_end),
            seed=self.sample_seed,
        )


class EmissionFactorsResource(dg.ConfigurableResource):
    """Which emission-factor table and opt-in zone overrides the carbon assets use.

    ``table`` empty means the default table; ``overrides`` names bundled overrides
    (``de-v1``) or a CSV path, empty for none.
    """

    table: str = ""
    overrides: str = ""

    def load(self):
        """(version, factors, overrides or None); the version names both parts."""
        from pipelines.emission_factors import load_factor_table, load_overrides

        version, factors = load_factor_table(self.table or None)
        if not self.overrides:
            return version, factors, None
        o_version, overrides = load_overrides(self.overrides)
        return f"{version}+{o_version}", factors, overrides


class EntsoeResource(dg.ConfigurableResource):
    """ENTSO-E access through entsoe-py.

    With ``api_key`` the client goes live. With ``recordings`` (documentType → recorded
    XML file) the same client code runs offline on recorded documents. With neither,
    the grid assets use the sample site's synthetic mix.
    """

    api_key: str = ""
    recordings: dict[str, str] = {}

    @property
    def enabled(self) -> bool:
        return bool(self.api_key or self.recordings)

    def client(self):
        import requests

        from ingest.entsoe_documents import RoutedRecordings, make_client

        if self.api_key:
            return make_client(self.api_key)
        session = requests.Session()
        session.mount(
            "https://", RoutedRecordings({k: Path(v) for k, v in self.recordings.items()})
        )
        return make_client("recorded-documents", session=session)


def build_resources(
    lake_root: str,
    raw_root: str,
    drop_dir: str,
    warehouse_path: str,
    site: SiteResource,
    entsoe_api_key: str = "",
    factor_overrides: str = "",
) -> dict:
    """The resource dict every run uses, from plain values."""
    return {
        "lake_store": LakeResource(
            root=lake_root, raw_root=raw_root, drop_dir=drop_dir, warehouse_path=warehouse_path
        ),
        "site": site,
        "entsoe": EntsoeResource(api_key=entsoe_api_key),
        "emission_factors": EmissionFactorsResource(overrides=factor_overrides),
    }


def resources_from_env() -> dict:
    """Resources bound to environment variables, resolved at run time."""
    return {
        "lake_store": LakeResource(
            root=dg.EnvVar("NOVAENERGY_LAKE_ROOT"),
            raw_root=dg.EnvVar("NOVAENERGY_RAW_ROOT"),
            drop_dir=dg.EnvVar("NOVAENERGY_DROP_DIR"),
            warehouse_path=dg.EnvVar("NOVAENERGY_WAREHOUSE"),
        ),
        "site": SiteResource(
            site_id=dg.EnvVar("SITE_ID"),
            timezone=dg.EnvVar("SITE_TIMEZONE"),
            grid_region=dg.EnvVar("GRID_REGION"),
            max_export_limit_kw=dg.EnvVar.int("MAX_EXPORT_LIMIT_KW"),
        ),
        "entsoe": EntsoeResource(api_key=dg.EnvVar("ENTSOE_API_KEY")),
        "emission_factors": EmissionFactorsResource(
            overrides=dg.EnvVar("EMISSION_FACTOR_OVERRIDES")
        ),
    }
