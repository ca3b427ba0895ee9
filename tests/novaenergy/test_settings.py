from datetime import date

import pytest

from novaenergy.settings import (
    ENV_NAMES,
    PATH_SETTINGS,
    SettingsError,
    as_environ,
    load_settings,
    relocated,
)


def test_defaults_match_env_example(tmp_path):
    settings = load_settings(environ={}, dotenv=None)
    example = load_settings(environ={}, dotenv="/".join(__file__.split("/")[:-3]) + "/.env.example")
    assert settings == example
    assert settings.grid_region == "EU_ENTSOE_DE_LU"
    assert settings.max_export_limit_kw == 50
    assert settings.entsoe_api_key == ""


def test_as_environ_gives_back_the_same_settings():
    changed = {
        "NOVAENERGY_LAKE_ROOT": "s3://bucket/lake",
        "SITE_ID": "plant-7",
        "SAMPLE_END": "2025-06-01",
        "GO_USE_BY_MONTHS": "6",
        "GRID_METER_PORT": "",
        "CONTROL_API_TOKEN": "t0ken",
    }
    settings = load_settings(environ=changed, dotenv=None)
    environ = as_environ(settings)
    assert {k: environ[k] for k in changed} == changed
    assert set(environ) == set(ENV_NAMES.values())
    assert load_settings(environ=environ, dotenv=None) == settings


def test_environment_overrides_dotenv(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("MAX_EXPORT_LIMIT_KW=30\nSAMPLE_START=2025-02-01\n")
    settings = load_settings(environ={"MAX_EXPORT_LIMIT_KW": "40"}, dotenv=dotenv)
    assert settings.max_export_limit_kw == 40
    assert settings.sample_start == date(2025, 2, 1)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MAX_EXPORT_LIMIT_KW": "fifty"}, "MAX_EXPORT_LIMIT_KW='fifty' is not valid"),
        ({"GRID_REGION": "DE"}, "EU_ENTSOE_"),
        ({"SAMPLE_START": "2025-03-01", "SAMPLE_END": "2025-02-01"}, "SAMPLE_END"),
    ],
)
def test_bad_settings_are_named(env, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(environ=env, dotenv=None)


def test_project_settings_anchor_relative_paths_at_the_project_root(tmp_path, monkeypatch):
    from novaenergy.settings import load_project_settings

    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / ".env").write_text("NOVAENERGY_REPORTS_DIR=out/reports\n")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.delenv("NOVAENERGY_REPORTS_DIR", raising=False)
    monkeypatch.setenv("NOVAENERGY_LAKE_ROOT", "/abs/lake")
    settings = load_project_settings(tmp_path / "notebooks")
    assert settings.reports_dir == str(tmp_path.resolve() / "out" / "reports")  # from .env
    assert settings.lake_root == "/abs/lake"  # absolute paths stay
    assert settings.raw_root == str(tmp_path.resolve() / "data" / "raw")  # default, anchored


def test_relocated_puts_every_file_and_folder_under_the_root(tmp_path):
    settings = relocated(load_settings(environ={}, dotenv=None), tmp_path)
    paths = {name: getattr(settings, name) for name in PATH_SETTINGS}
    assert all(p.startswith(str(tmp_path) + "/") for p in paths.values())
    assert paths["lake_root"] == str(tmp_path / "lake")
    assert paths["drop_dir"] == str(tmp_path / "drop" / "meters")
    assert len(set(paths.values())) == len(paths)
