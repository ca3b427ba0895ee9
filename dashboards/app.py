"""NovaEnergy dashboard: ``streamlit run dashboards/app.py`` (``make dev`` starts it)."""

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from any cwd

from dashboards import cache  # noqa: E402
from dashboards.config import DashboardConfig  # noqa: E402
from dashboards.navigation import NAVIGATION, PAGES, url_path  # noqa: E402
from novaenergy.settings import load_settings  # noqa: E402

st.set_page_config(page_title="NovaEnergy", page_icon=":material/solar_power:", layout="wide")
if "config" not in st.session_state:
    st.session_state["config"] = DashboardConfig.from_settings(load_settings())
cfg: DashboardConfig = st.session_state["config"]

sections: dict[str, list] = {}
for i, (section, file, title, icon) in enumerate(NAVIGATION):
    sections.setdefault(section, []).append(
        st.Page(
            str(PAGES / file),
            title=title,
            icon=icon,
            default=i == 0,
            url_path=None if i == 0 else url_path(file),
        )
    )
page = st.navigation(sections)

with st.sidebar:
    st.caption(f"Site **{cfg.site_id}** · grid zone **{cfg.zone}** · times in {cfg.timezone}")
    if st.button("Refresh data", icon=":material/refresh:", help="Re-read the lake now"):
        cache.clear()
page.run()
