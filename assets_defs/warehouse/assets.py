"""The DuckDB warehouse: contract views over the lake."""

import dagster as dg

from assets_defs.resources import LakeResource
from pipelines.warehouse import refresh_views


def build_warehouse_views(upstream: list) -> dg.AssetsDefinition:
    """The views asset, downstream of every lake asset so it refreshes after them."""

    @dg.asset(deps=upstream, group_name="warehouse", kinds={"duckdb"})
    def warehouse_views(lake_store: LakeResource) -> dg.MaterializeResult:
        """Create or replace the data-contract views in the DuckDB warehouse file."""
        views = refresh_views(lake_store.root, lake_store.warehouse_path)
        return dg.MaterializeResult(
            metadata={
                "views": views,
                "warehouse": dg.MetadataValue.path(lake_store.warehouse_path),
            }
        )

    return warehouse_views
