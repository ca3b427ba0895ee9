"""Fleet and V2G: each vehicle's state of charge, its plan, next departure and V2G payments."""

from datetime import timedelta

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from dashboards import cache, ui
from pipelines.explore.fleet import (
    DEPARTURE_SOC_PCT,
    SLOT,
    fleet_series,
    fleet_status,
    settlement_days,
    v2g_daily,
)

NO_FLEET = (
    "No fleet vehicles for site **{site}** in the lake (dataset `fleet_vehicles`). "
    "Run `make demo` to build the sample site, or materialize the `fleet` asset in Dagster."
)


def vehicle_chart(series: pl.DataFrame, as_of_local, timezone: str) -> go.Figure:
    """Planned and metered charger power [kW] as bars and lines, state of charge [%] on the right."""
    local = series.with_columns(
        pl.col("ts_utc").dt.convert_time_zone(timezone).dt.replace_time_zone(None).alias("t")
    )
    soc_at = (local["t"] + SLOT).to_list()  # the SoC is the one at the end of each slot
    fig = go.Figure(
        [
            go.Bar(
                x=local["t"],
                y=local["planned_kw"],
                name="Planned power [kW]",
                marker_color="#3969ac",
                opacity=0.55,
                offset=0,
                width=SLOT / timedelta(milliseconds=1),
                hovertemplate="%{x|%H:%M} planned %{y:.1f} kW<extra></extra>",
            ),
            go.Scatter(
                x=local["t"],
                y=local["metered_kw"],
                name="Metered power [kW]",
                line={"shape": "hv", "color": "#11a579"},
                hovertemplate="%{x|%H:%M} metered %{y:.1f} kW<extra></extra>",
            ),
            go.Scatter(
                x=soc_at,
                y=local["soc_pct"],
                name="State of charge [%]",
                yaxis="y2",
                line={"color": "#e73f74", "width": 3},
                hovertemplate="%{x|%H:%M} SoC %{y:.0f} %<extra></extra>",
            ),
        ]
    )
    as_of_x = as_of_local.replace(tzinfo=None)  # the axis holds naive local times
    fig.add_vline(x=as_of_x, line_dash="dot", line_color="#7f7f7f")
    fig.add_annotation(x=as_of_x, y=0, yref="paper", text=" as of", showarrow=False, xanchor="left")
    fig.update_layout(
        height=400,
        margin={"t": 40, "b": 10},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        xaxis_title=f"local time ({timezone})",
        yaxis={"title": "charger power [kW] (+ charge, − discharge)"},
        yaxis2={
            "title": "state of charge [%]",
            "overlaying": "y",
            "side": "right",
            "range": [0, 105],
            "tickmode": "array",
            "tickvals": [0, 25, 50, 75, 100],
            "showgrid": False,
        },
        bargap=0,
    )
    return fig


def vehicles_table(status: pl.DataFrame, timezone: str) -> None:
    """The vehicles at the as-of moment, with their V2G payments."""
    st.dataframe(
        status.with_columns(
            pl.col("next_departure_utc").dt.convert_time_zone(timezone).alias("next_departure")
        ).select(
            "vehicle_id",
            "charger_id",
            "owner_account",
            "v2g_allowed",
            "plugged_in",
            "soc_pct",
            "setpoint_kw",
            "next_departure",
            "planned_kwh",
            "planned_eur",
            "metered_kwh",
            "metered_eur",
        ),
        hide_index=True,
        width="stretch",
        column_config={
            "vehicle_id": "Vehicle",
            "charger_id": "Charger",
            "owner_account": "Owner",
            "v2g_allowed": st.column_config.CheckboxColumn("V2G allowed"),
            "plugged_in": st.column_config.CheckboxColumn("Plugged in"),
            "soc_pct": st.column_config.ProgressColumn(
                "SoC [%]", min_value=0, max_value=100, format="%.0f %%"
            ),
            "setpoint_kw": st.column_config.NumberColumn(
                "Setpoint [kW]",
                format="%.1f",
                help="Setpoint in force for the charger at the as-of moment.",
            ),
            "next_departure": st.column_config.DatetimeColumn(
                "Next departure", format="ddd D MMM HH:mm", help="Empty: no route on record."
            ),
            "planned_kwh": st.column_config.NumberColumn("V2G planned [kWh]", format="%.1f"),
            "planned_eur": st.column_config.NumberColumn("V2G planned [EUR]", format="%.2f"),
            "metered_kwh": st.column_config.NumberColumn("V2G metered [kWh]", format="%.1f"),
            "metered_eur": st.column_config.NumberColumn("V2G metered [EUR]", format="%.2f"),
        },
    )


