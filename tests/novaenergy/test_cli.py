import subprocess
import sys

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
