"""NovaEnergy dashboard: ``streamlit run dashboards/app.py``."""

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from any cwd

from dashboards.config import DashboardConfig  # noqa: E402

st.set_page_config(page_title="NovaEnergy", layout="wide")
st.session_state.setdefault("config", DashboardConfig())
pages = [
    st.Page(str(Path(__file__).parent / "pages" / "overview.py"), title="Overview", default=True)
]
st.navigation(pages).run()
