"""Control: the running control service's devices, setpoints, events and manual overrides."""

import polars as pl
import streamlit as st

from dashboards import cache, ui
from dashboards.config import DashboardConfig
from dashboards.control_client import (
    ControlApiError,
    ControlSnapshot,
    ControlUnreachable,
    clear_override,
    set_override,
    snapshot,
)

DEFAULT_MINUTES = 15
MAX_MINUTES = 24 * 60
OUTCOME = "control_override_outcome"  # session key of the last override call's message


def override_key(kind: str, device_id: str) -> str:
    """Session-state key of one device's override widget (``toggle``, ``kw`` or ``minutes``)."""
    return f"override_{kind}_{device_id}"


def toggle_override(cfg: DashboardConfig, device_id: str) -> None:
    """Callback of a device's switch: put the override on with its power and duration, or end it."""
    on = st.session_state[override_key("toggle", device_id)]
    try:
        if on:
            kw = st.session_state[override_key("kw", device_id)]
            minutes = st.session_state[override_key("minutes", device_id)]
            set_override(
                cfg.control_api_url,
                cfg.control_api_token,
                device_id,
                power_w=kw * 1000,
                ttl_s=minutes * 60,
                reason="dashboard",
            )
            message = f"{device_id} held at {kw:.1f} kW for {minutes} min."
        else:
            clear_override(cfg.control_api_url, cfg.control_api_token, device_id)
            message = f"{device_id}: override ended, back to the plan."
        st.session_state[OUTCOME] = ("success", message)
    except ControlUnreachable as error:
        st.session_state[OUTCOME] = ("error", f"{device_id}: {error.detail}")
    except ControlApiError as error:
        st.session_state[OUTCOME] = ("error", f"{device_id}: the service refused: {error.detail}")
    cache.clear()  # the next run reads the new state


def health_metrics(snap: ControlSnapshot) -> None:
    """Service status, mode, island state, devices online and the plan in force."""
    health, plan = snap.health, snap.plan
    status, mode, island, online, plan_col = st.columns(5)
    last = health.get("last_cycle_utc")
    status.metric(
        "Service",
        health["status"],
        help=f"{health['cycles']} dispatch cycles; last at {last or 'never'} (UTC).",
        border=True,
    )
    mode.metric("Mode", health["mode"], help="grid: grid-connected; else island.", border=True)
    machine = snap.island.get("state") or {}  # empty without an island state machine
    island.metric(
        "Island state",
        machine.get("mode", "n/a"),
        help=(
            f"Since {machine.get('since') or 'start'} (UTC); loads shed: "
            f"{', '.join(machine.get('shed') or []) or 'none'}."
            if machine
            else "The service runs without island mode (no grid meter configured)."
        ),
        border=True,
    )
    total = health["devices_online"] + health["devices_offline"]
    online.metric("Devices online", f"{health['devices_online']} / {total}", border=True)
    plan_col.metric(
        "Plan in force",
        "stale" if plan["stale"] else plan.get("kind") or plan["plan_id"],
        help=(
            "No valid plan covers now: devices get safe defaults (0 kW)."
            if plan["stale"]
            else f"{plan['plan_id']}, slot {plan['slot_start_utc']} to {plan['slot_end_utc']} UTC."
        ),
        border=True,
    )


def local(frame: pl.DataFrame, timezone: str) -> pl.DataFrame:
    """Every UTC time column as local time, renamed without ``_utc``."""
    return frame.with_columns(
        pl.col(c).dt.convert_time_zone(timezone).alias(c.removesuffix("_utc"))
        for c in frame.columns
        if c.endswith("_utc")
    ).drop(c for c in frame.columns if c.endswith("_utc"))


