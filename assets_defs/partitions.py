"""Partitions: UTC days for the zone's assets, UTC days × sites for a site's, and the
window and site a run covers."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg
import pandas as pd

PARTITIONS_START = "2025-01-01"
PARTITIONS_START_DATE = date.fromisoformat(PARTITIONS_START)

#: Zone-wide assets (grid data): one partition per UTC day.
daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC")
#: The code location's sites, added at run time from the site registry
#: (:func:`register_sites`, :data:`assets_defs.site.sensors.register_sites_sensor`).
site_partitions = dg.DynamicPartitionsDefinition(name="sites")
#: Site assets: one partition per UTC day and site (keys ``2025-03-03|warehouse-b``).
site_daily_partitions = dg.MultiPartitionsDefinition(
    {"date": daily_partitions, "site": site_partitions}
)

# A backfill over many days runs as one run per asset, which handles the whole window.
# The parameter is marked beta in Dagster 1.13; we rely on it knowingly.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)
# So is a window mapping reaching before the first partition (vampire loads' history).
warnings.filterwarnings(
    "ignore", message="Parameter `allow_nonexistent_upstream_partitions`", category=dg.BetaWarning
)
# So is the mapping of a site's day to the days of its vampire-load window.
warnings.filterwarnings("ignore", message="Class `MultiPartitionMapping`", category=dg.BetaWarning)
single_run = dg.BackfillPolicy.single_run()


@dataclass(frozen=True)
class Window:
    """UTC days ``start <= day < end``."""

    start: date
    end: date

    @property
    def bounds_utc(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """Start and end of the window as UTC timestamps (for entsoe-py's client)."""
        return pd.Timestamp(self.start.isoformat(), tz="UTC"), pd.Timestamp(
            self.end.isoformat(), tz="UTC"
        )

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days)]


def window_of(context) -> Window:
    """The UTC day window of a partitioned run (one day or a single-run range)."""
    tw = context.partition_time_window
    return Window(tw.start.date(), tw.end.date())


RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def every_day(upstream) -> dg.AssetDep:
    """A site's (not daily) asset reads every day of the zone asset ``upstream``."""
    return dg.AssetDep(upstream, partition_mapping=dg.AllPartitionMapping())


def site_day_key(day: date, site_id: str) -> dg.MultiPartitionKey:
    """The partition of a site asset for ``site_id`` on the UTC ``day``."""
    return dg.MultiPartitionKey({"date": day.isoformat(), "site": site_id})


def range_tags(first: date, last: date, site_id: str | None = None) -> dict[str, str]:
    """Run tags that make one run cover the UTC days ``first..last`` (both included): of
    the zone assets, or with ``site_id`` of that site's assets."""
    start, end = first.isoformat(), last.isoformat()
    if site_id is not None:
        start, end = site_day_key(first, site_id), site_day_key(last, site_id)
    return {RANGE_START: str(start), RANGE_END: str(end)}


def key_parts(key: str) -> tuple[date | None, str | None]:
    """(UTC day, site) of a partition key: ``day``, ``day|site`` or ``site``."""
    if "|" in key:
        day, site_id = key.split("|", 1)
        return date.fromisoformat(day), site_id
    try:
        return date.fromisoformat(key), None
    except ValueError:
        return None, key


def run_partition_keys(context) -> list[str]:
    """The partition keys a run targets (its first and last, for a run of checks alone,
    which has no partitioned step), none for an unpartitioned run."""
    op_context = context.op_execution_context
    if not (op_context.has_partition_key_range or op_context.has_partition_key):
        return []
    try:
        return [str(k) for k in op_context.partition_keys]
    except dg.DagsterInvariantViolationError:
        tags = op_context.run.tags
        first = tags.get(RANGE_START) or tags["dagster/partition"]
        return [first, tags.get(RANGE_END) or first]


def sites_of(context) -> list[str]:
    """The sites a run of site assets (or of their checks) covers, in key order.

    Mostly one: schedules and sensors ask for one run per site. A backfill over sites ×
    days groups its partitions by the dimension with fewer keys, so a run may also cover
    one day of many sites.

    Raises
    ------
    dagster.Failure
        The run targets no site partition.
    """
    sites = list(dict.fromkeys(key_parts(k)[1] for k in run_partition_keys(context)))
    if not sites or None in sites:
        raise dg.Failure("a run of site assets must target site partitions")
    return sites


def site_of(context) -> str:
    """The one site a run of a per-site asset (partitioned by site alone) covers.

    Raises
    ------
    dagster.Failure
        The run covers no site or several (launch one run per site).
    """
    sites = sites_of(context)
    if len(sites) != 1:
        raise dg.Failure(f"a run of this asset covers one site, this one covers {sites}")
    return sites[0]


def is_site_scoped(partitions_def) -> bool:
    """Whether assets with ``partitions_def`` run per site."""
    return partitions_def in (site_partitions, site_daily_partitions)


def run_target(partitions_def, first: date, last: date, site_id: str) -> dict:
    """The ``dagster.materialize`` keyword arguments for one run of assets with
    ``partitions_def`` over the UTC days ``first..last`` of ``site_id`` (or of its zone)."""
    if partitions_def is None:
        return {}
    if partitions_def == site_partitions:
        return {"partition_key": site_id}
    return {"tags": range_tags(first, last, site_id if is_site_scoped(partitions_def) else None)}


def unregistered_sites(instance: dg.DagsterInstance, site_ids: list[str]) -> list[str]:
    """The sites of ``site_ids`` that are not yet partitions of ``instance``."""
    known = set(instance.get_dynamic_partitions(site_partitions.name))
    return [s for s in site_ids if s not in known]


def register_sites(instance: dg.DagsterInstance, site_ids: list[str]) -> list[str]:
    """Add the sites not yet known to ``instance`` as partitions; the ones added."""
    new = unregistered_sites(instance, site_ids)
    if new:
        instance.add_dynamic_partitions(site_partitions.name, new)
    return new
