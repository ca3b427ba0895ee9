"""Reading a station's smart-charging limits: the request per OCPP version and its parsing.

2.0.1 and 2.1 ask ``GetVariables`` for ``SmartChargingCtrlr.PeriodsPerSchedule``,
``RateUnit`` and ``ProfileStackLevel``; 1.6 asks ``GetConfiguration`` for the matching keys.
A value the station does not report keeps the conservative default of
:class:`~control.adapters.ocpp_profiles.StationLimits`.
"""

from __future__ import annotations

from dataclasses import replace

from ocpp.v16 import call as call16
from ocpp.v21 import call as call21
from ocpp.v201 import call as call201

from control.adapters.ocpp_profiles import StationLimits

_VARIABLES_2X = ("PeriodsPerSchedule", "RateUnit", "ProfileStackLevel")
_KEYS_16 = (
    "ChargingScheduleMaxPeriods",
    "ChargingScheduleAllowedChargingRateUnit",
    "ChargeProfileMaxStackLevel",
)
_UNIT_16 = {"current": "A", "power": "W"}


def limits_request(version: str) -> object:
    """The request that reads the smart-charging limits for an OCPP version."""
    if version == "1.6":
        return call16.GetConfiguration(key=list(_KEYS_16))
    data = [
        {"component": {"name": "SmartChargingCtrlr"}, "variable": {"name": name}}
        for name in _VARIABLES_2X
    ]
    module = call21 if version == "2.1" else call201
    return module.GetVariables(get_variable_data=data)


def _units(text: str, names: dict[str, str]) -> tuple[str, ...]:
    units = [names.get(u.strip().lower(), u.strip()) for u in text.split(",")]
    return tuple(u for u in units if u in ("A", "W"))


def parse_limits(version: str, response: object, base: StationLimits) -> StationLimits:
    """Station limits from a ``GetVariables`` / ``GetConfiguration`` result.

    Parameters
    ----------
    response : object
        The ``ocpp`` call result (snake_case fields).
    base : StationLimits
        Defaults for every value the station does not report.
    """
    if version == "1.6":
        values = {k["key"]: k.get("value") for k in response.configuration_key or []}
        names = dict(zip(_KEYS_16, _VARIABLES_2X, strict=True))
        values = {names[k]: v for k, v in values.items() if k in names and v is not None}
        unit_names = _UNIT_16
    else:
        values = {
            r["variable"]["name"]: r.get("attribute_value")
            for r in response.get_variable_result
            if r.get("attribute_status") == "Accepted" and r.get("attribute_value") is not None
        }
        unit_names = {"a": "A", "w": "W"}
    limits = base
    for name, attr, low in (
        ("PeriodsPerSchedule", "periods_per_schedule", 1),
        ("ProfileStackLevel", "max_stack_level", 0),
    ):
        try:
            limits = replace(limits, **{attr: max(low, int(values[name]))})
        except (KeyError, ValueError):
            pass  # not reported, or garbled: keep the default
    units = _units(values.get("RateUnit", ""), unit_names)
    if units:
        limits = replace(limits, rate_units=units)
    return limits
