"""Fuzz: garbled OCPP-J frames from an authenticated station, over a real websocket.

Contract: a CALL whose message id can be read gets exactly one answer, a CALLRESULT or a
CALLERROR with an OCPP error code (never ``InternalError``: that would be a handler crashing
on input it should have refused); any other frame is dropped (OCPP-J ignores unknown
message types, and without a message id there is nothing to answer). The connection stays
usable, a frame beyond the size limit closes only that connection, and afterwards a
well-behaved station still boots.
"""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from tests.fuzz.loopback_csms import answers_until, call, running_csms, station
from tests.fuzz.strategies import ABSURD_NUMBERS, bounded, json_values

PROTOCOLS = ("ocpp2.1", "ocpp2.0.1", "ocpp1.6")
ERROR_CODES = {  # OCPP 2.x, and 1.6 with its spellings; InternalError left out on purpose
    *("FormatViolation", "FormationViolation", "GenericError", "MessageTypeNotSupported"),
    *("NotImplemented", "NotSupported", "OccurrenceConstraintViolation", "ProtocolError"),
    *("OccurenceConstraintViolation", "PropertyConstraintViolation", "RpcFrameworkError"),
    *("SecurityError", "TypeConstraintViolation"),
}
TIMES = st.sampled_from(
    ["2025-01-01T00:00:00Z", "2025-01-01T00:00:00.000+01:00", "2025-01-01T00:00:00", "garbage"]
    + ["", "2025-13-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]
)
NUMBERS = ABSURD_NUMBERS | st.sampled_from([1.5, 2**31, "NaN", "1e400"])
SAMPLED_VALUE = st.fixed_dictionaries(
    {"value": NUMBERS},
    optional={
        "measurand": st.sampled_from(["Power.Active.Import", "Energy.Active.Import.Register"]),
        "unitOfMeasure": st.fixed_dictionaries(
            {}, optional={"unit": st.sampled_from(["W", "kWh", "x"]), "multiplier": NUMBERS}
        ),
        "phase": st.just("L1"),
    },
)
METER_VALUE = st.fixed_dictionaries(
    {"timestamp": TIMES, "sampledValue": st.lists(SAMPLED_VALUE, min_size=1, max_size=3)}
)
BOOT = {
    "ocpp2.1": {"chargingStation": {"model": "m", "vendorName": "v"}, "reason": "PowerUp"},
    "ocpp2.0.1": {"chargingStation": {"model": "m", "vendorName": "v"}, "reason": "PowerUp"},
    "ocpp1.6": {"chargePointModel": "m", "chargePointVendor": "v"},
}
START_16 = {"connectorId": 1, "idTag": "t", "meterStart": 100, "timestamp": "x"}
PAYLOADS = {  # near-valid payloads of the actions the CSMS handles, in 2.x and 1.6 names
    "BootNotification": st.sampled_from(list(BOOT.values())),
    "Heartbeat": st.just({}),
    "StatusNotification": st.fixed_dictionaries(
        {"timestamp": TIMES, "connectorStatus": st.just("Available"), "evseId": NUMBERS},
        optional={"connectorId": NUMBERS, "status": st.just("Available")},
    ),
    "MeterValues": st.fixed_dictionaries(
        {"meterValue": st.lists(METER_VALUE, min_size=1, max_size=2)},
        optional={"evseId": NUMBERS, "connectorId": NUMBERS},
    ),
    "TransactionEvent": st.fixed_dictionaries(
        {
            "eventType": st.sampled_from(["Started", "Updated", "Ended"]),
            "timestamp": TIMES,
            "triggerReason": st.just("Authorized"),
            "seqNo": NUMBERS,
            "transactionInfo": st.fixed_dictionaries({"transactionId": st.text(max_size=4)}),
        },
        optional={"meterValue": st.lists(METER_VALUE, min_size=1, max_size=2)},
    ),
    "StartTransaction": st.fixed_dictionaries(
        {"connectorId": NUMBERS, "idTag": st.just("t"), "meterStart": NUMBERS, "timestamp": TIMES}
    ),
    "StopTransaction": st.fixed_dictionaries(
        {"meterStop": NUMBERS, "timestamp": TIMES, "transactionId": NUMBERS},
        optional={"transactionData": st.lists(METER_VALUE, max_size=2)},
    ),
}


@st.composite
def garbled_frame(draw) -> str | bytes:
    """A frame a broken or hostile station might send: a CALL of a known or unknown action
    with a near-valid or random payload, a JSON value of any shape, or bytes and text."""
    kind = draw(st.sampled_from(["call", "call", "call", "shape", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=60) | st.text(max_size=60))
    if kind == "shape":
        frame = draw(st.lists(json_values(), max_size=6))
        if frame and draw(st.booleans()):
            frame[0] = draw(st.sampled_from([2, 3, 4, 5, 6, 7, -1, "2", 2.0]))
        return json.dumps(frame)
    action = draw(st.sampled_from(sorted(PAYLOADS)) | json_values())
    near_valid = isinstance(action, str) and action in PAYLOADS and draw(st.booleans())
    payload = draw(PAYLOADS[action] if near_valid else json_values())
    return json.dumps([2, draw(st.text(max_size=12)), action, payload])


def expected_answer_ids(frame: str | bytes) -> list[list]:
    """The message ids the CSMS may answer ``frame`` with, as alternatives: exactly the id
    of a ``[2, "<id>", ...]`` CALL; for a CALL whose id is no string (OCPP-J wants one),
    that id or nothing; for anything else nothing."""
    try:
        decoded = json.loads(frame)
    except (ValueError, RecursionError):
        return [[]]
    if not (isinstance(decoded, list) and len(decoded) >= 2 and decoded[0] == 2):
        return [[]]
    return [[decoded[1]]] if isinstance(decoded[1], str) else [[], [decoded[1]]]


def well_formed_answer(frame: list) -> bool:
    """A CALLRESULT ``[3, id, {...}]`` or a CALLERROR with an allowed code."""
    if frame[0] == 3:
        return len(frame) == 3 and isinstance(frame[2], dict)
    return (
        frame[0] == 4
        and len(frame) == 5
        and frame[2] in ERROR_CODES
        and isinstance(frame[3], str)
        and isinstance(frame[4], dict)
    )


def boots(csms, station_id: str = "cp-good") -> bool:
    """Whether a well-behaved station's BootNotification is accepted, in every version."""
    for protocol in PROTOCOLS:
        with station(csms, station_id, protocol) as ws:
            answer = call(ws, "BootNotification", BOOT[protocol])
        if answer[0] != 3 or answer[2]["status"] != "Accepted":
            return False
    return True


def send_and_probe(csms, protocol: str, frame: str | bytes) -> None:
    """Send ``frame`` and a Heartbeat probe on a fresh connection; check the answers."""
    probe = f"probe-{uuid.uuid4()}"
    with station(csms, "cp-fuzz", protocol) as ws:
        ws.send(frame)
        ws.send(json.dumps([2, probe, "Heartbeat", {}]))
        answers, probe_answer = answers_until(ws, probe)
    assert probe_answer[0] == 3 and probe_answer[2]["currentTime"].endswith("Z")
    assert all(well_formed_answer(a) for a in answers), answers
    assert [a[1] for a in answers] in expected_answer_ids(frame)


def test_garbled_frames_are_answered_or_dropped_and_the_csms_keeps_serving(time_limit_30s):
    multiplier = {"timestamp": "2025-01-01T00:00:00Z", "sampledValue": [{"value": 1}]}
    multiplier["sampledValue"][0]["unitOfMeasure"] = {"multiplier": 10**7}

    @given(protocol=st.sampled_from(PROTOCOLS), frame=garbled_frame())
    @example(  # 10 ** 10**7 held the event loop 10 s (10**9: hours), stalling every station
        protocol="ocpp2.0.1",
        frame=json.dumps([2, "m", "MeterValues", {"evseId": 1, "meterValue": [multiplier]}]),
    )
    @example(protocol="ocpp2.1", frame='[2, "a", ["MakeCoffee"], {}]')  # closed the connection
    @example(protocol="ocpp1.6", frame='[2, "b", "Heartbeat"]')  # dropped, never answered
    @example(protocol="ocpp2.0.1", frame='[2, 5, "Heartbeat", {}]')  # an id that is no string
    @example(  # InternalError: a handler crashed on an unreadable timestamp
        protocol="ocpp1.6", frame=json.dumps([2, "c", "StartTransaction", START_16])
    )
    @bounded(250)
    def garbled(protocol, frame):
        send_and_probe(csms, protocol, frame)

    with running_csms() as csms:
        garbled()
        assert boots(csms)


def test_a_frame_beyond_the_size_limit_closes_only_its_connection(time_limit_30s):
    with running_csms() as csms:
        with station(csms, "cp-fuzz", "ocpp2.0.1") as ws, pytest.raises(ConnectionClosed) as closed:
            ws.send(json.dumps([2, "big", "DataTransfer", {"data": "x" * (2 << 20)}]))
            answers_until(ws, "big")
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # too big
        assert boots(csms)


def meter_value(timestamp: str, wh: float) -> list[dict]:
    return [{"timestamp": timestamp, "sampledValue": [{"value": wh}]}]


def test_a_refused_transaction_event_is_recorded_when_resent_corrected(time_limit_30s):
    event = {
        "eventType": "Updated",
        "triggerReason": "MeterValuePeriodic",
        "timestamp": "2025-01-01T10:00:00Z",
        "seqNo": 7,
        "transactionInfo": {"transactionId": "tx-1"},
    }
    with running_csms() as csms, station(csms, "cp-tx", "ocpp2.0.1") as ws:
        bad = call(ws, "TransactionEvent", event | {"meterValue": meter_value("noon", 5.0)})
        good = call(
            ws, "TransactionEvent", event | {"meterValue": meter_value(event["timestamp"], 5.0)}
        )
        latest = csms.ctx.telemetry.latest.get(("cp-tx", "energy_wh"))
    assert bad[2] == "PropertyConstraintViolation" and "meterValue[0].timestamp" in str(bad[4])
    assert good[0] == 3 and latest == 5.0  # recorded, not skipped as a resend of seqNo 7


def test_a_refused_16_start_and_stop_are_recorded_when_resent_corrected(time_limit_30s):
    start, stop = START_16, {"meterStop": 900, "timestamp": "x", "transactionId": 1}
    with running_csms() as csms, station(csms, "cp-tx", "ocpp1.6") as ws:
        refused = [call(ws, "StartTransaction", start)[2], call(ws, "StopTransaction", stop)[2]]
        started = call(ws, "StartTransaction", start | {"timestamp": "2025-01-01T10:00:00Z"})
        after_start = csms.ctx.telemetry.latest.get(("cp-tx", "energy_wh"))
        stop |= {"timestamp": "2025-01-01T11:00:00Z", "transactionId": started[2]["transactionId"]}
        stopped = call(ws, "StopTransaction", stop)
        after_stop = csms.ctx.telemetry.latest.get(("cp-tx", "energy_wh"))
    assert refused == ["PropertyConstraintViolation"] * 2
    assert started[0] == 3 and after_start == 100.0
    assert stopped[0] == 3 and after_stop == 900.0
