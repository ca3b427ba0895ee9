"""Simulated charge points: EV SoC dynamics, and the stations driven by the CSMS over V2X."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from control.adapters.ocpp_csms import OcppCsms
from control.sim.ocpp_stations import Ev, SimStation, run_station, run_stations

UNTIL = datetime.now(UTC) + timedelta(days=1)


def test_ev_soc_follows_power_and_limits():
    ev = Ev(soc_pct=50.0, capacity_wh=100_000.0, max_power_w=20_000.0, v2g=True)
    assert ev.step(50_000.0, 3600) == 20_000.0 and ev.soc_pct == pytest.approx(70.0)
    assert ev.step(-10_000.0, 3600) == -10_000.0 and ev.soc_pct == pytest.approx(60.0)
    no_v2g = Ev(soc_pct=50.0, v2g=False)
    assert no_v2g.step(-10_000.0, 3600) == 0.0 and no_v2g.soc_pct == 50.0
    full = Ev(soc_pct=100.0)
    assert full.step(10_000.0, 60) == 0.0


def test_station_applies_profiles_in_w_and_a_and_rejects_discharge_without_v2g():
    station = SimStation("cp", Ev(v2g=False))
    schedule = {
        "charging_rate_unit": "A",
        "charging_schedule_period": [{"start_period": 0, "limit": 16.0}],
    }
    profile = {"id": 1, "charging_profile_kind": "Absolute", "charging_schedule": [schedule]}
    assert station.apply_profile(profile) == "Accepted"
    assert station.wanted_power_w(datetime.now(UTC)) == pytest.approx(16 * 230 * 3)
    discharge = {
        "charging_rate_unit": "W",
        "charging_schedule_period": [{"start_period": 0, "setpoint": -5000.0}],
    }
    assert station.apply_profile(profile | {"charging_schedule": [discharge]}) == "Rejected"
    assert station.apply_update(1, {"limit": 1000.0}) == "Rejected"  # not a Dynamic profile


def test_csms_drives_sim_stations_soc_rises_charging_and_falls_discharging():
    async def body():
        async with OcppCsms({"charger-1": "a", "charger-5": "b"}, site_id="s", port=0) as csms:
            v2g = SimStation("charger-1", Ev(soc_pct=50.0, capacity_wh=50_000.0), "2.1")
            plain = SimStation(
                "charger-5", Ev(soc_pct=50.0, capacity_wh=50_000.0, v2g=False), "2.0.1"
            )
            tasks = [
                asyncio.create_task(
                    run_station(s, csms.url(), pw, meter_interval_s=0.05, time_scale=200)
                )
                for s, pw in ((v2g, "a"), (plain, "b"))
            ]
            c1 = await csms.wait_for_station("charger-1", 5)
            c5 = await csms.wait_for_station("charger-5", 5)
            assert (await c1.set_power(22_000, UNTIL)).status == "Accepted"
            await asyncio.sleep(0.5)
            charged = v2g.ev.soc_pct
            assert (await c1.set_power(-22_000, UNTIL)).status == "Accepted"
            update = await c1.set_power(-11_000, UNTIL)  # intraday change of the Dynamic profile
            await asyncio.sleep(0.5)
            discharged = v2g.ev.soc_pct
            refused = await c5.set_power(-11_000, UNTIL)  # 2.0.1: clamped to 0 W
            await asyncio.sleep(0.3)
            metered = await c1.power()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return charged, discharged, update, refused, metered, plain

    charged, discharged, update, refused, metered, plain = asyncio.run(asyncio.wait_for(body(), 20))
    assert charged > 50.0 and discharged < charged
    assert update.action == "UpdateDynamicSchedule" and update.status == "Accepted"
    assert refused.fallbacks == ["V2X"] and plain.power_w == 0.0
    assert metered == pytest.approx(-11_000.0)


def test_run_stations_stops_on_the_event():
    async def body():
        async with OcppCsms({"charger-1": "a", "charger-2": "b"}, site_id="s", port=0) as csms:
            stop = asyncio.Event()
            runner = asyncio.create_task(
                run_stations(
                    csms.url(),
                    ["charger-1", "charger-2"],
                    {"charger-1": "a", "charger-2": "b"},
                    meter_interval_s=0.05,
                    stop=stop,
                )
            )
            await csms.wait_for_count(2, 5)
            while not all(csms.ctx.transactions.active(s) for s in ("charger-1", "charger-2")):
                await asyncio.sleep(0.02)
            stop.set()
            return await runner

    stations = asyncio.run(asyncio.wait_for(body(), 20))
    assert [s.seq_no > 0 for s in stations] == [True, True]
