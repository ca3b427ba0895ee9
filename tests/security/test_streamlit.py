"""``streamlit run dashboards/app.py`` as ``make dev`` starts it (the repository's
``.streamlit/config.toml`` applies) listens on loopback only."""

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from control.mosquitto import free_port
from tests.security.processes import listening_sockets, stop_tree

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.usefixtures("time_limit_30s")
def test_streamlit_as_make_dev_starts_it_listens_on_loopback_only(tmp_path):
    port = free_port()  # the only flag added to make dev's command: 8501 may be taken
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "dashboards/app.py",
        "--server.port",
        str(port),
    ]
    log = tmp_path / "streamlit.out"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert listening_sockets(proc.pid) == {("tcp", "127.0.0.1", port)}
    finally:
        stop_tree(proc)
