"""The broker's passwords stay off command lines (``/proc/<pid>/cmdline`` is readable by
every local user) and out of world-readable files."""

import subprocess

import pytest

from control import mosquitto
from control.mosquitto import BrokerError, MosquittoBroker, MqttUser, private_run_as, site_users


def test_passwords_reach_no_command_line_and_the_password_file_is_private(tmp_path, monkeypatch):
    users = site_users("warehouse-b", ["load-3dprinters", "load-shredder-2"])
    command_lines = []
    real_run = subprocess.run

    def recording_run(args, *more, **kwargs):
        command_lines.append(" ".join(map(str, args)))
        return real_run(args, *more, **kwargs)

    monkeypatch.setattr(mosquitto.subprocess, "run", recording_run)
    MosquittoBroker(tmp_path, users, run_as=private_run_as()).write_files()

    assert any(mosquitto.MOSQUITTO_PASSWD in line for line in command_lines)
    assert [u.name for u in users if u.password in "\n".join(command_lines)] == []
    passwd = tmp_path / "passwd"
    assert [u.name for u in users if u.password in passwd.read_text()] == []  # hashed
    assert passwd.stat().st_mode & 0o077 == 0


def test_a_password_mosquitto_would_cut_at_a_colon_is_refused_not_weakened(tmp_path):
    users = [MqttUser("load-3dprinters", "first-part:second-part")]
    with pytest.raises(BrokerError, match="':'"):
        MosquittoBroker(tmp_path, users, run_as=private_run_as()).write_files()
