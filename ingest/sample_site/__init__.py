"""The embedded sample site "warehouse-b": a seeded, realistic German industrial site."""

from ingest.sample_site.config import SiteConfig
from ingest.sample_site.generate import SampleSite, generate_site
from ingest.sample_site.raw_files import write_raw

__all__ = ["SiteConfig", "SampleSite", "generate_site", "write_raw"]
