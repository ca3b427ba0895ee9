"""Energy flows: where the site's energy came from and where it went over a period."""

import plotly.express as px
import plotly.graph_objects as go
import polars as pl
import streamlit as st

from dashboards import cache, ui
from pipelines.explore.energy import (
    BUS,
    IMBALANCE,
    SINKS,
    SOURCES,
    energy_balance,
    sankey_links,
    signed_flows,
    site_energy_hourly,
)

COLORS = {
    "PV": "#f2b701",
    "Grid import": "#7f7f7f",
    "Battery discharge": "#3969ac",
    "EV discharge (V2G)": "#11a579",
    BUS: "#4b4b8f",
    "Loads": "#e73f74",
    "EV charging": "#80ba5a",
    "Battery charge": "#7f3c8d",
    "Export": "#008695",
    IMBALANCE: "#cc0000",
}


def fade(color: str, alpha: float = 0.35) -> str:
    """A ``#rrggbb`` colour as semi-transparent ``rgba``."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def sankey(links: pl.DataFrame) -> go.Figure:
    """Sankey of sources → site bus → sinks with kWh on every link."""
    nodes = [
        n
        for n in (*SOURCES.values(), BUS, *SINKS.values(), IMBALANCE)
        if n in set(links["source"]) | set(links["target"])
    ]
    index = {n: i for i, n in enumerate(nodes)}
    fig = go.Figure(
        go.Sankey(
            valueformat=",.0f",
            valuesuffix=" kWh",
            node={"label": nodes, "color": [COLORS[n] for n in nodes], "pad": 20},
            link={
                "source": [index[s] for s in links["source"]],
                "target": [index[t] for t in links["target"]],
                "value": links["kwh"].to_list(),
                "label": [f"{v:,.0f} kWh" for v in links["kwh"]],
                "color": [
                    fade(COLORS[s if s != BUS else t])
                    for s, t in links.select("source", "target").iter_rows()
                ],
            },
        )
    )
    fig.update_layout(height=420, margin={"t": 10, "b": 10})
    return fig


def hourly_chart(flows: pl.DataFrame) -> go.Figure:
    """Stacked hourly bars: sources above zero, sinks below [kWh]."""
    fig = px.bar(
        flows.filter(pl.col("kwh") != 0).to_pandas(),
        x="hour_local",
        y="kwh",
        color="flow",
        color_discrete_map=COLORS,
        category_orders={"flow": [*SOURCES.values(), *SINKS.values()]},
        labels={"hour_local": "local hour", "kwh": "kWh per hour (sources +, sinks −)"},
    )
    fig.update_layout(barmode="relative", height=380, margin={"t": 10, "b": 10}, bargap=0)
    return fig


cfg = ui.config()
st.title("Energy flows")
st.caption(
    "Energy into the site bus (PV, grid import, battery and V2G discharge) and out of it "
    "(loads, EV charging, battery charge, export) over the chosen local days "
    f"({cfg.timezone}), summed from the hourly site balance [kWh]. Meters do not say "
    "which source fed which sink, so every flow passes the site bus."
)
chosen = ui.period(cfg, days=7, key="energy_flows_period")
if chosen is None:
    st.stop()
first, last = chosen
hourly = cache.frame(site_energy_hourly, cfg.lake_root, cfg.site_id, first, last, cfg.timezone)
if hourly.is_empty():
    st.info(f"No site energy from {first} to {last} in the lake: pick another period.")
    st.stop()

balance = energy_balance(hourly)
into, out, gap = st.columns(3)
into.metric("Into the site", f"{balance['in_kwh']:,.0f} kWh", border=True)
out.metric("Out of the site", f"{balance['out_kwh']:,.0f} kWh", border=True)
gap.metric(
    "Balance (in − out)",
    f"{round(balance['imbalance_kwh'], 1) + 0.0:,.1f} kWh",  # + 0.0: never "-0.0"
    help="Zero when the balance closes; a gap shows as its own flow in the diagram.",
    border=True,
)
incomplete = hourly.filter(pl.col("quality") != "complete").height
if incomplete:
    st.warning(
        f"{incomplete} of {hourly.height} hours lack meter intervals: their energy is partial."
    )

st.subheader(f"{first} to {last} [kWh]")
st.plotly_chart(sankey(sankey_links(balance)), width="stretch")
st.subheader("Hour by hour [kWh]")
st.plotly_chart(hourly_chart(signed_flows(hourly)), width="stretch")
