"""Profile payloads: units, periods, V2X fields, the offline fail-safe and ocpp 2.1.0 pitfalls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ocpp.charge_point import snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, _validate_payload

from control.adapters.ocpp_charger import wire_payload
from control.adapters.ocpp_limits import parse_limits
from control.adapters.ocpp_profiles import (
    TX_PROFILE,
    StationLimits,
    Target,
    dynamic_update_21,
    profile_16,
    profile_21,
    profile_201,
    to_rate,
)
from control.adapters.ocpp_wire import per_phase_keys, utc_z

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
UNTIL = NOW + timedelta(minutes=15)
W_LIMITS = StationLimits(periods_per_schedule=24, rate_units=("A", "W"), max_stack_level=8)


def valid(version: str, request) -> dict:
    payload = wire_payload(request)
    _validate_payload(Call("1", type(request).__name__, payload), version)
    return payload


def test_watts_preferred_and_amps_per_phase_as_fallback():
    assert W_LIMITS.rate_unit == "W"
    assert StationLimits().rate_unit == "A"
    assert to_rate(22_000, "W", W_LIMITS) == 22_000
    assert to_rate(22_000, "A", StationLimits()) == pytest.approx(31.9)  # 22 kW / (3 x 230 V)


def test_periods_cut_to_the_station_limit_and_a_late_first_slot_holds_zero():
    slots = [(NOW + timedelta(minutes=15 * i), 1000.0 * i) for i in range(1, 6)]
    limits = StationLimits(periods_per_schedule=3, rate_units=("W",))
    payload = valid("2.0.1", profile_201(slots, UNTIL, NOW, limits, Target(), 0))
    periods = payload["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"]
    assert periods == [
        {"startPeriod": 0, "limit": 0.0},
        {"startPeriod": 900, "limit": 1000.0},
        {"startPeriod": 1800, "limit": 2000.0},
    ]


@pytest.mark.parametrize("build,version", [(profile_16, "1.6"), (profile_201, "2.0.1")])
def test_16_and_201_profiles_validate_and_clamp_discharge(build, version):
    payload = valid(version, build([(NOW, -7000.0)], UNTIL, NOW, W_LIMITS, Target(), 1))
    profile = payload.get("chargingProfile") or payload["csChargingProfiles"]
    schedule = profile["chargingSchedule"]
    schedule = schedule[0] if isinstance(schedule, list) else schedule
    # no negative limit: these versions cannot discharge
    assert schedule["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 0.0}]


def test_tx_profile_carries_the_transaction():
    target = Target(TX_PROFILE, 1, "42")
    p16 = valid("1.6", profile_16([(NOW, 5000.0)], UNTIL, NOW, W_LIMITS, target, 1))
    p201 = valid("2.0.1", profile_201([(NOW, 5000.0)], UNTIL, NOW, W_LIMITS, target, 1))
    assert p16["csChargingProfiles"]["transactionId"] == 42 and p16["connectorId"] == 1
    assert p201["chargingProfile"]["transactionId"] == "42" and p201["evseId"] == 1


def test_v2x_discharge_is_a_negative_central_setpoint_with_the_offline_failsafe():
    request = profile_21([(NOW, -11_000.0)], UNTIL, NOW, W_LIMITS, Target(), 1, 600, True)
    profile = valid("2.1", request)["chargingProfile"]
    period = profile["chargingSchedule"][0]["chargingSchedulePeriod"][0]
    assert period["operationMode"] == "CentralSetpoint"
    assert period["setpoint"] == -11_000 and period["dischargeLimit"] == -11_000
    assert profile["maxOfflineDuration"] == 600 and profile["invalidAfterOfflineDuration"]
    assert profile["chargingProfileKind"] == "Dynamic"


def test_v2x_charging_stays_charging_only_and_without_v2x_discharge_is_clamped():
    charge = profile_21([(NOW, 7000.0)], UNTIL, NOW, W_LIMITS, Target(), 1, 600, False)
    no_v2x = profile_21([(NOW, -7000.0)], UNTIL, NOW, W_LIMITS, Target(), 1, 600, False, False)
    for request in (charge, no_v2x):
        period = valid("2.1", request)["chargingProfile"]["chargingSchedule"][0][
            "chargingSchedulePeriod"
        ][0]
        assert period["operationMode"] == "ChargingOnly" and period["limit"] >= 0


def test_update_dynamic_schedule_payload():
    payload = valid("2.1", dynamic_update_21(2, -5000.0, W_LIMITS))
    assert payload == {
        "chargingProfileId": 2,
        "scheduleUpdate": {"setpoint": -5000.0, "dischargeLimit": -5000.0},
    }


def test_pitfall_timestamps_go_out_with_z():
    request = profile_21([(NOW, 1000.0)], UNTIL, NOW, W_LIMITS, Target(), 1, 600, False)
    profile = wire_payload(request)["chargingProfile"]
    assert profile["validTo"] == "2025-06-01T12:15:00.000Z"
    assert profile["chargingSchedule"][0]["startSchedule"].endswith("Z")
    assert utc_z(datetime(2025, 1, 1, 1, tzinfo=UTC) + timedelta(hours=1)).endswith("02:00:00.000Z")
    with pytest.raises(ValueError):
        utc_z(datetime(2025, 1, 1))


def test_pitfall_per_phase_keys_are_broken_in_ocpp_2_1_0_and_never_sent():
    # the library bug: limit_l2 becomes limitL2, which the 2.1 schema does not allow
    assert snake_to_camel_case({"limit_l2": 1.0}) == {"limitL2": 1.0}
    bad = {"startPeriod": 0, "limit": 1.0, "limitL2": 1.0}
    profile = {
        "id": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [{"id": 1, "chargingRateUnit": "W", "chargingSchedulePeriod": [bad]}],
    }
    with pytest.raises(OCPPError):
        _validate_payload(
            Call("1", "SetChargingProfile", {"evseId": 0, "chargingProfile": profile}), "2.1"
        )
    # so our payloads carry total-power fields only
    requests = [
        profile_21(
            [(NOW, -1.0), (NOW + timedelta(minutes=15), 1.0)],
            UNTIL,
            NOW,
            W_LIMITS,
            Target(),
            1,
            60,
            False,
        ),
        dynamic_update_21(1, -1.0, W_LIMITS),
        profile_201([(NOW, 1.0)], UNTIL, NOW, W_LIMITS, Target(), 1),
    ]
    assert all(per_phase_keys(wire_payload(r)) == [] for r in requests)
    assert per_phase_keys({"a": [{"limit_L2": 1, "setpointL3": 2}]}) == ["limit_L2", "setpointL3"]


def test_limits_parsed_from_getvariables_and_getconfiguration():
    class R:
        get_variable_result = [
            {
                "attribute_status": "Accepted",
                "attribute_value": "5",
                "variable": {"name": "PeriodsPerSchedule"},
            },
            {
                "attribute_status": "Accepted",
                "attribute_value": "W",
                "variable": {"name": "RateUnit"},
            },
            {"attribute_status": "UnknownVariable", "variable": {"name": "ProfileStackLevel"}},
        ]
        configuration_key = [
            {"key": "ChargingScheduleAllowedChargingRateUnit", "value": "Current,Power"},
            {"key": "ChargeProfileMaxStackLevel", "value": "3"},
            {"key": "ChargingScheduleMaxPeriods", "value": "garbled"},
        ]

    base = StationLimits()
    assert parse_limits("2.1", R, base) == StationLimits(5, ("W",), 0)
    assert parse_limits("1.6", R, base) == StationLimits(1, ("A", "W"), 3)
