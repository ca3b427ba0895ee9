"""The site registry: the sites a code location serves besides its own (``SITES_FILE``).

A CSV with one row per site::

    site_id,timezone,max_export_limit_kw,sample_seed
    site-0001,Europe/Berlin,50,1001

Every site of a registry is in the code location's grid zone (``GRID_REGION``); a
portfolio in several bidding zones runs one code location per zone. ``sample_seed`` seeds
the embedded sample data of a site that has no real meters yet.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

COLUMNS = ("site_id", "timezone", "max_export_limit_kw", "sample_seed")
#: A site id names lake partitions and Dagster partition keys: no separators, no spaces.
SITE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class SiteRegistryError(ValueError):
    """The registry file cannot be used; the message names the file, row and field."""


@dataclass(frozen=True)
class RegisteredSite:
    """One site of the registry.

    Attributes
    ----------
    site_id : str
        Site identifier (letters, digits, ``_.-``).
    timezone : str
        IANA time zone of the site's local day.
    max_export_limit_kw : int
        Export limit at the grid connection [kW].
    sample_seed : int
        Seed of the site's embedded sample data.
    """

    site_id: str
    timezone: str
    max_export_limit_kw: int
    sample_seed: int


def check_site_id(site_id: str) -> str:
    """``site_id`` when it can name partitions, else a :class:`SiteRegistryError`."""
    if not SITE_ID.match(site_id):
        raise SiteRegistryError(
            f"site id {site_id!r}: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    try:
        date.fromisoformat(site_id)
    except ValueError:
        return site_id
    raise SiteRegistryError(f"site id {site_id!r} reads as a day; partition keys need it apart")


def _row(path: Path, line: int, row: dict[str, str]) -> RegisteredSite:
    where = f"{path}:{line}"
    try:
        site_id = check_site_id((row["site_id"] or "").strip())
        timezone = (row["timezone"] or "").strip()
        ZoneInfo(timezone)
        limit = int(row["max_export_limit_kw"])
        seed = int(row["sample_seed"])
    except (SiteRegistryError, ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise SiteRegistryError(f"{where}: {exc}") from exc
    if limit < 0:
        raise SiteRegistryError(f"{where}: max_export_limit_kw must be >= 0, got {limit}")
    return RegisteredSite(site_id, timezone, limit, seed)


def read_site_registry(path: str | Path) -> dict[str, RegisteredSite]:
    """The sites of the registry CSV at ``path`` by id, in file order.

    Raises
    ------
    SiteRegistryError
        The file is missing, lacks a column, repeats a site or has an invalid value.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SiteRegistryError(f"site registry {path}: {exc}") from exc
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise SiteRegistryError(f"site registry {path}: missing columns {missing}")
    sites: dict[str, RegisteredSite] = {}
    for line, row in enumerate(reader, start=2):
        site = _row(path, line, row)
        if site.site_id in sites:
            raise SiteRegistryError(f"{path}:{line}: site {site.site_id!r} is listed twice")
        sites[site.site_id] = site
    return sites
