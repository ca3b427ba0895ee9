"""End to end: ``streamlit run`` on loopback against the demo week, every page in headless Chromium.

Chromium is Debian's package (``.ci/run`` installs it); Playwright drives it through
``executable_path``, so no browser is downloaded. A PNG screenshot of every page lands in
``tests/artifacts/dashboard/`` (gitignored).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from control.mosquitto import free_port
from dashboards.navigation import NAVIGATION, url_path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts" / "dashboard"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# The machine has no internet: keep Chromium from calling home at start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHART = ", ".join(
    f'[data-testid="{t}"]' for t in ("stPlotlyChart", "stVegaLiteChart", "stArrowVegaLiteChart")
)
ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'


@pytest.fixture(scope="module")
def dashboard(demo_week):
    """The app served by ``streamlit run`` on a free loopback port; its base URL."""
    settings, _ = demo_week
    port = free_port()
    env = {
        **os.environ,
        "NOVAENERGY_LAKE_ROOT": settings.lake_root,
        "NOVAENERGY_REPORTS_DIR": settings.reports_dir,
        "SITE_ID": settings.site_id,
        "GRID_REGION": settings.grid_region,
        "SITE_TIMEZONE": settings.site_timezone,
        "CONTROL_API_PORT": str(free_port()),  # nothing listens: the Control page must say so
        "CONTROL_API_TOKEN": "",
    }
    # .streamlit/config.toml (loopback, headless, viewer toolbar) applies, as under `make dev`
    cmd = [
        sys.executable, "-m", "streamlit", "run", "dashboards/app.py",
        "--server.port", str(port), "--server.fileWatcherType", "none",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "streamlit did not start within 60 s"
            time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: apt-get install chromium (.ci/run does)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.mark.parametrize(
    ("i", "file", "title"), [(i, n[1], n[2]) for i, n in enumerate(NAVIGATION)]
)
def test_page_in_a_real_browser(dashboard, browser, i, file, title):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(dashboard + ("/" if i == 0 else f"/{url_path(file)}"))
        heading = page.locator("h1").first
        expect(heading).to_contain_text(title, timeout=60_000)
        # the script has finished once Streamlit's "running" indicator is gone
        page.wait_for_function(
            "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000
        )
        if file != "control.py":  # the Control page shows live state, no chart, without a service
            expect(page.locator(CHART).first).to_be_visible(timeout=30_000)
        else:
            expect(page.get_by_text("not reachable")).to_be_visible(timeout=30_000)
        assert page.locator(ERRORS).count() == 0, page.locator(ERRORS).first.inner_text()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{url_path(file)}.png"), full_page=True)
    finally:
        page.close()
