"""Carbon: the grid's hourly carbon intensity, its day-ahead forecast and how the bases differ."""

from datetime import timedelta

import plotly.express as px
import plotly.graph_objects as go
import polars as pl
import streamlit as st

from dashboards import cache, ui
from pipelines.explore.carbon import (
    CI_COLUMNS,
    direct_vs_lifecycle,
    forecast_error,
    forecast_vs_actual,
    gap_summary,
    heatmap,
    intensity_hourly,
    production_vs_consumption,
)

UNIT = "g CO2/kWh"
# At the lake's edge a local day holds only the hour or two that spill over from the last
# UTC day the model forecast; a forecast needs half a day to be worth a chart.
MIN_FORECAST_HOURS = 12


def heatmap_chart(cells: pl.DataFrame) -> go.Figure:
    """Local day × hour heatmap of intensity [g CO2/kWh]."""
    grid = cells.pivot(on="hour", index="day", values="g_per_kwh", sort_columns=True)
    hours = [c for c in grid.columns if c != "day"]
    fig = go.Figure(
        go.Heatmap(
            z=grid.select(hours).to_numpy().T,
            x=grid["day"].to_list(),
            y=[int(h) for h in hours],
            colorscale="RdYlGn_r",
            colorbar={"title": UNIT},
            hovertemplate="%{x}, %{y}:00<br>%{z:.0f} " + UNIT + "<extra></extra>",
        )
    )
    fig.update_layout(
        yaxis_title="local hour", height=420, margin={"t": 10, "b": 10}, yaxis_autorange="reversed"
    )
    return fig


def lines(frame: pl.DataFrame, columns: dict[str, str], markers: bool = False) -> go.Figure:
    """Hourly lines of the given columns (column -> legend name) [g CO2/kWh]."""
    long = frame.select("hour_local", *(pl.col(c).alias(n) for c, n in columns.items())).unpivot(
        index="hour_local", variable_name="series", value_name=UNIT
    )
    fig = px.line(
        long.to_pandas(),
        x="hour_local",
        y=UNIT,
        color="series",
        labels={"hour_local": "local time"},
        markers=markers,
    )
    fig.update_layout(height=340, margin={"t": 10, "b": 10}, legend={"orientation": "h"})
    return fig


def compare(summary: dict, low: str, high: str, names: tuple[str, str]) -> None:
    """Three metrics: the mean of each series and the mean gap."""
    a, b, c = st.columns(3)
    a.metric(f"Mean {names[0]}", f"{summary[low]:,.0f} {UNIT}", border=True)
    b.metric(f"Mean {names[1]}", f"{summary[high]:,.0f} {UNIT}", border=True)
    c.metric(
        "Gap",
        f"{summary['gap_g_per_kwh']:+,.0f} {UNIT}",
        f"{summary['gap_pct']:+.1f} %",
        delta_color="off",
        help=f"Mean of {names[1]} − {names[0]} over {summary['hours']} hours.",
        border=True,
    )


cfg = ui.config()
st.title("Carbon")
st.caption(
    f"Hourly carbon intensity of the grid in zone {cfg.zone} [g CO2/kWh], local time "
    f"({cfg.timezone}), as the pipeline computed it from ENTSO-E generation per production "
    "type: direct (combustion) or lifecycle factors, production-based or consumption-based "
    "(imports traced through cross-border flows). The forecast is the day-ahead model's, "
    "issued at 11:00 local the day before."
)
day = ui.as_of_day(cfg)
if day is None:
    st.stop()
chosen = ui.period(cfg, days=14, key="carbon_period")
if chosen is None:
    st.stop()
first, last = chosen
intensity = cache.frame(intensity_hourly, cfg.lake_root, cfg.zone, first, last, cfg.timezone)
if intensity.is_empty():
    st.info(
        f"No grid carbon intensity of {cfg.zone} from {first} to {last} in the lake: pick "
        "another period, or materialize `grid_carbon_intensity_hourly` in Dagster."
    )
    st.stop()

st.subheader("Intensity by day and hour")
bases = sorted(intensity["basis"].unique().to_list(), reverse=True)  # production first
left, right = st.columns(2)
basis = left.radio("Basis", bases, horizontal=True, key="carbon_basis")
factor = right.radio(
    "Factors", list(CI_COLUMNS), format_func=CI_COLUMNS.get, horizontal=True, key="carbon_factor"
)
st.plotly_chart(heatmap_chart(heatmap(intensity, basis, factor)), width="stretch")

tomorrow = day + timedelta(days=1)
forecast = cache.frame(forecast_vs_actual, cfg.lake_root, cfg.zone, tomorrow, cfg.timezone)
shown, notice = tomorrow, ""
if forecast.height < MIN_FORECAST_HOURS:
    forecast = cache.frame(forecast_vs_actual, cfg.lake_root, cfg.zone, day, cfg.timezone)
    shown = day if forecast.height else tomorrow
    notice = (
        f"No forecast for {tomorrow} in the lake yet (it is issued at 11:00 local on {day})."
        + (f" Showing the forecast for {day} instead." if forecast.height else "")
    )
st.subheader(f"Forecast for {shown} (lifecycle)")
if notice:
    st.info(notice)
if forecast.height:
    error = forecast_error(forecast)
    note = f"Forecast for {forecast.height} hours, each from the newest issue before the day"
    if error:
        note += (
            f"; mean absolute error {error['mae_g_per_kwh']:.1f} {UNIT}, bias "
            f"{error['bias_g_per_kwh']:+.1f} {UNIT} over {error['hours']} hours with actuals"
        )
    st.caption(note + ".")
    st.plotly_chart(
        lines(
            forecast,
            {"forecast_g_per_kwh": "forecast", "actual_g_per_kwh": "actual"},
            markers=True,
        ),
        width="stretch",
    )

st.subheader("Direct vs lifecycle (production-based)")
pairs = direct_vs_lifecycle(intensity)
summary = gap_summary(pairs, "direct_g_per_kwh", "lifecycle_g_per_kwh")
if summary:
    compare(summary, "direct_g_per_kwh", "lifecycle_g_per_kwh", ("direct", "lifecycle"))
    st.plotly_chart(
        lines(pairs, {"direct_g_per_kwh": "direct", "lifecycle_g_per_kwh": "lifecycle"}),
        width="stretch",
    )
else:
    st.info("No production-based hours with both factors in this period.")

st.subheader(f"Production- vs consumption-based ({CI_COLUMNS[factor]})")
traced = production_vs_consumption(intensity, factor)
summary = gap_summary(traced, "production_g_per_kwh", "consumption_g_per_kwh")
if summary:
    compare(summary, "production_g_per_kwh", "consumption_g_per_kwh", ("production", "consumption"))
    st.plotly_chart(
        lines(
            traced, {"production_g_per_kwh": "production", "consumption_g_per_kwh": "consumption"}
        ),
        width="stretch",
    )
else:
    st.info(
        f"No consumption-based (flow-traced) intensity of {cfg.zone} in this period: it needs "
        "cross-border flows (`grid_crossborder_flows`, from ENTSO-E), which the sample site "
        "does not have. Only production-based values are shown."
    )
