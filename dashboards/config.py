"""Dashboard settings, passed in by the composition root or defaulting to the sample site."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DashboardConfig:
    lake_root: str = "data/lake"
    site_id: str = "warehouse-b"
