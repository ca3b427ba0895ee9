import subprocess
import sys
from pathlib import Path

import pytest

from novaenergy.cli import main


def test_unknown_flag_exits_2_without_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "novaenergy.cli", "demo", "--no-such-flag"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "unrecognized arguments" in proc.stderr


def test_missing_meter_file_is_bad_input(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["ingest", "meters", str(tmp_path / "nope.csv")]) == 2
    assert "no such meter export" in capsys.readouterr().err


def test_bad_setting_is_bad_input(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAX_EXPORT_LIMIT_KW", "lots")
    assert main(["ingest", "meters", "x.csv"]) == 2
    assert "MAX_EXPORT_LIMIT_KW" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["ingest"], []])
def test_missing_subcommand_exits_2(argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def _cli(args, cwd, env_extra=None):
    import os
    import shutil

    env = {**os.environ, "NOVAENERGY_LAKE_ROOT": str(cwd / "lake"), **(env_extra or {})}
    exe = shutil.which("novaenergy", path=str(Path(sys.executable).parent))
    return subprocess.run([exe, *args], capture_output=True, text=True, cwd=cwd, env=env)


def test_ingest_meters_prints_counts_that_add_up(tmp_path):
    import polars as pl

    from pipelines import lake

    registry = pl.DataFrame(
        {
            "site_id": ["s"],
            "meter_id": ["m1"],
            "kind": ["load"],
            "description": [""],
            "max_power_w": [10_000.0],
        }
    )
    lake.write_partition(tmp_path / "lake", "meter_registry", registry, "s")
    export = tmp_path / "export.csv"
    export.write_text(
        "meter_id,ts_utc,energy_wh\n"
        "m1,2025-01-01T00:00:00Z,10\n"
        "m1,2025-01-01T00:15:00Z,11\n"
        "m1,2025-01-01T00:15:00Z,11\n"
        "m2,2025-01-01T00:15:00Z,11\n"
        "m1,2025-01-01T00:30:00Z,-1\n"
    )
    first = _cli(["ingest", "meters", str(export)], tmp_path)
    assert first.returncode == 0, first.stderr
    assert "5 rows in, 2 accepted, 2 quarantined, 1 duplicates ignored" in first.stdout
    assert "unknown meter" in first.stdout and "negative energy" in first.stdout
    again = _cli(["ingest", "meters", str(export)], tmp_path)
    assert "5 rows in, 0 accepted, 2 quarantined, 3 duplicates ignored" in again.stdout


def test_ingest_meters_malformed_file_exits_2_naming_file_and_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("meter_id,ts_utc,energy_wh\nm1,2025-01-01T00:00:00Z\n")
    proc = _cli(["ingest", "meters", str(bad)], tmp_path)
    assert proc.returncode == 2
    assert "bad.csv: line 2" in proc.stderr
    assert "Traceback" not in proc.stderr


ENTSOE = Path(__file__).resolve().parents[1] / "data" / "entsoe"


def test_carbon_cli_reproduces_the_reference_values(tmp_path):
    import polars as pl

    out = tmp_path / "lu.csv"
    proc = _cli(
        [
            "carbon",
            "--entsoe-xml",
            str(ENTSOE / "LU_generation_A75_2024-05-21.xml"),
            "--zone",
            "LU",
            "--out",
            str(out),
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    table = pl.read_csv(out)
    assert table.columns[:4] == [
        "hour_utc",
        "ci_direct_g_per_kwh",
        "ci_lifecycle_g_per_kwh",
        "generation_mwh",
    ]
    assert table.height == 72 and table["hour_utc"][0] == "2024-05-21T10:00:00Z"
    assert (
        abs(table["ci_direct_g_per_kwh"][0] - 21.50) < 0.01
        and abs(table["ci_lifecycle_g_per_kwh"][0] - 120.41) < 0.01
    )
    assert "16.70 direct / 115.24 lifecycle" in proc.stdout


def test_carbon_cli_recomputes_with_another_factor_table(tmp_path):
    import polars as pl

    from pipelines.emission_factors import load_factor_table

    _, factors = load_factor_table()
    changed = factors.with_columns(
        pl.when(pl.col("mode") == "gas")
        .then(pl.col("ci_lifecycle_g_per_kwh") + 100)
        .otherwise(pl.col("ci_lifecycle_g_per_kwh"))
        .alias("ci_lifecycle_g_per_kwh")
    )
    table = tmp_path / "factors_v2.csv"
    changed.write_csv(table)
    doc = str(ENTSOE / "LU_generation_A75_2024-05-21.xml")
    _cli(
        ["carbon", "--entsoe-xml", doc, "--zone", "LU", "--out", str(tmp_path / "a.csv")], tmp_path
    )
    _cli(
        [
            "carbon",
            "--entsoe-xml",
            doc,
            "--zone",
            "LU",
            "--out",
            str(tmp_path / "b.csv"),
            "--factors",
            str(table),
        ],
        tmp_path,
    )
    a, b = pl.read_csv(tmp_path / "a.csv"), pl.read_csv(tmp_path / "b.csv")
    gas_hours = (b["ci_direct_g_per_kwh"] > 0).sum()  # direct > 0 only where gas burns
    assert (b["ci_lifecycle_g_per_kwh"] > a["ci_lifecycle_g_per_kwh"]).sum() == gas_hours > 0
    assert (b["ci_lifecycle_g_per_kwh"] >= a["ci_lifecycle_g_per_kwh"]).all()
    assert (b["ci_direct_g_per_kwh"] == a["ci_direct_g_per_kwh"]).all()
    assert set(a["factor_table_version"]) == {"default-v1"} and set(b["factor_table_version"]) == {
        "file:factors_v2.csv"
    }


def test_carbon_cli_refuses_a_non_generation_document(tmp_path):
    proc = _cli(
        [
            "carbon",
            "--entsoe-xml",
            str(ENTSOE / "DK1_load_A65.xml"),
            "--zone",
            "DK1",
            "--out",
            str(tmp_path / "x.csv"),
        ],
        tmp_path,
    )
    assert (
        proc.returncode == 2
        and "DK1_load_A65.xml" in proc.stderr
        and "Traceback" not in proc.stderr
    )


def test_carbon_cli_names_a_document_that_is_not_utf8_among_several(tmp_path):
    latin1 = tmp_path / "latin1.xml"
    latin1.write_bytes("<?xml version='1.0'?><name>Kraftwerk Süd</name>".encode("latin-1"))
    proc = _cli(
        [
            "carbon",
            "--entsoe-xml",
            str(ENTSOE / "LU_generation_A75_2024-05-21.xml"),
            "--entsoe-xml",
            str(latin1),
            "--zone",
            "LU",
            "--out",
            str(tmp_path / "x.csv"),
        ],
        tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    assert "latin1.xml: not UTF-8 text" in proc.stderr and "Traceback" not in proc.stderr


def _a75(
    eic: str,
    series: dict[str, float],
    start: str = "2023-12-20T17:00Z",
    end: str = "2023-12-22T08:00Z",
    hours: int = 39,
) -> str:
    """A constructed A75 document in the platform's format (constant MW per type), for
    zones the recorded set lacks; entsoe-py parses it like a real one."""
    parts = []
    for i, (psr, mw) in enumerate(series.items(), start=1):
        points = "".join(
            f"<Point><position>{p}</position><quantity>{mw}</quantity></Point>"
            for p in range(1, hours + 1)
        )
        parts.append(
            f"<TimeSeries><mRID>{i}</mRID><businessType>A01</businessType><objectAggregation>A08</objectAggregation>"
            f'<inBiddingZone_Domain.mRID codingScheme="A01">{eic}</inBiddingZone_Domain.mRID>'
            f"<quantity_Measure_Unit.name>MAW</quantity_Measure_Unit.name><curveType>A01</curveType>"
            f"<MktPSRType><psrType>{psr}</psrType></MktPSRType><Period><timeInterval><start>{start}</start><end>{end}</end>"
            f"</timeInterval><resolution>PT60M</resolution>{points}</Period></TimeSeries>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><GL_MarketDocument xmlns="urn:iec62325.351:tc57wg16:451-6:generationloaddocument:3:0">'
        f"<mRID>constructed</mRID><revisionNumber>1</revisionNumber><type>A75</type><process.processType>A16</process.processType>"
        f"<time_Period.timeInterval><start>{start}</start><end>{end}</end></time_Period.timeInterval>{''.join(parts)}</GL_MarketDocument>"
    )


def test_carbon_cli_adds_consumption_based_columns_from_flow_documents(tmp_path):
    import polars as pl

    dk1, gb = tmp_path / "dk1.xml", tmp_path / "gb.xml"
    dk1.write_text(
        _a75("10YDK-1--------W", {"B19": 900.0, "B05": 100.0})
    )  # 1,000 MWh at 83 g/kWh lifecycle
    gb.write_text(
        _a75("10YGB----------A", {"B04": 500.0, "B14": 500.0})
    )  # 1,000 MWh at 251 g/kWh lifecycle
    out = tmp_path / "dk1.csv"
    proc = _cli(
        [
            "carbon",
            "--entsoe-xml",
            str(dk1),
            "--entsoe-xml",
            str(gb),
            "--zone",
            "DK_1",
            "--out",
            str(out),
            "--flows",
            str(ENTSOE / "DK1_GB_flows_A11_imports.xml"),
            str(ENTSOE / "DK1_GB_flows_A11_exports.xml"),
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    table = pl.read_csv(out)
    assert table.height == 39
    own = (900 * 11 + 100 * 820) / 1000
    assert (table["ci_lifecycle_g_per_kwh"] - own).abs().max() < 1e-3
    imports = pl.read_csv(out).with_columns(pl.col("hour_utc").str.to_datetime(time_zone="UTC"))
    from ingest.entsoe_documents import read_flows_xml

    flows = read_flows_xml(ENTSOE / "DK1_GB_flows_A11_imports.xml")
    assert set(flows["zone_from"]) == {"GB"} and set(flows["zone_to"]) == {"DK_1"}
    joined = imports.join(flows.select("hour_utc", "flow_mwh"), on="hour_utc")
    gb_ci = (500 * 490 + 500 * 12) / 1000
    expected = (1000 * own + joined["flow_mwh"] * gb_ci) / (1000 + joined["flow_mwh"])
    assert (joined["ci_consumption_lifecycle_g_per_kwh"] - expected).abs().max() < 1e-3
    assert (joined.filter(pl.col("flow_mwh") > 0)["ci_consumption_lifecycle_g_per_kwh"] > own).all()
