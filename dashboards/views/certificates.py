"""Certificates: Guarantees of Origin issued, transferred, cancelled; hourly matching; ledger search."""

from datetime import time

import plotly.graph_objects as go
import polars as pl
import streamlit as st
from plotly.subplots import make_subplots

from dashboards import cache, ui
from dashboards.charts import monthly_bars
from pipelines.certificates.matching import matching_scores
from pipelines.explore.certificates import (
    certificate_activity,
    hourly_matching,
    search_bundle,
    search_hour,
)

EVENT_NAMES = {
    "issue": "issued",
    "transfer": "transferred",
    "cancel": "cancelled",
    "claim": "claimed",
    "expire": "expired",
    "withdraw": "withdrawn",
    "store": "stored",
}
SEARCH_COLUMNS = [
    "event_id",
    "event_type",
    "bundle_id",
    "parent_bundle_id",
    "quantity_wh",
    "status",
    "account_id",
    "from_account_id",
    "beneficiary_site_id",
    "device_id",
    "production_local",
    "recorded_at_utc",
    "range_start",
    "range_end",
]


def activity_chart(activity: pl.DataFrame) -> go.Figure:
    """Grouped monthly bars per event type [MWh]."""
    named = activity.with_columns(pl.col("event_type").replace(EVENT_NAMES).alias("certificates"))
    return monthly_bars(
        named, "mwh", "certificates", {"mwh": "certificates [MWh]"}, hover_data=["events"]
    )


def matching_chart(matching: pl.DataFrame) -> go.Figure:
    """Consumption and matched consumption per hour [kWh], CFE score on the right [%]."""
    hours = matching["hour_local"].to_list()
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(x=hours, y=matching["consumption_kwh"], name="consumption [kWh]", opacity=0.5)
    fig.add_bar(x=hours, y=matching["matched_kwh"], name="matched by certificates [kWh]")
    fig.add_scatter(
        x=hours,
        y=matching["cfe_score"] * 100,
        name="hourly CFE score [%]",
        mode="lines",
        secondary_y=True,
    )
    fig.update_layout(
        barmode="overlay", height=360, margin={"t": 10, "b": 10}, legend={"orientation": "h"}
    )
    fig.update_xaxes(title_text="local time")
    fig.update_yaxes(title_text="kWh", secondary_y=False)
    fig.update_yaxes(title_text="CFE score [%]", range=[0, 105], secondary_y=True)
    return fig


def show_events(events: pl.DataFrame, what: str) -> None:
    """The ledger events found, or a note that there are none."""
    if events.is_empty():
        st.info(f"No ledger events for {what}.")
        return
    st.caption(
        f"{events.height} ledger events for {what}; quantities in Wh (1 certificate = 1 Wh)."
    )
    local = events.with_columns(
        pl.col("production_hour_utc").dt.convert_time_zone(cfg.timezone).alias("production_local")
    )
    st.dataframe(local.select(SEARCH_COLUMNS), hide_index=True, width="stretch")


cfg = ui.config()
st.title("Certificates")
st.caption(
    f"Granular Guarantees of Origin (one certificate per Wh and production hour) in the ledger "
    f"of zone {cfg.zone}, read from the lake's ledger snapshot (go_ledger_events) and the "
    f"hourly matching of site {cfg.site_id} (go_hourly_matching). Months are UTC calendar "
    f"months, as in the Scope 2 report; hours are local ({cfg.timezone})."
)

st.subheader("Certificates per month")
month_of = st.radio(
    "Count certificates in the month of",
    ["production", "recorded"],
    format_func=lambda m: {"production": "their production hour", "recorded": "the ledger entry"}[
        m
    ],
    horizontal=True,
    key="certificates_month_of",
)
activity = cache.frame(certificate_activity, cfg.lake_root, cfg.zone, month_of)
if activity.is_empty():
    st.info(
        f"No certificate ledger for zone {cfg.zone} in the lake yet. Run `make demo`, or "
        "materialize go_ledger in Dagster."
    )
else:
    st.plotly_chart(activity_chart(activity), width="stretch")

st.subheader("Hourly matching")
period = ui.period(cfg, days=7, key="certificates_period")
if period is not None:
    matching = cache.frame(hourly_matching, cfg.lake_root, cfg.site_id, *period, cfg.timezone)
    if matching.is_empty():
        st.info("No hourly matching for these days. Materialize go_hourly_matching in Dagster.")
    else:
        scores = matching_scores(matching)
        a, b, c = st.columns(3)
        a.metric(
            "Hourly CFE score",
            f"{scores['hourly_cfe_score']:.1%}",
            help="Σ_h min(certificates cancelled, consumption) / Σ_h consumption.",
            border=True,
        )
        b.metric(
            "Annual-style match",
            f"{scores['annual_match_score']:.1%}",
            help="min(Σ certificates available, Σ consumption) / Σ consumption: never lower.",
            border=True,
        )
        c.metric("Consumption", f"{scores['consumption_kwh'] / 1000:,.2f} MWh", border=True)
        st.plotly_chart(matching_chart(matching), width="stretch")

st.subheader("Ledger search")
by_bundle, by_hour = st.tabs(["By bundle id", "By production hour"])
with by_bundle:
    text = st.text_input(
        "Bundle id",
        key="certificates_bundle",
        help="Shows the bundle's events and those of the bundles split from it.",
    )
    if text.strip():
        if text.strip().isdigit():
            bundle_id = int(text.strip())
            show_events(
                cache.frame(search_bundle, cfg.lake_root, cfg.zone, bundle_id),
                f"bundle {bundle_id}",
            )
        else:
            st.warning("A bundle id is a whole number, e.g. 37.")
with by_hour:
    left, right = st.columns(2)
    day = left.date_input("Production day (local)", value=None, key="certificates_day")
    hour = right.time_input(
        "Production hour (local)", value=time(12), step=3600, key="certificates_hour"
    )
    if day is not None:
        show_events(
            cache.frame(search_hour, cfg.lake_root, cfg.zone, day, hour.hour, cfg.timezone),
            f"certificates produced {day} {hour.hour:02d}:00 local",
        )
