from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from dashboards.config import DashboardConfig
from tests.dashboards.app_under_test import demo_config, open_page


def run(config: DashboardConfig) -> AppTest:
    at = open_page(config, "scope2.py")
    return at


def record_download_names(monkeypatch) -> list[str]:
    """File names the app hands to download buttons (AppTest keeps them in its media store)."""
    names: list[str] = []
    store = MemoryMediaFileStorage.load_and_get_id

    def recording(self, path_or_data, mimetype, kind, filename=None):
        names.append(filename)
        return store(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", recording)
    return names


def test_totals_notes_and_downloads_on_the_demo_week(demo_week, monkeypatch):
    settings, result = demo_week
    names = record_download_names(monkeypatch)
    at = run(demo_config(settings))
    assert at.title[0].value == "Scope 2"
    assert at.selectbox(key="scope2_year").value == 2025
    report = result.summary["scope2"][0]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Location-based"] == f"{report['location_based_t_co2e']:,.2f} t CO2e"
    assert metrics["Market-based"] == f"{report['market_based_t_co2e']:,.2f} t CO2e"
    assert len(at.get("plotly_chart")) == 1
    assert any("PLACEHOLDER residual mix" in w.value for w in at.warning)
    assert any("Location-based: each hour's metered grid import" in m.value for m in at.markdown)
    labels = [b.proto.label for b in at.get("download_button")]
    assert {"Report (PDF)", "Auditor flags (CSV)", "Hourly matching (CSV)"} <= set(labels)
    assert len(labels) == 6
    assert names[:3] == [
        "scope2_warehouse-b_2025.pdf",
        "scope2_warehouse-b_2025_flags.csv",
        "scope2_warehouse-b_2025_hourly_matching.csv",
    ]


def test_without_report_files_it_says_how_to_make_them(demo_week, tmp_path):
    settings, _ = demo_week
    at = run(demo_config(settings, reports_dir=str(tmp_path)))
    assert not at.get("download_button")
    hint = [i.value for i in at.info if "novaenergy scope2" in i.value]
    assert hint and f"--site warehouse-b --year 2025 --out {tmp_path}/scope2" in hint[0]
    # the packaged residual mix still gives the method notes (it matches the lake's 600 g/kWh)
    assert any("PLACEHOLDER residual mix" in w.value for w in at.warning)


def test_empty_lake_says_what_to_do(tmp_path):
    at = run(DashboardConfig(lake_root=str(tmp_path / "lake"), reports_dir=str(tmp_path)))
    assert at.title[0].value == "Scope 2"
    assert any("No Scope 2 figures" in i.value for i in at.info)
