"""Resources: where the lake lives and which site and grid the code location serves.

Bound once, in :mod:`assets_defs.definitions`, from environment variables through
``EnvVar`` (resolved when a run starts, never at import). The CLI builds the same
resources from its settings with :func:`build_resources`.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import pydantic

from ingest.sample_site import SiteConfig


class LakeResource(dg.ConfigurableResource):
    """Lake root, raw landing root, drop folder and the DuckDB warehouse file."""

    root: str = "data/lake"
    raw_root: str = "data/raw"
    drop_dir: str = "data/drop/meters"
    warehouse_path: str = "data/warehouse.duckdb"


class SiteResource(dg.ConfigurableResource):
    """The code location's own site (the embedded sample site by default), its grid zone,
    and the other sites of the zone it serves, listed in ``sites_file`` (empty for none;
    see :mod:`pipelines.site_registry`).

    A site asset runs with the settings of its partitions' sites: :meth:`for_run` (one)
    and :meth:`for_runs` (a backfill run may cover a day of many sites).
    """

    site_id: str = "warehouse-b"
    grid_region: str = "EU_ENTSOE_DE_LU"
    timezone: str = "Europe/Berlin"
    sample_start: str = "2025-01-01"
    sample_end: str = "2026-01-01"
    sample_seed: int = 42
    max_export_limit_kw: int = 50
    sites_file: str = ""

    def registry(self) -> dict:
        """The registered sites by id (:class:`pipelines.site_registry.RegisteredSite`)."""
        from pipelines.site_registry import check_site_id, read_site_registry

        check_site_id(self.site_id)
        return read_site_registry(self.sites_file) if self.sites_file else {}

    def site_ids(self) -> list[str]:
        """Every site served: the own site first, then the registry's."""
        return list(dict.fromkeys([self.site_id, *self.registry()]))

    def for_site(self, site_id: str, registry: dict | None = None) -> SiteResource:
        """The settings of ``site_id``: this site's, or the registry row's in this zone
        (from ``registry`` when the caller has read it already)."""
        if site_id == self.site_id:
            return self
        row = (self.registry() if registry is None else registry).get(site_id)
        if row is None:
            raise dg.Failure(
                f"site {site_id!r} is neither SITE_ID ({self.site_id!r}) nor in the site "
                f"registry ({self.sites_file or 'SITES_FILE is empty'})"
            )
        return SiteResource(
            site_id=row.site_id,
            grid_region=self.grid_region,
            timezone=row.timezone,
            sample_start=self.sample_start,
            sample_end=self.sample_end,
            sample_seed=row.sample_seed,
            max_export_limit_kw=row.max_export_limit_kw,
            sites_file=self.sites_file,
        )

    def for_run(self, context) -> SiteResource:
        """The settings of the one site the run's partitions cover."""
        from assets_defs.partitions import site_of

        return self.for_site(site_of(context))

    def for_runs(self, context) -> list[SiteResource]:
        """The settings of every site the run's partitions cover (one, or one day's many)."""
        from assets_defs.partitions import sites_of

        registry = self.registry()
        return [self.for_site(site_id, registry) for site_id in sites_of(context)]

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

    api_key: str = pydantic.Field(default="", repr=False)  # a secret: kept out of reprs
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


class CertificatesResource(dg.ConfigurableResource):
    """The granular-certificate ledger and what the site does with its certificates.

    ``sale_account`` receives the site's certificates left after it has covered its own
    consumption hour by hour (empty keeps them). Certificates may be used for
    ``use_by_months`` after production and expire after ``expiry_months``.
    """

    ledger_path: str = "data/go_ledger.duckdb"
    export_dir: str = "data/exports"
    sale_account: str = "novatrade"
    use_by_months: int = 12
    expiry_months: int = 18

    def connect(self):
        from pipelines.certificates.schema import connect_ledger

        return connect_ledger(self.ledger_path)

    def connect_read_only(self):
        from pipelines.certificates.schema import connect_ledger_read_only

        return connect_ledger_read_only(self.ledger_path)

    def policy(self):
        from pipelines.certificates.ledger import LedgerPolicy

        return LedgerPolicy(self.use_by_months, self.expiry_months)


class Scope2Resource(dg.ConfigurableResource):
    """Market-based instruments: the residual mix (a cited CSV) and a supplier factor.

    ``residual_mix_file`` empty means the packaged, clearly labelled placeholder.
    ``supplier_factor_g_per_kwh`` empty means no supplier-specific factor.
    """

    residual_mix_file: str = ""
    supplier_factor_g_per_kwh: str = ""
    supplier_factor_source: str = ""

    def residual_mix(self, zone: str, year: int):
        from pipelines.scope2 import DEFAULT_RESIDUAL_MIX_FILE, load_residual_mix

        return load_residual_mix(self.residual_mix_file or DEFAULT_RESIDUAL_MIX_FILE, zone, year)

    def supplier(self):
        from pipelines.scope2 import supplier_factor

        return supplier_factor(self.supplier_factor_g_per_kwh, self.supplier_factor_source)