def settlements_table(daily: pl.DataFrame) -> None:
    """V2G settlements per local day and vehicle, planned next to metered."""
    if daily.is_empty():
        st.caption("No V2G settlements in these days (dataset `v2g_settlements`).")
        return
    st.dataframe(
        daily,
        hide_index=True,
        width="stretch",
        column_config={
            "day": st.column_config.DateColumn("Local day"),
            "owner_account": "Owner",
            "vehicle_id": "Vehicle",
            "planned_kwh": st.column_config.NumberColumn("Planned [kWh]", format="%.1f"),
            "planned_eur": st.column_config.NumberColumn("Planned [EUR]", format="%.2f"),
            "metered_kwh": st.column_config.NumberColumn("Metered [kWh]", format="%.1f"),
            "metered_eur": st.column_config.NumberColumn("Metered [EUR]", format="%.2f"),
            "price_slots_missing": st.column_config.NumberColumn(
                "Slots without price",
                help="Discharge slots with no day-ahead price, settled at 0 EUR.",
            ),
        },
    )
    if daily["price_slots_missing"].sum():
        st.caption(
            "Some discharge slots had no day-ahead price yet and are settled at 0 EUR; "
            "they are counted so they can be settled again once the prices land."
        )


cfg = ui.config()
st.title("Fleet and V2G")
st.caption(
    f"Each EV of the fleet on the local day chosen in the sidebar (times in {cfg.timezone}). "
    "State of charge is estimated like the planner does: a vehicle comes back from a route "
    f"(`fleet_trips`) with its {DEPARTURE_SOC_PCT:.0f} % departure target less the route's "
    "energy, then its charger's metered power (`device_telemetry`) is added; after the "
    "newest telemetry (*as of*) the setpoints in force (`setpoint_plans`) are added instead. "
    "V2G payments (`v2g_settlements`) are discharged energy × day-ahead price, as planned "
    "and as metered."
)
day = ui.as_of_day(cfg)
if day is None:
    st.stop()

args = (cfg.lake_root, cfg.site_id, cfg.timezone, day)
status = cache.frame(fleet_status, *args)
if status.is_empty():
    st.info(NO_FLEET.format(site=cfg.site_id))
    st.stop()

as_of = status["as_of_utc"][0].astimezone(cfg.tz)  # aware, local
plugged = status.filter("plugged_in")
first, last = cache.frame(settlement_days, *args)
plugged_col, soc_col, planned_col, metered_col = st.columns(4)
plugged_col.metric(
    "Plugged in",
    f"{plugged.height} / {status.height}",
    help=f"Vehicles at their charger as of {as_of:%d %b %H:%M} local.",
    border=True,
)
soc_col.metric(
    "Mean SoC plugged in",
    f"{plugged['soc_pct'].mean():.0f} %" if plugged.height else "–",
    help="Mean estimated state of charge of the plugged-in vehicles [%].",
    border=True,
)
for column, basis, what in (
    (planned_col, "planned", "Discharge in the setpoints in force"),
    (metered_col, "metered", "Discharge metered by the chargers"),
):
    column.metric(
        f"V2G {basis}",
        f"{status[f'{basis}_kwh'].sum():,.0f} kWh",
        delta=f"{status[f'{basis}_eur'].sum():,.2f} EUR",
        delta_color="off",
        delta_arrow="off",
        help=f"{what}, settled {first} to {last}, and its pay [kWh, EUR].",
        border=True,
    )

st.subheader(f"Vehicles as of {as_of:%a %d %b %H:%M}")
st.caption(
    "Setpoint: the plan's power for the charger in the slot starting at the as-of moment "
    f"(positive charges) [kW]. V2G columns: settlements of the local days {first} to {last}, "
    "the last being the as-of day or the last day of the plan in force."
)
vehicles_table(status, cfg.timezone)

st.subheader("One vehicle over the day and the plan horizon")
vehicle = st.selectbox("Vehicle", status["vehicle_id"].to_list(), key="fleet_vehicle")
series = cache.frame(fleet_series, *args).filter(pl.col("vehicle_id") == vehicle)
if series["plugged_in"].any() or series["planned_kw"].is_not_null().any():
    st.plotly_chart(vehicle_chart(series, as_of, cfg.timezone), width="stretch")
else:
    st.info(f"{vehicle} is away all day and has no plan: nothing to chart.")

st.subheader(f"V2G settlements, {first} to {last}")
settlements_table(cache.frame(v2g_daily, cfg.lake_root, cfg.site_id, first, last))