def devices_table(devices: pl.DataFrame, timezone: str) -> None:
    """Devices: online, last reading, setpoint wanted and sent, override in force."""
    when = st.column_config.DatetimeColumn
    st.dataframe(
        local(devices, timezone).select(
            "device_id",
            "protocol",
            "online",
            "power_kw",
            "soc_pct",
            "read_at",
            "wanted_kw",
            "source",
            "clamped",
            "sent_kw",
            "ack_status",
            "sent_at",
            "override_kw",
            "expires_at",
            "error",
        ),
        hide_index=True,
        width="stretch",
        column_config={
            "device_id": "Device",
            "protocol": "Protocol",
            "online": st.column_config.CheckboxColumn("Online"),
            "power_kw": st.column_config.NumberColumn("Power [kW]", format="%.1f"),
            "soc_pct": st.column_config.NumberColumn("SoC [%]", format="%.0f"),
            "read_at": when("Last reading", format="HH:mm:ss"),
            "wanted_kw": st.column_config.NumberColumn(
                "Setpoint [kW]", format="%.1f", help="What the last decision wants."
            ),
            "source": st.column_config.TextColumn(
                "From", help="plan, override, island or safe_default."
            ),
            "clamped": st.column_config.CheckboxColumn("Clamped"),
            "sent_kw": st.column_config.NumberColumn(
                "Sent [kW]", format="%.1f", help="Last setpoint sent to the device."
            ),
            "ack_status": "Ack",
            "sent_at": when("Sent at", format="HH:mm:ss"),
            "override_kw": st.column_config.NumberColumn("Override [kW]", format="%.1f"),
            "expires_at": when("Override until", format="D MMM HH:mm"),
            "error": "Error",
        },
    )


def override_switches(snap: ControlSnapshot, cfg: DashboardConfig) -> None:
    """One row per device: power [kW], duration [min] and the switch that applies them."""
    read_only = not cfg.control_api_token or snap.health.get("read_only", False)
    if not cfg.control_api_token:
        st.caption(
            "Read only: set `CONTROL_API_TOKEN` (the service's API token) in `.env` and "
            "restart the dashboard to switch overrides here."
        )
    elif snap.health.get("read_only"):
        st.caption(
            "Read only: the service runs without an API token; start it with "
            "`CONTROL_API_TOKEN` set to accept overrides."
        )
    if OUTCOME in st.session_state:
        kind, message = st.session_state.pop(OUTCOME)
        (st.success if kind == "success" else st.error)(message)
    for row in snap.devices.iter_rows(named=True):
        device_id = row["device_id"]
        toggle = override_key("toggle", device_id)
        held = row["override_kw"] is not None
        st.session_state[toggle] = held  # the switch shows the service's state
        name, kw, minutes, switch = st.columns([2, 2, 2, 2], vertical_alignment="bottom")
        name.markdown(f"**{device_id}**")
        kw.number_input(
            "Power [kW]",
            value=row["override_kw"] if held else row["wanted_kw"] or 0.0,
            step=1.0,
            key=override_key("kw", device_id),
            disabled=read_only or held,
            help="Positive draws from the site bus (charge), negative feeds it (discharge).",
        )
        minutes.number_input(
            "For [min]",
            min_value=1,
            max_value=MAX_MINUTES,
            value=DEFAULT_MINUTES,
            key=override_key("minutes", device_id),
            disabled=read_only or held,
        )
        switch.toggle(
            "Override",
            key=toggle,
            on_change=toggle_override,
            args=(cfg, device_id),
            disabled=read_only,
            help="On: hold the device at this power until the time runs out. Off: back to "
            "the plan.",
        )


def events_table(events: pl.DataFrame, timezone: str) -> None:
    """Recent service events, newest first."""
    if events.is_empty():
        st.caption("No events yet.")
        return
    st.dataframe(
        local(events, timezone).select("ts", "event_type", "device_id", "detail"),
        hide_index=True,
        width="stretch",
        column_config={
            "ts": st.column_config.DatetimeColumn("Time", format="D MMM HH:mm:ss"),
            "event_type": "Event",
            "device_id": "Device",
            "detail": "Detail",
        },
    )


cfg = ui.config()
st.title("Control")
st.caption(
    f"Live state of the control service at {cfg.control_api_url} (its HTTP API, re-read "
    f"every 2 s on interaction; times in {cfg.timezone}). Power in kW, positive when a "
    "device draws from the site bus. A manual override holds a device at a power until it "
    "expires, ahead of the plan; the service still clamps it to the site limits."
)
try:
    snap = cache.live(snapshot, cfg.control_api_url)
except ControlUnreachable:
    st.warning(
        f"The control service is not reachable at {cfg.control_api_url}. Start it with "
        "`novaenergy control serve` (or `make dev`, which starts it with the simulated "
        "devices and this dashboard), then press *Refresh data*."
    )
    st.stop()

health_metrics(snap)

st.subheader("Devices and setpoints in force")
devices_table(snap.devices, cfg.timezone)
if snap.clamps:
    st.caption("Limits applied by the last decision: " + "; ".join(snap.clamps))
st.subheader("Manual overrides")
override_switches(snap, cfg)

st.subheader("Recent events")
events_table(snap.events, cfg.timezone)
