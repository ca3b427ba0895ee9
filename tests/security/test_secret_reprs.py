"""Objects that hold a secret do not show it in ``repr``/``str`` (what logs, tracebacks,
debuggers and Dagster's UI print)."""

import pytest

from control.adapters.mqtt_channel import MqttChannelSettings
from control.mosquitto import MqttUser
from control.serve import ServeParams
from novaenergy.settings import load_settings

SECRET = "s3cret-value-4d1f"


def shown(obj) -> str:
    return repr(obj) + str(obj) + f"{obj}"


def test_settings_mask_the_entsoe_key_and_the_api_token():
    settings = load_settings(
        environ={"ENTSOE_API_KEY": SECRET, "CONTROL_API_TOKEN": SECRET + "-2"}, dotenv=None
    )
    assert SECRET not in shown(settings)
    assert "entsoe_api_key='***'" in repr(settings)  # set, and says so
    assert "control_api_token='***'" in repr(settings)
    unset = load_settings(environ={}, dotenv=None)
    assert "entsoe_api_key=''" in repr(unset)  # unset, and says so


@pytest.mark.parametrize(
    "holder",
    [
        ServeParams(api_token=SECRET),
        MqttUser("load-3dprinters", SECRET),
        MqttChannelSettings("site", "novaenergy-service", SECRET),
    ],
    ids=lambda o: type(o).__name__,
)
def test_control_parameters_do_not_show_passwords_or_tokens(holder):
    assert SECRET not in shown(holder)


def test_the_entsoe_resource_does_not_show_its_api_key():
    from assets_defs.resources import EntsoeResource

    assert SECRET not in shown(EntsoeResource(api_key=SECRET))


def test_the_dashboard_config_does_not_show_the_api_token():
    from dashboards.config import DashboardConfig

    assert SECRET not in shown(DashboardConfig(control_api_token=SECRET))
