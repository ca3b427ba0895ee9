"""Generated device passwords: created once, owner-only, stable across runs."""

import stat

from control import credentials


def test_passwords_are_generated_once_and_kept_private(tmp_path):
    path = tmp_path / "sub" / "creds.json"
    first = credentials.load_or_create(path, ["charger-1", "charger-2"])
    assert set(first) == {"charger-1", "charger-2"} and len(set(first.values())) == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = credentials.load_or_create(path, ["charger-1", "charger-3"])
    assert again["charger-1"] == first["charger-1"] and "charger-3" in again
    assert credentials.load(path) == again
    assert credentials.load(tmp_path / "absent.json") == {}
