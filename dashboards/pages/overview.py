"""Overview: what the site used and how much of it the sun supplied."""

import streamlit as st

from dashboards import cache
from dashboards.config import DashboardConfig
from pipelines.explore.energy import overview_kpis, site_energy_daily

cfg: DashboardConfig = st.session_state.get("config", DashboardConfig())
st.title(f"Overview — {cfg.site_id}")
daily = cache.frame(site_energy_daily, cfg.lake_root, cfg.site_id)
if daily.is_empty():
    st.info("No data in the lake yet. Run `make demo` to build the sample site.")
else:
    kpis = overview_kpis(daily)
    a, b, c = st.columns(3)
    a.metric("Energy used", f"{kpis['consumption_mwh']:,.1f} MWh")
    b.metric("PV production", f"{kpis['pv_production_mwh']:,.1f} MWh")
    c.metric("PV share of use", f"{kpis['pv_share_pct']:.1f} %")
    st.subheader("Daily energy [kWh]")
    st.line_chart(
        daily.select("day", "consumption_kwh", "pv_production_kwh", "grid_import_kwh").to_pandas(),
        x="day",
    )
