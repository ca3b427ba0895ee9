"""Device power limits and the setpoints that break them."""

import math

import polars as pl

from pipelines.planning.limits import device_limits, limit_violations
from pipelines.planning.site_scenario import BatterySpec, SiteSpec

SPEC = SiteSpec(
    "s", "Europe/Berlin", 400, 50, 0, 0, BatterySpec("battery-1", 200, 100, 80, 0.9, 10, 95)
)
VEHICLES = pl.DataFrame(
    {
        "vehicle_id": ["truck-1", "truck-2"],
        "max_charge_kw": [22.0, 22.0],
        "max_discharge_kw": [11.0, 11.0],
        "v2g_allowed": [True, False],
        "charger_id": ["charger-1", "charger-2"],
    }
)
JOBS = pl.DataFrame({"device_id": ["load-shredder", "load-shredder"], "power_kw": [60.0, 40.0]})


def test_limits_per_device():
    lim = {
        r["device_id"]: (r["min_w"], r["max_w"])
        for r in device_limits(SPEC, VEHICLES, JOBS).to_dicts()
    }
    assert lim["battery-1"] == (-80_000, 100_000)
    assert lim["charger-1"] == (-11_000, 22_000)
    assert lim["charger-2"] == (0, 22_000)  # no V2G permission: no discharge
    assert lim["load-shredder"] == (0, 60_000)
    assert lim["pv-curtailment"][0] == 0 and math.isinf(lim["pv-curtailment"][1])


def test_violations_name_the_row_and_the_problem():
    sp = pl.DataFrame(
        {
            "device_id": ["battery-1", "charger-2", "charger-1", "robot"],
            "power_w": [100_000.5, -5_000.0, 22_000.0, 1.0],
        }
    )
    bad = limit_violations(sp, device_limits(SPEC, VEHICLES, JOBS))
    assert dict(zip(bad["device_id"], bad["problem"], strict=True)) == {
        "charger-2": "below minimum",
        "robot": "unknown device",
    }
