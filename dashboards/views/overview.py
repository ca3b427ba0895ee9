"""Overview: the chosen day's energy, PV share, grid carbon, peak demand and open alerts."""

from datetime import timedelta

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from dashboards import cache, ui
from dashboards.navigation import NAVIGATION, PAGES
from pipelines.explore.alerts import alert_counts
from pipelines.explore.carbon import intensity_hourly, latest_intensity, month_to_date_co2
from pipelines.explore.energy import grid_peak_kw, overview_kpis, site_energy_daily

CHART_DAYS = 30
# alert kind -> (what it counts, page with the details)
BADGES = {
    "vampire_alerts": ("vampire-load alerts", "Anomalies"),
    "data_quality_failures": ("failed data-quality checks", "Anomalies"),
    "plan_shortfalls": ("plans with an EV shortfall", "Fleet and V2G"),
}


def energy_unit(kwh: float) -> tuple[float, str]:
    """Energy in a readable unit: kWh below 1 MWh, else MWh."""
    return (kwh, "kWh") if abs(kwh) < 1000 else (kwh / 1000, "MWh")


def mass_unit(kg: float) -> tuple[float, str]:
    """CO2 mass in a readable unit: kg below 1 t, else t."""
    return (kg, "kg") if abs(kg) < 1000 else (kg / 1000, "t")


def show_badges(counts: dict[str, dict[str, int]]) -> None:
    """One badge per alert kind: red with alerts today, orange with alerts this week."""
    for kind, (what, page) in BADGES.items():
        n = counts[kind]
        color = "red" if n["day"] else "orange" if n["week"] else "green"
        icon = ":material/check_circle:" if color == "green" else ":material/warning:"
        badge, link = st.columns([3, 1], vertical_alignment="center")
        with badge:
            st.badge(f"{n['day']} {what} today, {n['week']} in 7 days", color=color, icon=icon)
        with link:
            st.page_link(page_file(page), label=f"details: {page}", icon=":material/arrow_forward:")


def page_file(title: str) -> str:
    """The file of the page titled ``title``, as st.page_link wants it."""
    return next(str(PAGES / file) for _, file, t, _ in NAVIGATION if t == title)


def daily_chart(daily: pl.DataFrame) -> go.Figure:
    """Grid import and self-consumed PV per day (stacked) and the energy used [kWh]."""
    used = daily["consumption_kwh"] + daily["ev_charge_kwh"]
    fig = go.Figure(
        [
            go.Bar(x=daily["day"], y=daily["grid_import_kwh"], name="Grid import"),
            go.Bar(x=daily["day"], y=daily["pv_self_consumed_kwh"], name="PV self-consumed"),
            go.Scatter(x=daily["day"], y=used, name="Energy used", mode="lines+markers"),
        ]
    )
    fig.update_layout(
        barmode="stack",
        yaxis_title="kWh per day",
        height=320,
        margin={"t": 10, "b": 10},
        legend={"orientation": "h"},
    )
    return fig


cfg = ui.config()
st.title("Overview")
st.caption(
    f"One local day ({cfg.timezone}) of site **{cfg.site_id}**, chosen in the sidebar; "
    "energy from the hourly site balance (meters and battery/charger telemetry), grid "
    f"carbon intensity of zone {cfg.zone} as in the Scope 2 location-based method "
    "(direct emissions, flow-traced when known)."
)
day = ui.as_of_day(cfg)
if day is None:
    st.stop()

args = (cfg.lake_root, cfg.site_id)
today = cache.frame(site_energy_daily, *args, cfg.timezone, day, day)
if today.is_empty():
    st.info(f"No site energy for {day} in the lake: pick another day in the sidebar.")
    st.stop()

kpis = overview_kpis(today)
now = latest_intensity(
    cache.frame(intensity_hourly, cfg.lake_root, cfg.zone, day, day, cfg.timezone)
)
co2 = cache.frame(month_to_date_co2, *args, cfg.zone, day, cfg.timezone)
peak = cache.frame(grid_peak_kw, *args, day, cfg.timezone)

energy, energy_in = energy_unit(kpis["consumption_mwh"] * 1000)
mass, mass_in = mass_unit(co2["kg_co2"])
used, share, intensity, month, demand = st.columns(5)
used.metric(
    f"Energy used [{energy_in}]",
    f"{energy:,.0f}" if energy_in == "kWh" else f"{energy:,.2f}",
    help="Loads plus EV charging over the day.",
    border=True,
)
share.metric(
    "PV share [%]",
    f"{kpis['pv_share_pct']:.1f}",
    help="Self-consumed PV over the energy used.",
    border=True,
)
intensity.metric(
    "Grid CO2 [g/kWh]",
    f"{now['ci_g_per_kwh']:,.0f}" if now else "no data",
    help=(
        f"Grid carbon intensity now [g CO2/kWh]: the direct intensity of {cfg.zone} in "
        "the day's latest hour with data "
        f"({now['hour_local']:%H:%M} local, {now['ci_basis']}-based)."
        if now
        else f"No grid carbon intensity of {cfg.zone} for this day in the lake."
    ),
    border=True,
)
month.metric(
    f"CO2 this month [{mass_in}]",
    f"{mass:,.0f}" if mass_in == "kg" else f"{mass:,.2f}",
    help=(
        f"Location-based: each hour's grid import × the grid's intensity, {co2['first']} "
        f"to {co2['last']} ({co2['hours']} hours, {co2['gap_filled_hours']} without an "
        "intensity took the period mean)."
    ),
    border=True,
)
demand.metric(
    "Peak demand [kW]",
    f"{peak['peak_kw']:,.0f}" if peak else "no data",
    help=(
        f"Highest grid import power over a {peak['interval_s'] // 60}-minute interval, "
        f"starting {peak['at_utc'].astimezone(cfg.tz):%H:%M} local."
        if peak
        else "No grid import readings for this day."
    ),
    border=True,
)

st.subheader("Alerts")
show_badges(cache.frame(alert_counts, *args, day, cfg.timezone))

st.subheader(f"Last {CHART_DAYS} days [kWh]")
first = max(day - timedelta(days=CHART_DAYS - 1), ui.span(cfg)[0])
daily = cache.frame(site_energy_daily, *args, cfg.timezone, first, day)
st.plotly_chart(daily_chart(daily), width="stretch")
