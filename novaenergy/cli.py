"""The ``novaenergy`` command line: the composition root.

Exit codes: 0 success, 2 bad input (wrong flag, malformed file, bad setting),
1 any other failure. A user never sees a traceback for bad input.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1


class BadInput(Exception):
    """Input the user can fix: named in the message with what to do."""


def _cmd_demo(args, settings) -> int:
    from novaenergy.demo import run_demo

    result = run_demo(settings)
    s = result.summary
    print(f"NovaEnergy demo: site {s['site_id']}, {s['period']}")
    print("rows:")
    for view, n in s["rows"].items():
        print(f"  {view:<30} {n:>12,}")
    print("energy [MWh]:")
    for k, v in s["energy"].items():
        print(f"  {k:<30} {v:>12,}")
    g = s["grid"]
    print(
        f"grid {g['zone']} ({g['mix']}): lifecycle intensity {g['annual_lifecycle_ci_g_per_kwh']} g/kWh, missing hours {g['missing_hours']}"
    )
    print(
        f"day-ahead intensity forecast: {g['forecast_hours']} hours, MAE {g['forecast_mae_g_per_kwh']} g/kWh "
        f"(persistence {g['persistence_mae_g_per_kwh']})"
    )
    v = s["vampire_loads"]
    print(
        f"vampire loads: {v['alerts']} alerts, {v['excess_kwh']} kWh, {v['excess_cost_eur']} EUR, "
        f"{v['excess_co2_kg']} kg CO2; largest: {v['largest']}"
    )
    for p in s["plans"]:
        print(
            f"{p['kind']} plan {p['horizon_utc']} UTC: {p['cost_eur']} EUR vs run-now baseline "
            f"{p['baseline_cost_eur']} EUR (avoided {p['avoided_cost_eur']} EUR, "
            f"{p['avoided_co2_kg']} kg CO2)"
        )
        filled = {k: v for k, v in p["input_fallback_slots"].items() if v}
        if filled:
            print(f"  inputs filled from earlier days [slots]: {filled}")
        for line in p["explanations"]:
            print(f"  shortfall: {line}")
    for basis, v in s["v2g"].items():
        print(
            f"V2G ({basis}): {v['vehicles']} vehicles, {v['discharged_kwh']} kWh discharged, "
            f"{v['amount_eur']} EUR to their owners"
        )
    for sc in s["scope2"]:
        print(
            f"Scope 2 {sc['year']}: location-based {sc['location_based_t_co2e']} t CO2e, "
            f"market-based {sc['market_based_t_co2e']} t CO2e (residual mix {sc['residual_mix']})"
        )
        print(
            f"  hourly CFE score {sc['hourly_cfe_score']:.1%} "
            f"(annual match {sc['annual_match_score']:.1%}); report {sc['pdf']}"
        )
    print(
        f"asset checks: {result.checks_passed} passed, {len(result.checks_failed)} failed {result.checks_failed or ''}"
    )
    print(f"report: {result.report_path}")
    return 0


def _cmd_ingest_meters(args, settings) -> int:
    path = Path(args.path)
    files = (
        sorted(p for p in path.iterdir() if p.suffix.lower() in {".csv", ".parquet"})
        if path.is_dir()
        else [path]
    )
    if not files or not all(f.exists() for f in files):
        raise BadInput(
            f"{path}: no such meter export (give a .csv or .parquet file, or a folder of them)"
        )

    from ingest.meter_files import MeterFileError
    from ingest.meter_landing import land_meter_file

    now = datetime.now(UTC)
    totals = [0, 0, 0, 0]
    for f in files:
        try:
            report = land_meter_file(
                f, settings.lake_root, args.timezone or settings.site_timezone, now
            )
        except MeterFileError as exc:
            raise BadInput(str(exc)) from exc
        print(report.summary())
        for i, k in enumerate(("rows_in", "accepted", "quarantined", "duplicates_ignored")):
            totals[i] += getattr(report, k)
    if len(files) > 1:
        print(
            f"total: {totals[0]} rows in, {totals[1]} accepted, {totals[2]} quarantined, {totals[3]} duplicates ignored"
        )
    return 0


def _cmd_carbon(args, settings) -> int:
    import polars as pl

    from ingest.entsoe_documents import (
        EntsoeDocumentError,
        generation_zone,
        read_document_text,
        read_flows_xml,
        read_generation_xml,
    )
    from pipelines.carbon_intensity import production_intensity
    from pipelines.emission_factors import load_factor_table
    from pipelines.flow_tracing import consumption_intensity

    documents, flow_files = args.entsoe_xml, [f for group in (args.flows or []) for f in group]
    for path in [*documents, *flow_files, *([args.factors] if args.factors else [])]:
        if not Path(path).is_file():
            raise BadInput(f"{path}: no such file")
    try:
        mixes = []
        for path in documents:
            # one document: it is the zone asked for; several: each names its own zone
            zone = (
                args.zone
                if len(documents) == 1
                else generation_zone(read_document_text(path), args.zone)
            )
            mixes.append(read_generation_xml(path, zone))
        flows = pl.concat([read_flows_xml(f) for f in flow_files]) if flow_files else None
    except EntsoeDocumentError as exc:
        raise BadInput(str(exc)) from exc
    mix = pl.concat(mixes)
    if mix.filter(pl.col("zone") == args.zone).is_empty():
        raise BadInput(f"no generation time series for zone {args.zone} in {documents}")
    try:
        version, factors = load_factor_table(args.factors)
    except Exception as exc:
        raise BadInput(
            f"{args.factors}: not a factor table ({exc}); see pipelines/data/emission_factors_default_v1.csv"
        ) from exc
    production = production_intensity(mix, factors, version)
    ci = production.filter(pl.col("zone") == args.zone)
    columns = [
        "hour_utc",
        "ci_direct_g_per_kwh",
        "ci_lifecycle_g_per_kwh",
        "generation_mwh",
        "quality",
        "factor_table_version",
    ]
    if flows is not None:
        consumption = consumption_intensity(production, flows).filter(pl.col("zone") == args.zone)
        ci = ci.join(
            consumption.select(
                "hour_utc",
                pl.col("ci_direct_g_per_kwh").alias("ci_consumption_direct_g_per_kwh"),
                pl.col("ci_lifecycle_g_per_kwh").alias("ci_consumption_lifecycle_g_per_kwh"),
                pl.col("quality").alias("quality_consumption"),
            ),
            on="hour_utc",
            how="left",
        )
        columns += [
            "ci_consumption_direct_g_per_kwh",
            "ci_consumption_lifecycle_g_per_kwh",
            "quality_consumption",
        ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    ci.select(columns).write_csv(out, datetime_format="%Y-%m-%dT%H:%M:%SZ", float_precision=4)
    weights = ci["generation_mwh"]
    print(
        f"{args.zone}: {ci.height} hours, {ci.filter(ci['quality'] != 'complete').height} flagged; "
        f"energy-weighted mean {(ci['ci_direct_g_per_kwh'] * weights).sum() / weights.sum():.2f} direct / "
        f"{(ci['ci_lifecycle_g_per_kwh'] * weights).sum() / weights.sum():.2f} lifecycle g/kWh "
        f"(factors {version}){'; consumption-based columns from ' + str(len(flow_files)) + ' flow documents' if flows is not None else ''}; "
        f"wrote {out}"
    )
    return 0


def _cmd_scope2(args, settings) -> int:
    from novaenergy.scope2_run import write_site_year
    from pipelines.scope2 import Scope2InputError

    try:
        report, files = write_site_year(settings, args.site, args.year, args.out)
    except Scope2InputError as exc:
        raise BadInput(f"{exc} (lake: {settings.lake_root}; run `make demo` first)") from exc
    print(f"Scope 2 {report.site_id} {report.year} (zone {report.zone}):")
    print(f"  location-based  {report.location_based_t_co2e:10.3f} t CO2e")
    print(f"  market-based    {report.market_based_t_co2e:10.3f} t CO2e")
    print(
        f"  hourly CFE score {report.hourly_cfe_score:.1%} "
        f"(annual match {report.annual_match_score:.1%})"
    )
    if report.residual_mix.is_placeholder:
        print(f"  warning: residual mix is a PLACEHOLDER: {report.residual_mix.source}")
    for name, path in files.items():
        print(f"  {name:<16} {path}")
    return 0


def _read_vampire_readings(path: Path):
    """The readings file as meter_id, ts_utc (UTC), energy_wh; BadInput on a bad file."""
    import polars as pl

    from ingest.meter_files import MeterFileError, read_meter_export
    from pipelines.meters.parse import parse_number, parse_ts_utc

    need = "meter_id, ts_utc (UTC interval start) and energy_wh [Wh] per 15-minute interval"
    if not path.is_file():
        raise BadInput(f"{path}: no such file (give a .csv or .parquet file with {need})")
    try:
        raw = read_meter_export(path)
    except MeterFileError as exc:
        raise BadInput(f"{exc} (the vampire detector needs {need})") from exc
    missing = [c for c in ("meter_id", "ts_utc", "energy_wh") if c not in raw.columns]
    if missing:
        raise BadInput(f"{path}: missing column(s) {', '.join(missing)}; need {need}")
    ts = parse_ts_utc(raw["ts_utc"])
    energy = parse_number(raw["energy_wh"])
    blank = raw["energy_wh"].cast(pl.String).str.strip_chars().fill_null("") == ""
    for name, parsed, allowed_null in (("ts_utc", ts, None), ("energy_wh", energy, blank)):
        bad = parsed.is_null() if allowed_null is None else parsed.is_null() & ~allowed_null
        if bad.any():
            first = int(bad.arg_true()[0])
            where = "line" if path.suffix.lower() == ".csv" else "row"
            raise BadInput(
                f"{path}: {int(bad.sum())} unreadable {name} value(s), first at {where} "
                f"{raw['row_number'][first]}: {raw[name][first]!r} "
                f"({'ISO 8601 with Z or an offset' if name == 'ts_utc' else 'a number of Wh'})"
            )
    return pl.DataFrame(
        {"meter_id": raw["meter_id"].cast(pl.String), "ts_utc": ts, "energy_wh": energy}
    )


def _cmd_vampire(args, settings) -> int:
    import zoneinfo

    from pipelines.vampire import VampireInputError, detect_vampire_loads

    timezone = args.timezone or settings.site_timezone
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise BadInput(
            f"--timezone {timezone!r}: not an IANA time zone (e.g. Europe/Berlin)"
        ) from exc
    readings = _read_vampire_readings(Path(args.readings))
    try:
        events = detect_vampire_loads(
            readings, site_id=args.site_id, timezone=timezone, subdivision=args.subdivision
        )
    except VampireInputError as exc:
        raise BadInput(f"{args.readings}: {exc}") from exc
    except NotImplementedError as exc:  # holidays: unknown subdivision
        raise BadInput(f"--subdivision {args.subdivision!r}: {exc}") from exc
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    events.write_csv(out, datetime_format="%Y-%m-%dT%H:%M:%SZ", float_precision=3)
    n_meters = readings["meter_id"].n_unique()
    print(
        f"vampire loads: {events.height} events on {events['meter_id'].n_unique()} of "
        f"{n_meters} meters, {events['excess_kwh'].sum():,.1f} kWh excess "
        f"(off-hours in {timezone}, holidays DE-{args.subdivision}); wrote {out}"
    )
    return 0


def _cmd_plan(args, settings) -> int:
    from novaenergy.plan_cmd import run

    return run(args.scenario, args.out, args.summary)


def _cmd_sim_devices(args, settings) -> int:
    from novaenergy.sim_cmd import run

    return run(settings, args.duration)


def _cmd_control_serve(args, settings) -> int:
    from novaenergy.control_cmd import run

    return run(settings, args.duration)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="novaenergy", description="NovaEnergy: the site energy OS."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="build the sample site and materialize every asset")
    demo.set_defaults(func=_cmd_demo)

    ingest = sub.add_parser("ingest", help="load source files into the lake")
    ingest_sub = ingest.add_subparsers(dest="what", required=True)
    meters = ingest_sub.add_parser(
        "meters", help="load a CSV or Parquet meter export (or a folder of them)"
    )
    meters.add_argument("path")
    meters.add_argument("--timezone", help="time zone of ts_local columns (default SITE_TIMEZONE)")
    meters.set_defaults(func=_cmd_ingest_meters)

    carbon = sub.add_parser(
        "carbon", help="hourly carbon intensity from a recorded ENTSO-E A75 document"
    )
    carbon.add_argument(
        "--entsoe-xml",
        required=True,
        action="append",
        help="A75 actual generation per production type; repeat for neighbours (their zone is read from the document)",
    )
    carbon.add_argument(
        "--flows",
        nargs="+",
        action="append",
        help="A11 physical flow documents (direction read from the document): adds consumption-based columns",
    )
    carbon.add_argument(
        "--zone", required=True, help="bidding zone or area code written to the output"
    )
    carbon.add_argument("--out", required=True, help="output CSV")
    carbon.add_argument("--factors", help="emission-factor table CSV (default: the default table)")
    carbon.set_defaults(func=_cmd_carbon)

    vampire = sub.add_parser(
        "vampire",
        help="detect vampire loads (machinery left on at night, weekends, holidays)",
    )
    vampire.add_argument(
        "--readings",
        required=True,
        help="CSV or Parquet with meter_id, ts_utc, energy_wh per 15 minutes (2+ weeks)",
    )
    vampire.add_argument("--out", required=True, help="output CSV, one row per event")
    vampire.add_argument("--timezone", help="site time zone (default SITE_TIMEZONE)")
    vampire.add_argument(
        "--subdivision", default="BB", help="German state for public holidays (default BB)"
    )
    vampire.add_argument("--site-id", help="site id written to the events (default unknown)")
    vampire.set_defaults(func=_cmd_vampire)

    scope2 = sub.add_parser(
        "scope2", help="Scope 2 report (PDF plus CSV), location- and market-based, from the lake"
    )
    scope2.add_argument("--site", required=True, help="site id, e.g. warehouse-b")
    scope2.add_argument("--year", required=True, type=int, help="UTC calendar year")
    scope2.add_argument("--out", required=True, help="output folder")
    scope2.set_defaults(func=_cmd_scope2)

    plan = sub.add_parser(
        "plan", help="solve a planning scenario (JSON) into a setpoint plan per device and slot"
    )
    plan.add_argument("--scenario", required=True, help="scenario JSON (format in the README)")
    plan.add_argument(
        "--out", required=True, help="plan CSV: device_id, slot, slot_start_utc, power_kw"
    )
    plan.add_argument("--summary", help="JSON summary: objective terms, baseline, shortfalls")
    plan.set_defaults(func=_cmd_plan)

    sim = sub.add_parser("sim", help="simulated hardware on real protocols")
    sim_sub = sim.add_subparsers(dest="what", required=True)
    devices = sim_sub.add_parser(
        "devices",
        help="the sample site's devices: SunSpec inverter and battery (Modbus TCP), MQTT "
        "machines (starts mosquitto if none runs), OCPP 2.1 charge points",
    )
    devices.add_argument(
        "--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)"
    )
    devices.set_defaults(func=_cmd_sim_devices)

    control = sub.add_parser("control", help="the control service that drives the devices")
    control_sub = control.add_subparsers(dest="what", required=True)
    serve = control_sub.add_parser(
        "serve",
        help="dispatch the plan in force to the devices (OCPP CSMS, SunSpec, MQTT) every "
        "CONTROL_CYCLE_S, with the HTTP API on CONTROL_API_PORT",
    )
    serve.add_argument(
        "--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)"
    )
    serve.set_defaults(func=_cmd_control_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    from novaenergy.settings import SettingsError, load_settings

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        return args.func(args, settings)
    except (BadInput, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:  # the last line of defence: a message, not a traceback
        print(f"failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        if _debug():
            raise
        print("(set NOVAENERGY_DEBUG=1 to see the traceback)", file=sys.stderr)
        return EXIT_FAILURE


def _debug() -> bool:
    import os

    return os.environ.get("NOVAENERGY_DEBUG") == "1"


if __name__ == "__main__":
    sys.exit(main())
