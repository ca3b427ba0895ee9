"""Anomalies: vampire loads with a drill-down against the baseline, and data-quality results."""

from datetime import timedelta

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from dashboards import cache, ui
from pipelines.explore.anomalies import (
    alert_totals,
    alerts_with_events,
    excess_kwh,
    meter_night,
    readings_days,
)
from pipelines.explore.quality import pass_rates, quality_results, results_span

MIN_HISTORY_DAYS = 14  # the detector's shortest history per meter
ALERT_COLUMNS = {
    "start_local": "start (local)",
    "end_local": "end (local)",
    "meter_id": "meter",
    "severity": "severity",
    "excess_kwh": "waste [kWh]",
    "excess_cost_eur": "cost [EUR]",
    "excess_co2_kg": "emissions [kg CO2]",
    "mean_excess_power_w": "mean excess [W]",
    "message": "alert",
}


def night_chart(night: pl.DataFrame) -> go.Figure:
    """The meter's power against its baseline [kW], the event shaded."""
    x = night["ts_local"].to_list()
    fig = go.Figure()
    fig.add_scatter(x=x, y=night["power_w"] / 1000, name="metered power [kW]", mode="lines")
    fig.add_scatter(
        x=x,
        y=night["expected_w"] / 1000,
        name=f"baseline ({night['baseline'][0]}) [kW]",
        mode="lines",
        line={"dash": "dash"},
    )
    inside = night.filter(pl.col("in_event"))
    if inside.height:
        fig.add_vrect(
            x0=inside["ts_local"][0],
            x1=inside["ts_local"][-1] + timedelta(minutes=15),
            fillcolor="red",
            opacity=0.08,
            line_width=0,
            annotation_text="vampire load",
        )
    fig.update_layout(
        height=360,
        margin={"t": 10, "b": 10},
        legend={"orientation": "h"},
        xaxis_title="local time",
        yaxis_title="kW",
    )
    return fig


def vampire_section() -> None:
    """Alert totals, the alert table and one alert's drill-down."""
    alerts = cache.frame(alerts_with_events, cfg.lake_root, cfg.site_id, cfg.timezone)
    if alerts.is_empty():
        days = cache.frame(readings_days, cfg.lake_root, cfg.site_id)
        if not days:
            st.info(ui.EMPTY_LAKE)
        elif len(days) < MIN_HISTORY_DAYS:
            st.info(
                f"No vampire-load alerts: the detector learns each meter's nights from at "
                f"least {MIN_HISTORY_DAYS} days of readings, and the lake holds {len(days)}."
            )
        else:
            st.success("No vampire-load alerts: no machine was left running off-hours.")
        return
    totals = alert_totals(alerts)
    a, b, c, d = st.columns(4)
    a.metric("Alerts", f"{totals['alerts']:.0f}", border=True)
    b.metric("Wasted energy", f"{totals['excess_kwh']:,.0f} kWh", border=True)
    c.metric("Cost", f"{totals['excess_cost_eur']:,.2f} EUR", border=True)
    d.metric("Emissions", f"{totals['excess_co2_kg']:,.0f} kg CO2", border=True)
    st.dataframe(
        alerts.select(pl.col(col).alias(name) for col, name in ALERT_COLUMNS.items()),
        hide_index=True,
        width="stretch",
    )
    labels = [
        f"{r['start_local']:%a %Y-%m-%d %H:%M} · {r['meter_id']} · {r['excess_kwh']:,.0f} kWh"
        for r in alerts.iter_rows(named=True)
    ]
    chosen = st.selectbox(
        "Drill down into an alert",
        range(alerts.height),
        format_func=labels.__getitem__,
        key="anomalies_alert",
    )
    alert = alerts.row(chosen, named=True)
    night = cache.frame(
        meter_night,
        cfg.lake_root,
        cfg.site_id,
        alert["meter_id"],
        alert["start_utc"],
        alert["end_utc"],
        cfg.timezone,
    )
    if night.is_empty():
        st.info("No meter readings around this alert in the lake.")
        return
    st.plotly_chart(night_chart(night), width="stretch")
    st.caption(
        f"{alert['message']}. Power above the baseline inside the event, recomputed from the "
        f"readings: {excess_kwh(night):,.1f} kWh (stored: {alert['excess_kwh']:,.1f} kWh; the "
        "baseline is re-fitted on the 4 weeks before the night, so it can differ slightly)."
    )


def quality_section() -> None:
    """Pass rate per dataset, failures first, over chosen UTC days."""
    span = cache.frame(results_span, cfg.lake_root)
    if span is None:
        st.info(
            "No data-quality results in the lake yet. They are written by the Great "
            "Expectations asset checks: run `make demo` or materialize with checks in Dagster."
        )
        return
    first, last = span
    chosen = st.date_input(
        "UTC days checked",
        value=(max(first, last - timedelta(days=6)), last),
        min_value=first,
        max_value=last,
        key="anomalies_quality_days",
    )
    lo, hi = (chosen[0], chosen[-1]) if isinstance(chosen, tuple) else (chosen, chosen)
    results = cache.frame(quality_results, cfg.lake_root, lo, hi)
    rates = pass_rates(results)
    failed = results.filter(~pl.col("success"))
    a, b, c = st.columns(3)
    a.metric("Expectations evaluated", f"{results.height:,}", border=True)
    b.metric(
        "Pass rate",
        f"{100 * (results.height - failed.height) / results.height:.1f} %"
        if results.height
        else "–",
        border=True,
    )
    c.metric("Failed", f"{failed.height:,}", border=True)
    st.dataframe(
        rates.rename({"pass_rate_pct": "pass rate [%]", "days": "UTC days"}),
        hide_index=True,
        width="stretch",
    )
    if failed.height:
        st.markdown("**Failed expectations**")
        st.dataframe(failed.drop("success"), hide_index=True, width="stretch")
    else:
        st.success("Every expectation passed on these days.")
    with st.expander("All results"):
        st.dataframe(results, hide_index=True, width="stretch")


cfg = ui.config()
st.title("Anomalies")
st.caption(
    f"Vampire loads of site {cfg.site_id}: machinery left running at night, over weekends or "
    "holidays, found by the detector as sustained power above each load meter's learned "
    "off-hours baseline (vampire_alerts, vampire_load_events), priced at the day-ahead price "
    "[EUR] and the grid's lifecycle intensity [kg CO2]. Times are local "
    f"({cfg.timezone}). Below, the Great Expectations data-quality results per dataset and "
    "UTC day (data_quality_results)."
)
st.subheader("Vampire loads")
vampire_section()
st.subheader("Data quality")
quality_section()
