"""The dashboard's caches, all bounded, in one place."""

from __future__ import annotations

import streamlit as st

from dashboards import queries


@st.cache_data(ttl=300, max_entries=32, show_spinner=False)
def site_energy_daily(lake_root: str, site_id: str):
    return queries.site_energy_daily(lake_root, site_id)