class PlanningResource(dg.ConfigurableResource):
    """What the planner weighs: the import limit [kW], the demand charge on the horizon's
    peak import [EUR/kW], the internal carbon price [EUR/t] and the charges added to the
    day-ahead price for imports [EUR/MWh]. The export limit is the site's
    ``MAX_EXPORT_LIMIT_KW``. Whole numbers, like every numeric setting."""

    max_import_kw: int = 400
    peak_charge_eur_per_kw: int = 12
    co2_price_eur_per_t: int = 80
    import_surcharge_eur_per_mwh: int = 0

    def site_spec(self, site: SiteResource):
        from pipelines.planning.site_scenario import BatterySpec, SiteSpec

        cfg = site.sample_config()
        return SiteSpec(
            site_id=site.site_id,
            timezone=site.timezone,
            max_import_kw=float(self.max_import_kw),
            max_export_kw=float(site.max_export_limit_kw),
            peak_charge_eur_per_kw=float(self.peak_charge_eur_per_kw),
            co2_price_eur_per_t=float(self.co2_price_eur_per_t),
            import_surcharge_eur_per_mwh=float(self.import_surcharge_eur_per_mwh),
            battery=BatterySpec(
                device_id="battery-1",
                capacity_kwh=cfg.battery_capacity_kwh,
                max_charge_kw=cfg.battery_power_kw,
                max_discharge_kw=cfg.battery_power_kw,
                efficiency=cfg.battery_efficiency,
                min_soc_pct=cfg.battery_soc_min_pct,
                max_soc_pct=cfg.battery_soc_max_pct,
            ),
        )


def build_resources(
    lake_root: str,
    raw_root: str,
    drop_dir: str,
    warehouse_path: str,
    site: SiteResource,
    entsoe_api_key: str = "",
    factor_overrides: str = "",
    certificates: CertificatesResource | None = None,
    scope2: Scope2Resource | None = None,
    planning: PlanningResource | None = None,
) -> dict:
    """The resource dict every run uses, from plain values."""
    return {
        "lake_store": LakeResource(
            root=lake_root, raw_root=raw_root, drop_dir=drop_dir, warehouse_path=warehouse_path
        ),
        "site": site,
        "entsoe": EntsoeResource(api_key=entsoe_api_key),
        "emission_factors": EmissionFactorsResource(overrides=factor_overrides),
        "certificates": certificates or CertificatesResource(),
        "scope2": scope2 or Scope2Resource(),
        "planning": planning or PlanningResource(),
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
            sites_file=dg.EnvVar("SITES_FILE"),
        ),
        "entsoe": EntsoeResource(api_key=dg.EnvVar("ENTSOE_API_KEY")),
        "emission_factors": EmissionFactorsResource(
            overrides=dg.EnvVar("EMISSION_FACTOR_OVERRIDES")
        ),
        "certificates": CertificatesResource(
            ledger_path=dg.EnvVar("GO_LEDGER_PATH"),
            export_dir=dg.EnvVar("GO_EXPORT_DIR"),
            sale_account=dg.EnvVar("GO_SALE_ACCOUNT"),
            use_by_months=dg.EnvVar.int("GO_USE_BY_MONTHS"),
            expiry_months=dg.EnvVar.int("GO_EXPIRY_MONTHS"),
        ),
        "scope2": Scope2Resource(
            residual_mix_file=dg.EnvVar("RESIDUAL_MIX_FILE"),
            supplier_factor_g_per_kwh=dg.EnvVar("SUPPLIER_FACTOR_G_PER_KWH"),
            supplier_factor_source=dg.EnvVar("SUPPLIER_FACTOR_SOURCE"),
        ),
        "planning": PlanningResource(
            max_import_kw=dg.EnvVar.int("MAX_IMPORT_LIMIT_KW"),
            peak_charge_eur_per_kw=dg.EnvVar.int("PEAK_CHARGE_EUR_PER_KW"),
            co2_price_eur_per_t=dg.EnvVar.int("CO2_PRICE_EUR_PER_T"),
            import_surcharge_eur_per_mwh=dg.EnvVar.int("IMPORT_SURCHARGE_EUR_PER_MWH"),
        ),
    }
