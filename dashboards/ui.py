"""Widgets every page shares: the config, the period picker and the empty-lake notice."""

from __future__ import annotations

from datetime import date, timedelta

import streamlit as st

from dashboards import cache
from dashboards.config import DashboardConfig
from pipelines.explore.energy import data_span

EMPTY_LAKE = "No data in the lake yet. Run `make demo` to build the sample site."


def config() -> DashboardConfig:
    """The app's config (set once by ``app.py``; tests put their own in session state)."""
    return st.session_state.get("config") or DashboardConfig()


def span(cfg: DashboardConfig) -> tuple[date, date] | None:
    """First and last local day with site data, or None (and the notice shown) when empty."""
    got = cache.frame(data_span, cfg.lake_root, cfg.site_id, cfg.timezone)
    if got is None:
        st.info(EMPTY_LAKE)
    return got


def as_of_day(cfg: DashboardConfig) -> date | None:
    """The day the page reports on: the newest day with data, chosen in the sidebar."""
    got = span(cfg)
    if got is None:
        return None
    first, last = got
    return st.sidebar.date_input(
        "Day",
        value=last,
        min_value=first,
        max_value=last,
        key="as_of_day",
        help="Pages report on this local day; it starts at the newest day in the lake.",
    )


def period(cfg: DashboardConfig, days: int = 7, key: str = "period") -> tuple[date, date] | None:
    """A local period [first, last] (both included), ending on the newest day by default."""
    got = span(cfg)
    if got is None:
        return None
    first, last = got
    start = max(first, last - timedelta(days=days - 1))
    chosen = st.date_input(
        "Period",
        value=(start, last),
        min_value=first,
        max_value=last,
        key=key,
        help="Local days, first and last included.",
    )
    if isinstance(chosen, tuple) and len(chosen) == 2:
        return chosen[0], chosen[1]
    picked = chosen[0] if isinstance(chosen, tuple) else chosen
    return picked, picked
