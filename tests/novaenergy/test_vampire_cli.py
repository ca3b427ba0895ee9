import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from novaenergy.cli import main
from pipelines.schemas import SCHEMAS
from tests.pipelines.vampire.conftest import Site, local

START, END = local(2025, 1, 15, 22), local(2025, 1, 16, 5, 30)


@pytest.fixture(scope="module")
def readings() -> pl.DataFrame:
    site = Site(date(2025, 1, 6), 21)
    site.add("press-1", START, END, 8_000.0)
    return site.readings()


@pytest.fixture
def files(tmp_path, readings, monkeypatch):
    monkeypatch.chdir(tmp_path)
    csv, parquet = tmp_path / "readings.csv", tmp_path / "readings.parquet"
    readings.write_csv(csv, datetime_format="%Y-%m-%dT%H:%M:%SZ")
    readings.write_parquet(parquet)
    return csv, parquet


def run(capsys, *args) -> tuple[int, str, str]:
    code = main(["vampire", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_writes_one_row_per_event_with_all_columns(files, tmp_path, capsys, kind):
    path = files[0] if kind == "csv" else files[1]
    out = tmp_path / "out" / "events.csv"
    code, stdout, _ = run(capsys, "--readings", path, "--out", out, "--site-id", "plant-7")
    assert code == 0
    assert "1 events on 1 of 3 meters" in stdout and "kWh excess" in stdout
    events = pl.read_csv(out, try_parse_dates=True)
    assert events.columns == list(SCHEMAS["vampire_load_events"])
    row = events.row(0, named=True)
    assert (row["site_id"], row["meter_id"]) == ("plant-7", "press-1")
    assert row["start_utc"] == START and row["end_utc"] == END
    assert row["excess_kwh"] == pytest.approx(60.0, rel=0.1)


def test_timezone_flag_moves_the_nights(files, tmp_path, capsys):
    out = tmp_path / "ny.csv"
    code, stdout, _ = run(
        capsys, "--readings", files[1], "--out", out, "--timezone", "America/New_York"
    )
    assert code == 0 and "America/New_York" in stdout


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d, r: d / "missing.csv", "no such file"),
        (lambda d, r: _csv(d, r.drop("energy_wh")), "energy_wh"),
        (lambda d, r: _csv(d, r.rename({"ts_utc": "time"})), "ts_utc"),
        (lambda d, r: _csv(d, r, replace=("2025-01-10T12:00:00Z", "noon")), "unreadable ts_utc"),
        (
            lambda d, r: _csv(d, r, replace=(",2025-01-10T12:00:00Z,", ",2025-01-10T12:00:00Z,x")),
            "unreadable energy_wh",
        ),
        (
            lambda d, r: _csv(d, r.filter(pl.col("ts_utc") < local(2025, 1, 12))),
            "less than 14 days",
        ),
        (lambda d, r: _csv(d, pl.concat([r, r.head(1)])), "repeated"),
    ],
)
def test_bad_input_exits_2_with_a_message(files, tmp_path, capsys, readings, make, message):
    code, _, err = run(capsys, "--readings", make(tmp_path, readings), "--out", tmp_path / "o.csv")
    assert code == 2
    assert message in err and "Traceback" not in err


def test_bad_timezone_exits_2(files, tmp_path, capsys):
    code, _, err = run(capsys, "--readings", files[0], "--out", "o.csv", "--timezone", "Mars/Base")
    assert code == 2 and "not an IANA time zone" in err


def _csv(folder: Path, frame: pl.DataFrame, replace: tuple[str, str] | None = None) -> Path:
    path = folder / "bad.csv"
    frame.write_csv(path, datetime_format="%Y-%m-%dT%H:%M:%SZ")
    if replace:
        path.write_text(path.read_text().replace(*replace))
    return path


def test_installed_command(files, tmp_path):
    exe = shutil.which("novaenergy", path=str(Path(sys.executable).parent))
    env = {**os.environ, "NOVAENERGY_LAKE_ROOT": str(tmp_path / "lake")}
    ok = subprocess.run(
        [exe, "vampire", "--readings", str(files[0]), "--out", "events.csv"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "events.csv").read_text().startswith("site_id,meter_id,start_utc,end_utc")
    assert "events on" in ok.stdout
