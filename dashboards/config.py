"""Dashboard settings, read from the environment (.env) when the app starts, never at import."""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class DashboardConfig:
    """Where the dashboard reads from.

    Attributes
    ----------
    lake_root : str
        Lake root folder, read only.
    reports_dir : str
        Folder of generated reports (Scope 2 PDF and CSV files under ``scope2/``).
    site_id : str
        Site shown.
    zone : str
        ENTSO-E bidding zone of the site's grid, e.g. ``DE_LU``.
    timezone : str
        Site's local time zone; days and hours on every page are local.
    control_api_url : str
        Base URL of the control service's HTTP API.
    control_api_token : str
        Bearer token for manual overrides; empty makes the Control page read only.
    """

    lake_root: str = "data/lake"
    reports_dir: str = "data/reports"
    site_id: str = "warehouse-b"
    zone: str = "DE_LU"
    timezone: str = "Europe/Berlin"
    control_api_url: str = "http://127.0.0.1:8000"
    control_api_token: str = field(default="", repr=False)  # a secret: kept out of reprs

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def from_settings(cls, settings) -> DashboardConfig:
        """The config for a :class:`novaenergy.settings.Settings`."""
        host = settings.device_host if settings.device_host not in ("", "0.0.0.0") else "127.0.0.1"
        return cls(
            lake_root=settings.lake_root,
            reports_dir=settings.reports_dir,
            site_id=settings.site_id,
            zone=settings.grid_region.removeprefix("EU_ENTSOE_"),
            timezone=settings.site_timezone,
            control_api_url=f"http://{host}:{settings.control_api_port}",
            control_api_token=settings.control_api_token,
        )
