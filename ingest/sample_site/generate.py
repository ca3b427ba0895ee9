"""Generate the whole sample site for a period."""

from __future__ import annotations

from dataclasses import dataclass

import holidays
import numpy as np
import polars as pl

from ingest.sample_site import battery, fleet, grid_mix, loads, pv, vampire
from ingest.sample_site.calendar import quarter_hours
from ingest.sample_site.config import SiteConfig
from ingest.sample_site.weather import weather_for_period

UTC_TS = pl.Datetime("us", "UTC")

# meter_id -> (kind, description, max_power_w)
METERS = {
    "grid-import": ("grid_import", "grid connection, import register", 1_000_000.0),
    "grid-export": ("grid_export", "grid connection, export register", 1_000_000.0),
    "pv-roof": ("pv", "rooftop PV, AC output of all inverters", 300_000.0),
    "load-building": ("load", "building base load (BDEW G25 profile)", 250_000.0),
    "load-shredder-2": ("load", "shredder line 2", 120_000.0),
    "load-3dprinters": ("load", "3D printer farm", 30_000.0),
    "load-hvac": ("load", "HVAC: heat pump and ventilation", 80_000.0),
    "load-lighting": ("load", "hall and office lighting", 40_000.0),
    "load-compressed-air": ("load", "compressed air", 50_000.0),
}


@dataclass(frozen=True)
class SampleSite:
    """Everything the sample site delivers, as frames (all synthetic, timestamps UTC).

    - ``meters``: site_id, meter_id, kind (grid_import, grid_export, pv, load),
      description, max_power_w [W].
    - ``meter_readings``: site_id, meter_id, ts_utc (interval start), interval_s (900),
      energy_wh [Wh] ≥ 0, to 0.1 Wh. Grid meters close the balance of every interval
      exactly: import − export = Σ loads + battery + chargers − PV.
    - ``telemetry``: site_id, device_id, ts_utc, metric, value, unit; each sample is
      the mean over the 15 minutes from ts_utc, so energy [Wh] = value × 0.25.
      Metrics: ``battery-1`` ``power_w`` [W] (+ charging, − discharging) and
      ``soc_pct`` [%] at the end of the interval; ``charger-1..N`` ``power_w`` [W]
      (+ charging; no V2G in the baseline); ``pv-inverter-1`` ``power_w`` [W], the AC
      output of the whole array, negative because it feeds the site bus (the sign
      convention of the data contract).
    - ``vampire_labels``: site_id, meter_id, start_utc, end_utc (exclusive),
      excess_power_w [W]: the injected ground truth, for evaluation only.
    - ``fleet_vehicles`` / ``fleet_trips``: see :mod:`ingest.sample_site.fleet`.
    - ``grid_mix`` / ``day_ahead_prices``: see :mod:`ingest.sample_site.grid_mix`
      (``source`` = ``synthetic``).
    """

    config: SiteConfig
    meters: pl.DataFrame
    meter_readings: pl.DataFrame
    telemetry: pl.DataFrame
    vampire_labels: pl.DataFrame
    fleet_vehicles: pl.DataFrame
    fleet_trips: pl.DataFrame
    grid_mix: pl.DataFrame
    day_ahead_prices: pl.DataFrame
    wind_solar_forecast: pl.DataFrame
    grid_load: pl.DataFrame


def meter_registry(cfg: SiteConfig) -> pl.DataFrame:
    return pl.DataFrame(
        [(cfg.site_id, m, kind, desc, cap) for m, (kind, desc, cap) in METERS.items()],
        schema=["site_id", "meter_id", "kind", "description", "max_power_w"],
        orient="row",
    )


def _long(ts: pl.Series, series_w: dict[str, np.ndarray], site_id: str) -> pl.DataFrame:
    return pl.concat(
        [
            pl.DataFrame(
                {
                    "site_id": site_id,
                    "meter_id": m,
                    "ts_utc": ts,
                    "interval_s": 900,
                    "energy_wh": np.round(w * 0.25, 1),
                }
            )
            for m, w in series_w.items()
        ]
    ).with_columns(pl.col("interval_s").cast(pl.Int32))


