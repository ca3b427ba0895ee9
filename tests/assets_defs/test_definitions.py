import dagster as dg

from assets_defs.definitions import defs


def test_code_location_loads_with_assets_checks_schedules_and_sensor():
    repo = defs.get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert {
        "meter_readings",
        "device_telemetry",
        "site_energy_hourly",
        "grid_generation_mix",
        "day_ahead_prices",
        "grid_carbon_intensity_hourly",
        "warehouse_views",
        "go_ledger",
        "go_hourly_matching",
        "go_certificate_export",
        "scope2_monthly",
        "setpoint_plans",
        "plan_runs",
        "v2g_settlements",
        "device_commands",
        "control_events",
    } <= keys
    check_assets = {k.asset_key.to_user_string() for k in repo.asset_graph.asset_check_keys}
    assert {
        "meter_readings",
        "device_telemetry",
        "grid_generation_mix",
        "day_ahead_prices",
        "go_ledger",
        "go_hourly_matching",
        "scope2_monthly",
        "setpoint_plans",
        "plan_runs",
    } <= check_assets
    assert {s.name for s in repo.schedule_defs} == {
        "land_and_compute_yesterday_schedule",
        "land_grid_yesterday_schedule",
        "detect_vampire_loads_schedule",
        "refresh_registry_schedule",
        "refresh_warehouse_schedule",
        "update_scope2_and_certificate_exports_schedule",
        "forecast_tomorrow_load_and_pv_schedule",
        "day_ahead_plan_schedule",
        "intraday_plan_schedule",
    }
    assert {s.name for s in repo.sensor_defs} == {
        "register_sites_sensor",
        "land_dropped_meter_files_sensor",
        "ingest_telemetry_batches_sensor",
    }


def test_no_env_var_is_read_at_import(monkeypatch):
    # The env-bound resources resolve only when a run starts.
    for name in ("NOVAENERGY_LAKE_ROOT", "SITE_ID", "ENTSOE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    import importlib

    import assets_defs.definitions as module

    assert isinstance(importlib.reload(module).defs, dg.Definitions)


def test_the_default_executor_is_multiprocess_with_in_process_on_request():
    from assets_defs.definitions import defs

    job = defs.resolve_job_def("land_and_compute_day_job")
    assert job.executor_def.name == "multi_or_in_process_executor"
    # no execution config: the multiprocess side, one process per step
    default = dg.multi_or_in_process_executor.config_schema.as_field().default_value
    assert "multiprocess" in default


def test_loading_the_code_location_leaves_slow_libraries_to_the_steps_that_use_them():
    # every step of a multiprocess run, and every code server, imports the location first;
    # Great Expectations and scikit-learn took about half of its 20 s import
    import subprocess
    import sys

    probe = (
        "import sys, assets_defs.definitions; "
        "print(' '.join(m for m in ('great_expectations', 'sklearn') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == ""
