"""Settings: read once, here, from the environment and an optional ``.env`` file.

Every setting is documented in ``.env.example``. Nothing else in the project reads
environment variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import date
from pathlib import Path

from dotenv import dotenv_values

DEFAULTS: dict[str, str] = {
    "NOVAENERGY_LAKE_ROOT": "data/lake",
    "NOVAENERGY_RAW_ROOT": "data/raw",
    "NOVAENERGY_DROP_DIR": "data/drop/meters",
    "NOVAENERGY_WAREHOUSE": "data/warehouse.duckdb",
    "NOVAENERGY_REPORTS_DIR": "data/reports",
    "GRID_REGION": "EU_ENTSOE_DE_LU",
    "MAX_EXPORT_LIMIT_KW": "50",
    "ENTSOE_API_KEY": "",
    "EMISSION_FACTOR_OVERRIDES": "",
    "SITE_ID": "warehouse-b",
    "SITE_TIMEZONE": "Europe/Berlin",
    "SAMPLE_START": "2025-01-01",
    "SAMPLE_END": "2026-01-01",
    "SAMPLE_SEED": "42",
    "SITES_FILE": "",
    "GO_LEDGER_PATH": "data/go_ledger.duckdb",
    "GO_EXPORT_DIR": "data/exports",
    "GO_SALE_ACCOUNT": "novatrade",
    "GO_USE_BY_MONTHS": "12",
    "GO_EXPIRY_MONTHS": "18",
    "RESIDUAL_MIX_FILE": "",
    "SUPPLIER_FACTOR_G_PER_KWH": "",
    "SUPPLIER_FACTOR_SOURCE": "",
    "MAX_IMPORT_LIMIT_KW": "400",
    "PEAK_CHARGE_EUR_PER_KW": "12",
    "CO2_PRICE_EUR_PER_T": "80",
    "IMPORT_SURCHARGE_EUR_PER_MWH": "0",
    "DEVICE_HOST": "127.0.0.1",
    "MQTT_PORT": "1883",
    "MQTT_DIR": "data/mqtt",
    "OCPP_PORT": "9000",
    "OCPP_CREDENTIALS": "data/ocpp/credentials.json",
    "SUNSPEC_INVERTER_PORT": "5020",
    "SUNSPEC_BATTERY_PORT": "5021",
    "CONTROL_API_PORT": "8000",
    "CONTROL_API_TOKEN": "",
    "CONTROL_STATE_PATH": "data/control/state.json",
    "CONTROL_CYCLE_S": "5",
    "CONTROL_SETPOINT_TTL_S": "60",
    "GRID_METER_PORT": "5022",
}


class SettingsError(ValueError):
    """A setting has a value that cannot be used."""


#: Settings that hold a secret: shown as ``'***'`` (or ``''`` when unset) by ``repr``.
SECRET_SETTINGS = ("entsoe_api_key", "control_api_token")


@dataclass(frozen=True)
class Settings:
    """This installation's settings (see ``.env.example``); its ``repr`` masks secrets."""

    lake_root: str
    raw_root: str
    drop_dir: str
    warehouse_path: str
    reports_dir: str
    grid_region: str
    max_export_limit_kw: int
    entsoe_api_key: str
    emission_factor_overrides: str
    site_id: str
    site_timezone: str
    sample_start: date
    sample_end: date
    sample_seed: int
    sites_file: str
    go_ledger_path: str
    go_export_dir: str
    go_sale_account: str
    go_use_by_months: int
    go_expiry_months: int
    residual_mix_file: str
    supplier_factor_g_per_kwh: str
    supplier_factor_source: str
    max_import_limit_kw: int
    peak_charge_eur_per_kw: int
    co2_price_eur_per_t: int
    import_surcharge_eur_per_mwh: int
    device_host: str
    mqtt_port: int
    mqtt_dir: str
    ocpp_port: int
    ocpp_credentials: str
    sunspec_inverter_port: int
    sunspec_battery_port: int
    control_api_port: int
    control_api_token: str
    control_state_path: str
    control_cycle_s: int
    control_setpoint_ttl_s: int
    grid_meter_port: int | None

    def __repr__(self) -> str:
        def shown(name: str) -> str:
            value = getattr(self, name)
            return "'***'" if name in SECRET_SETTINGS and value else repr(value)

        return f"Settings({', '.join(f'{f.name}={shown(f.name)}' for f in fields(self))})"


