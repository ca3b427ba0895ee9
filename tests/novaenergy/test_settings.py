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
