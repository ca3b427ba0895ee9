from datetime import date

import pytest

from novaenergy.settings import SettingsError, load_settings


def test_defaults_match_env_example(tmp_path):
    settings = load_settings(environ={}, dotenv=None)
    example = load_settings(environ={}, dotenv="/".join(__file__.split("/")[:-3]) + "/.env.example")
    assert settings == example
    assert settings.grid_region == "EU_ENTSOE_DE_LU"
    assert settings.max_export_limit_kw == 50
    assert settings.entsoe_api_key == ""


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