def load_settings(
    environ: Mapping[str, str] | None = None, dotenv: str | Path | None = ".env"
) -> Settings:
    """Merge defaults, the ``.env`` file and the environment (later wins)."""
    values = dict(DEFAULTS)
    if dotenv is not None and Path(dotenv).is_file():
        values.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
    env = os.environ if environ is None else environ
    values.update({k: env[k] for k in DEFAULTS if k in env})

    def parse(key: str, conv):
        try:
            return conv(values[key])
        except ValueError as exc:
            raise SettingsError(
                f"{key}={values[key]!r} is not valid ({exc}); see .env.example"
            ) from exc

    settings = Settings(
        lake_root=values["NOVAENERGY_LAKE_ROOT"],
        raw_root=values["NOVAENERGY_RAW_ROOT"],
        drop_dir=values["NOVAENERGY_DROP_DIR"],
        warehouse_path=values["NOVAENERGY_WAREHOUSE"],
        reports_dir=values["NOVAENERGY_REPORTS_DIR"],
        grid_region=values["GRID_REGION"],
        max_export_limit_kw=parse("MAX_EXPORT_LIMIT_KW", int),
        entsoe_api_key=values["ENTSOE_API_KEY"],
        emission_factor_overrides=values["EMISSION_FACTOR_OVERRIDES"],
        site_id=values["SITE_ID"],
        site_timezone=values["SITE_TIMEZONE"],
        sample_start=parse("SAMPLE_START", date.fromisoformat),
        sample_end=parse("SAMPLE_END", date.fromisoformat),
        sample_seed=parse("SAMPLE_SEED", int),
        sites_file=values["SITES_FILE"],
        go_ledger_path=values["GO_LEDGER_PATH"],
        go_export_dir=values["GO_EXPORT_DIR"],
        go_sale_account=values["GO_SALE_ACCOUNT"],
        go_use_by_months=parse("GO_USE_BY_MONTHS", int),
        go_expiry_months=parse("GO_EXPIRY_MONTHS", int),
        residual_mix_file=values["RESIDUAL_MIX_FILE"],
        supplier_factor_g_per_kwh=values["SUPPLIER_FACTOR_G_PER_KWH"],
        supplier_factor_source=values["SUPPLIER_FACTOR_SOURCE"],
        max_import_limit_kw=parse("MAX_IMPORT_LIMIT_KW", int),
        peak_charge_eur_per_kw=parse("PEAK_CHARGE_EUR_PER_KW", int),
        co2_price_eur_per_t=parse("CO2_PRICE_EUR_PER_T", int),
        import_surcharge_eur_per_mwh=parse("IMPORT_SURCHARGE_EUR_PER_MWH", int),
        device_host=values["DEVICE_HOST"],
        mqtt_port=parse("MQTT_PORT", int),
        mqtt_dir=values["MQTT_DIR"],
        ocpp_port=parse("OCPP_PORT", int),
        ocpp_credentials=values["OCPP_CREDENTIALS"],
        sunspec_inverter_port=parse("SUNSPEC_INVERTER_PORT", int),
        sunspec_battery_port=parse("SUNSPEC_BATTERY_PORT", int),
        control_api_port=parse("CONTROL_API_PORT", int),
        control_api_token=values["CONTROL_API_TOKEN"],
        control_state_path=values["CONTROL_STATE_PATH"],
        control_cycle_s=parse("CONTROL_CYCLE_S", int),
        control_setpoint_ttl_s=parse("CONTROL_SETPOINT_TTL_S", int),
        grid_meter_port=parse("GRID_METER_PORT", lambda v: int(v) if v.strip() else None),
    )
    if not settings.grid_region.startswith("EU_ENTSOE_"):
        raise SettingsError(
            f"GRID_REGION={settings.grid_region!r}: expected EU_ENTSOE_<zone>, e.g. EU_ENTSOE_DE_LU"
        )
    if not 0 < settings.go_use_by_months <= settings.go_expiry_months:
        raise SettingsError("GO_USE_BY_MONTHS must be > 0 and <= GO_EXPIRY_MONTHS")
    if settings.control_cycle_s <= 0 or settings.control_setpoint_ttl_s <= settings.control_cycle_s:
        raise SettingsError("CONTROL_CYCLE_S must be > 0 and below CONTROL_SETPOINT_TTL_S")
    if settings.sample_end <= settings.sample_start:
        raise SettingsError("SAMPLE_END must be after SAMPLE_START")
    return settings


#: Settings field -> the environment variable that sets it (DEFAULTS lists them in field order).
ENV_NAMES: dict[str, str] = dict(zip([f.name for f in fields(Settings)], DEFAULTS, strict=True))


def as_environ(settings: Settings) -> dict[str, str]:
    """The environment variables that give ``settings`` (the inverse of :func:`load_settings`):
    for a child process, such as the Dagster CLI or the control service, configured alike."""
    out = {}
    for name, env in ENV_NAMES.items():
        value = getattr(settings, name)
        out[env] = "" if value is None else str(value)
    return out


# Settings that name a file or folder; relative ones are relative to the project root.
PATH_SETTINGS = (
    "lake_root",
    "raw_root",
    "drop_dir",
    "warehouse_path",
    "reports_dir",
    "go_ledger_path",
    "go_export_dir",
)


def relocated(settings: Settings, root: str | Path) -> Settings:
    """``settings`` with every file and folder setting under ``root``, laid out as the
    defaults are under ``data/`` (a scratch installation for a test or a benchmark)."""
    return replace(
        settings,
        **{
            name: str(Path(root) / Path(DEFAULTS[ENV_NAMES[name]]).relative_to("data"))
            for name in PATH_SETTINGS
        },
    )


def project_root(start: str | Path | None = None) -> Path:
    """The folder holding ``pyproject.toml`` at or above ``start`` (default: the cwd)."""
    here = Path(start or Path.cwd()).resolve()
    return next((p for p in (here, *here.parents) if (p / "pyproject.toml").is_file()), here)


def load_project_settings(start: str | Path | None = None) -> Settings:
    """Settings as the ``make`` targets see them, from any folder inside the project.

    A notebook's kernel runs in ``notebooks/``: this reads the project's ``.env`` and the
    environment, and anchors relative paths (``data/lake``...) at the project root.
    """
    root = project_root(start)
    settings = load_settings(dotenv=root / ".env")
    return replace(
        settings,
        **{
            name: str(root / getattr(settings, name))
            for name in PATH_SETTINGS
            if not Path(getattr(settings, name)).is_absolute()
        },
    )
