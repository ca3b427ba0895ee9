"""The dashboard's caches, all bounded, in one place.

Pages never cache on their own: they call ``cache.frame(query, *args)`` for lake reads and
``cache.live(query, *args)`` for the control API. A query is any module-level function that
returns a frame (or plain data) and never touches Streamlit; its arguments must be hashable.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

import streamlit as st


def _resolve(module: str, name: str) -> Callable:
    return getattr(import_module(module), name)


# The lake changes when a Dagster run lands a partition: five minutes is fresh enough for
# history, and the bound keeps a long-running app's memory flat.
@st.cache_data(ttl=300, max_entries=256, show_spinner=False)
def _lake(module: str, name: str, *args: Any) -> Any:
    return _resolve(module, name)(*args)


# Live device state moves every control cycle.
@st.cache_data(ttl=2, max_entries=32, show_spinner=False)
def _live(module: str, name: str, *args: Any) -> Any:
    return _resolve(module, name)(*args)


def frame(query: Callable, *args: Any) -> Any:
    """``query(*args)``, cached for 5 minutes (at most 256 results)."""
    return _lake(query.__module__, query.__name__, *args)


def live(query: Callable, *args: Any) -> Any:
    """``query(*args)``, cached for 2 seconds (at most 32 results)."""
    return _live(query.__module__, query.__name__, *args)


def clear() -> None:
    """Forget every cached result (the sidebar's refresh button)."""
    _lake.clear()
    _live.clear()
