"""The CSMS on loopback against raw websocket stations: handshake rules, handlers, the
capability fallbacks, ``suppress=False`` and misbehaving peers. Every test is time-bounded."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from ocpp.exceptions import OCPPError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from control.adapters.ocpp_charger import StationUnavailable
from control.adapters.ocpp_csms import OcppCsms
from control.adapters.ocpp_profiles import StationLimits

PASSWORDS = {"cp-1": "pw-1", "cp-2": "pw-2", "cp 3/x": "pw-3"}
UNTIL = datetime.now(UTC) + timedelta(days=1)


def run(coro, timeout_s: float = 20.0):
    return asyncio.run(asyncio.wait_for(coro, timeout_s))


def auth(station: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{station}:{password}".encode()).decode()}


def station(csms: OcppCsms, sid: str, proto: str = "ocpp2.1", password: str | None = None):
    from urllib.parse import quote

    return connect(
        f"ws://127.0.0.1:{csms.port}/{quote(sid, safe='')}",
        subprotocols=[proto] if isinstance(proto, str) else proto,
        additional_headers=auth(sid, password or PASSWORDS[sid]),
    )


async def call(ws, action: str, payload: dict, uid: str = "u1") -> list:
    """Send a call and return its answer; the CSMS's own calls (it reads the limits after
    boot) are answered NotImplemented on the way."""
    await ws.send(json.dumps([2, uid, action, payload]))
    while True:
        msg = json.loads(await ws.recv())
        if msg[0] == 2:
            await ws.send(json.dumps([4, msg[1], "NotImplemented", "", {}]))
        elif msg[1] == uid:
            return msg


async def answer(ws, respond) -> None:
    """Answer the CSMS's calls: ``respond(action, payload)`` gives a result payload, an
    ``("error", code)`` pair, or None for no answer at all."""
    with contextlib.suppress(ConnectionClosed):
        await _answer(ws, respond)


async def _answer(ws, respond) -> None:
    async for raw in ws:
        msg = json.loads(raw)
        if msg[0] != 2:
            continue
        out = respond(msg[2], msg[3])
        if isinstance(out, tuple):
            await ws.send(json.dumps([4, msg[1], out[1], "", {}]))
        elif out is not None:
            await ws.send(json.dumps([3, msg[1], out]))


def csms(**kw) -> OcppCsms:
    return OcppCsms(PASSWORDS, site_id="test-site", port=0, **kw)


BOOT_21 = {"chargingStation": {"model": "m", "vendorName": "v"}, "reason": "PowerUp"}


def test_handshake_refuses_unknown_stations_bad_credentials_and_missing_subprotocols():
    async def body():
        async with csms() as server:
            codes = []
            for sid, pw, proto in [
                ("nobody", "pw-1", "ocpp2.1"),
                ("cp-1", "wrong", "ocpp2.1"),
                ("cp-1", "pw-1", "ocpp0.9"),
            ]:
                with pytest.raises(InvalidStatus) as refused:
                    async with connect(
                        f"ws://127.0.0.1:{server.port}/{sid}",
                        subprotocols=[proto],
                        additional_headers=auth(sid, pw),
                    ):
                        pass
                codes.append(refused.value.response.status_code)
            with pytest.raises(InvalidStatus) as no_auth:
                async with connect(server.url("cp-1"), subprotocols=["ocpp2.1"]):
                    pass
            assert no_auth.value.response.headers["WWW-Authenticate"].startswith("Basic")
            return codes

    assert run(body()) == [404, 401, 400]


def test_server_order_picks_the_subprotocol_and_url_encoded_ids_work():
    async def body():
        async with csms() as server:
            async with station(server, "cp-1", ["ocpp1.6", "ocpp2.0.1"]) as ws:
                picked = ws.subprotocol
            async with station(server, "cp 3/x", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"]) as ws:
                await server.wait_for_station("cp 3/x", 5)
                return picked, ws.subprotocol

    assert run(body()) == ("ocpp2.0.1", "ocpp2.1")


def test_boot_and_heartbeat_answered_with_z_timestamps():
    async def body():
        async with csms() as server, station(server, "cp-1") as ws:
            boot = await call(ws, "BootNotification", BOOT_21)
            beat = await call(ws, "Heartbeat", {}, "u2")
            return boot, beat

    boot, beat = run(body())
    assert boot[2]["status"] == "Accepted" and boot[2]["currentTime"].endswith("Z")
    assert beat[2]["currentTime"].endswith("Z")


def test_16_start_stop_transaction_idempotent_and_meter_values_landed(tmp_path):
    start = {
        "connectorId": 1,
        "idTag": "tag",
        "meterStart": 100,
        "timestamp": "2025-06-01T12:00:00Z",
    }
    meter = {
        "connectorId": 1,
        "meterValue": [
            {
                "timestamp": "2025-06-01T12:05:00Z",
                "sampledValue": [
                    {"value": "7.4", "measurand": "Power.Active.Import", "unit": "kW"}
                ],
            }
        ],
    }

    async def body():
        async with csms(raw_root=tmp_path, flush_interval_s=0.05) as server:
            async with station(server, "cp-1", "ocpp1.6") as ws:
                await call(
                    ws, "BootNotification", {"chargePointVendor": "v", "chargePointModel": "m"}
                )
                first = await call(ws, "StartTransaction", start, "s1")
                again = await call(ws, "StartTransaction", start, "s2")
                await call(ws, "MeterValues", meter, "m1")
                stop = {"meterStop": 900, "timestamp": "2025-06-01T13:00:00Z"}
                stop["transactionId"] = first[2]["transactionId"]
                await call(ws, "StopTransaction", stop, "t1")
                await call(ws, "StopTransaction", stop, "t2")
                charger = server.chargers["cp-1"]
                power = await charger.power()
                limits = await charger.limits()
                return first, again, power, charger.handler.duplicates, limits, charger.capabilities

    first, again, power, duplicates, limits, capabilities = run(body())
    assert limits == StationLimits() and capabilities == {"GetConfiguration": "NotImplemented"}
    assert first[2]["transactionId"] == again[2]["transactionId"]
    assert power == pytest.approx(7400.0) and duplicates == 2
    rows = pl.read_parquet(list(tmp_path.rglob("*.parquet"))).sort("ts_utc")
    assert rows["metric"].to_list() == ["energy_wh", "power_w", "energy_wh"]
    assert rows["value"].to_list() == [100.0, 7400.0, 900.0]
    assert set(rows["device_id"]) == {"cp-1"} and set(rows["site_id"]) == {"test-site"}


def test_not_implemented_limits_and_rejected_dynamic_profile_fall_back_and_are_recorded():
    sent = []

    def respond(action, payload):
        sent.append((action, payload))
        if action == "GetVariables":
            return ("error", "NotImplemented")
        kind = payload["chargingProfile"]["chargingProfileKind"]
        return {"status": "Rejected" if kind == "Dynamic" else "Accepted"}

    async def body():
        async with csms() as server, station(server, "cp-1") as ws:
            task = asyncio.create_task(answer(ws, respond))
            charger = await server.wait_for_station("cp-1", 5)
            first = await charger.set_power(11_040, UNTIL)
            second = await charger.set_power(6_900, UNTIL)
            task.cancel()
            return first, second, charger.capabilities

    first, second, capabilities = run(body())
    assert capabilities == {"GetVariables": "NotImplemented", "Dynamic": "Rejected"}
    assert first.status == "Accepted" and first.fallbacks == ["Dynamic"]
    assert second.fallbacks == []  # Dynamic is not tried again
    schedule = second.payload["chargingProfile"]["chargingSchedule"][0]
    assert schedule["chargingRateUnit"] == "A"  # limits unknown: the safe default unit
    assert schedule["chargingSchedulePeriod"][0]["limit"] == 10.0  # 6.9 kW / (3 x 230 V)
    assert [a for a, _ in sent] == ["GetVariables"] + ["SetChargingProfile"] * 3


def test_pitfall_call_errors_raise_with_suppress_false():
    async def body():
        async with csms() as server, station(server, "cp-1") as ws:
            task = asyncio.create_task(answer(ws, lambda a, p: ("error", "GenericError")))
            charger = await server.wait_for_station("cp-1", 5)
            with pytest.raises(OCPPError):
                await charger.set_power(1000, UNTIL)
            task.cancel()

    run(body())


def test_malformed_json_and_unknown_actions_are_logged_and_answered_where_possible(caplog):
    async def body():
        async with csms() as server, station(server, "cp-1") as ws:
            await ws.send("{not json")
            await ws.send(json.dumps({"not": "a list"}))
            unknown = await call(ws, "MakeCoffee", {}, "x1")
            known = await call(
                ws, "NotifyEvent", {}, "x2"
            )  # a 2.1 action this CSMS does not handle
            invalid = await call(ws, "Heartbeat", {"extra": 1}, "x3")
            still = await call(ws, "Heartbeat", {}, "x4")
            return (
                unknown,
                known,
                invalid,
                still,
                dict(server.chargers["cp-1"].handler.misbehaviour),
            )

    unknown, known, invalid, still, counts = run(body())
    assert unknown[:3] == [4, "x1", "NotSupported"]
    assert known[:3] == [4, "x2", "NotImplemented"]
    assert invalid[0] == 4 and invalid[1] == "x3"
    assert still[0] == 3 and still[2]["currentTime"].endswith("Z")
    assert counts["malformed"] == 2 and counts["unknown_action"] == 2
    assert "not OCPP-J" in caplog.text


def test_unanswered_call_times_out_and_the_station_stays_usable():
    answers = iter([None, {"status": "Accepted"}])

    def respond(action, payload):
        return {"getVariableResult": []} if action == "GetVariables" else next(answers)

    async def body():
        async with csms(response_timeout_s=0.5) as server, station(server, "cp-1") as ws:
            task = asyncio.create_task(answer(ws, respond))
            charger = await server.wait_for_station("cp-1", 5)
            assert await charger.limits() == StationLimits()  # a schema-breaking answer
            assert charger.capabilities == {"GetVariables": "FormatViolation"}
            start = time.monotonic()
            with pytest.raises(StationUnavailable):
                await charger.set_power(1000, UNTIL)
            waited = time.monotonic() - start
            ack = await charger.set_power(1000, UNTIL)
            task.cancel()
            return waited, ack.status

    waited, status = run(body())
    assert 0.4 < waited < 3 and status == "Accepted"


def test_disconnect_mid_call_fails_fast_not_after_the_timeout():
    async def body():
        async with csms(response_timeout_s=30) as server:
            ws = await station(server, "cp-1")
            charger = await server.wait_for_station("cp-1", 5)
            pending = asyncio.create_task(charger.set_power(1000, UNTIL))
            await ws.recv()  # the CSMS's GetVariables arrives; hang up instead of answering
            await ws.close()
            start = time.monotonic()
            with pytest.raises(StationUnavailable):
                await pending
            return time.monotonic() - start, "cp-1" in server.chargers

    waited, still_listed = run(body())
    assert waited < 2 and not still_listed


def test_transaction_event_flood_recorded_once_while_others_are_served():
    event = {
        "eventType": "Updated",
        "timestamp": "2025-06-01T12:00:00Z",
        "triggerReason": "MeterValuePeriodic",
        "seqNo": 7,
        "transactionInfo": {"transactionId": "tx-1"},
        "evse": {"id": 1},
        "meterValue": [
            {
                "timestamp": "2025-06-01T12:00:00Z",
                "sampledValue": [
                    {"value": 42.0, "measurand": "SoC", "unitOfMeasure": {"unit": "Percent"}}
                ],
            }
        ],
    }

    async def flood(ws, n):
        for i in range(n):
            await ws.send(json.dumps([2, f"f{i}", "TransactionEvent", event]))
        return [json.loads(await ws.recv()) for _ in range(n)]

    async def body():
        async with csms() as server:
            async with station(server, "cp-1") as noisy, station(server, "cp-2") as calm:
                flooding = asyncio.create_task(flood(noisy, 300))
                beats = [await call(calm, "Heartbeat", {}, f"h{i}") for i in range(5)]
                answers = await flooding
                handler = server.chargers["cp-1"].handler
                return answers, beats, handler.duplicates, server.ctx.transactions.active("cp-1")

    answers, beats, duplicates, active = run(body())
    assert all(a[0] == 3 for a in answers) and len(answers) == 300  # every resend is answered
    assert duplicates == 299 and active == ("tx-1", 1)
    assert all(b[0] == 3 for b in beats)


def test_reconnect_replaces_the_old_connection():
    async def body():
        async with csms() as server:
            async with station(server, "cp-1") as old:
                first = await server.wait_for_station("cp-1", 5)
                async with station(server, "cp-1") as new:
                    await asyncio.wait_for(first.closed.wait(), 5)
                    await call(new, "Heartbeat", {})
                    assert server.chargers["cp-1"] is not first
                    await asyncio.wait_for(old.wait_closed(), 5)

    run(body())
