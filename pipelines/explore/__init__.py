"""Read-side questions over the lake, shared by the dashboard and the analyst notebooks.

Every function takes the lake root (and site, zone, period) and returns a Polars frame or a
small dict; none of them writes, caches or touches Streamlit. Reads go through
:func:`pipelines.lake.scan`, so they see whole partitions only (the lake replaces a partition
by renaming a finished file over the old one).
"""