def generate_site(cfg: SiteConfig) -> SampleSite:
    """Generate the sample site over ``cfg.start <= day < cfg.end`` (UTC days).

    The same ``cfg`` gives identical frames. Meter readings satisfy the 15-minute grid
    balance: import − export = loads + battery + chargers − PV, to the 0.1 Wh rounding
    of the export format.
    """
    rng = np.random.default_rng(cfg.seed)
    sub = {
        name: np.random.default_rng([cfg.seed, i])
        for i, name in enumerate(["loads", "vampire", "fleet", "hvac"])
    }
    cal = quarter_hours(cfg.start, cfg.end, cfg.timezone)
    ts = cal["ts_utc"]
    weather = weather_for_period(cfg.start, cfg.end, cfg.try_region)
    hourly_pv = pv.pv_ac_power_w(weather, cfg)["ac_power_w"].to_numpy()
    pv_w = np.repeat(hourly_pv, 4)
    temp = np.repeat(weather["temp_air"].to_numpy(), 4)
    ghi = np.repeat((weather["direct_horizontal"] + weather["dhi"]).to_numpy(), 4)
    holiday_days = sorted(
        holidays.Germany(years=range(cfg.start.year - 1, cfg.end.year + 1), subdiv="BB")
    )

    shredder = loads.shredder_w(cal, sub["loads"])
    load_w = {
        "load-building": loads.building_base_w(cal, cfg.building_base_kwh_per_year, holiday_days),
        "load-shredder-2": shredder,
        "load-3dprinters": loads.printers_w(cal, sub["loads"]),
        "load-hvac": loads.hvac_w(cal, temp, sub["hvac"]),
        "load-lighting": loads.lighting_w(cal, ghi),
        "load-compressed-air": loads.compressed_air_w(shredder, sub["loads"]),
    }
    labels = vampire.inject_vampires(cal, load_w, sub["vampire"], cfg.site_id)
    vehicles = fleet.vehicles(cfg)
    trips = fleet.trips(cal, cfg, sub["fleet"])
    chargers_w = fleet.charge_on_arrival_w(cal, trips, vehicles)

    # round every series to the export's 0.1 Wh first, so the balance holds exactly
    q = lambda w: np.round(w * 0.25, 1) / 0.25  # noqa: E731
    load_w = {k: q(v) for k, v in load_w.items()}
    pv_w = q(pv_w)
    chargers_w = {k: q(v) for k, v in chargers_w.items()}
    demand = sum(load_w.values()) + sum(chargers_w.values())
    bat_w, soc = battery.self_consumption_dispatch(
        pv_w - demand,
        cfg.battery_capacity_kwh,
        cfg.battery_power_kw,
        cfg.battery_efficiency,
        cfg.battery_soc_min_pct,
        cfg.battery_soc_max_pct,
    )
    bat_w = q(bat_w)
    net = demand + bat_w - pv_w
    meter_w = {
        "grid-import": np.clip(net, 0, None),
        "grid-export": np.clip(-net, 0, None),
        "pv-roof": pv_w,
        **load_w,
    }
    readings = _long(ts, meter_w, cfg.site_id).sort("meter_id", "ts_utc")

    device_series = {
        ("battery-1", "power_w", "W"): bat_w,
        ("battery-1", "soc_pct", "%"): np.round(soc, 2),
        ("pv-inverter-1", "power_w", "W"): -pv_w,
    }
    device_series |= {(cid, "power_w", "W"): w for cid, w in chargers_w.items()}
    telemetry = pl.concat(
        [
            pl.DataFrame(
                {
                    "site_id": cfg.site_id,
                    "device_id": d,
                    "ts_utc": ts,
                    "metric": m,
                    "value": v.astype(float),
                    "unit": u,
                }
            )
            for (d, m, u), v in device_series.items()
        ]
    ).sort("device_id", "metric", "ts_utc")

    mix = grid_mix.grid_mix(cfg.start, cfg.end, cfg.seed, cfg.zone)
    del rng
    return SampleSite(
        config=cfg,
        meters=meter_registry(cfg),
        meter_readings=readings,
        telemetry=telemetry,
        vampire_labels=labels,
        fleet_vehicles=vehicles,
        fleet_trips=trips,
        grid_mix=mix,
        day_ahead_prices=grid_mix.day_ahead_prices(mix, cfg.seed),
        wind_solar_forecast=grid_mix.wind_solar_forecast(mix, cfg.seed),
        grid_load=grid_mix.grid_load(cfg.start, cfg.end, cfg.seed, cfg.zone),
    )
