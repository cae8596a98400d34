"""Analytics stage: tables built from a trailing window of the warehouse's own small tables.

Generated from the table registry: every table whose `reads` are warehouse tables (trends,
anomalies, ...) is an output of one multi-asset downstream of those tables. It reads only the
warehouse (KPI tables are small; lake facts are not read), and a run over days A..B rebuilds
every day those days feed, through B + window_days - 1 (capped at the latest loaded day), so a
backfill never leaves a stale trend behind it. No analytics table registered, no asset.
"""

from collections.abc import Sequence

import dagster as dg
import polars as pl

from finops_pipeline.defs.assets.common import markdown_preview, partition_days
from finops_pipeline.defs.assets.warehouse import WAREHOUSE_POOL, table_key, table_spec
from finops_pipeline.defs.partitions import daily_partitions
from finops_pipeline.warehouse.load import load_analytics
from finops_pipeline.warehouse.publish import open_for_update
from finops_pipeline.warehouse.tables import Table, tables


def build_analytics_asset(registered: Sequence[Table]) -> dg.AssetsDefinition | None:
    """The multi-asset of the analytics tables among `registered` (None when there are none)."""
    chosen = [t for t in registered if t.analytics]
    if not chosen:
        return None

    @dg.multi_asset(
        name="analytics",
        specs=[table_spec(t, [table_key(r) for r in t.reads]) for t in chosen],
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
        required_resource_keys={"finops"},
    )
    def _analytics(context: dg.AssetExecutionContext):
        paths = context.resources.finops.paths()
        with open_for_update(paths, registered) as con:
            report = load_analytics(con, partition_days(context), chosen, context.log.info)
        by_table = {r["table"]: r for r in report}
        for t in chosen:
            r = by_table[t.name]
            yield dg.MaterializeResult(asset_key=table_key(t.name), metadata={
                "dagster/row_count": r["rows"], "first_day": r["first_day"],
                "last_day": r["last_day"],
                "days_rebuilt": markdown_preview(pl.DataFrame([r]))})

    return _analytics


ANALYTICS_ASSETS = [a for a in (build_analytics_asset(tables()),) if a is not None]
