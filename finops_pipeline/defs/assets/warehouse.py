"""Warehouse stage: DuckDB facts and daily KPIs, each day replaced in one transaction."""

import dagster as dg

from finops_pipeline import stages
from finops_pipeline.defs.assets.common import markdown_preview, partition_days, progress_logger
from finops_pipeline.defs.assets.lake import LAKE_KEYS
from finops_pipeline.defs.partitions import daily_partitions
from finops_pipeline.defs.resources import FinopsConfig
from finops_pipeline.warehouse.tables import tables

WAREHOUSE_POOL = "duckdb_warehouse"
WAREHOUSE_KEYS = {t.name: dg.AssetKey(["warehouse", t.name]) for t in tables()}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(WAREHOUSE_KEYS[t.name], deps=list(LAKE_KEYS.values()),
                     group_name="warehouse", kinds={"duckdb"},
                     description=f"{t.description} Grain: {', '.join(t.grain)}.")
        for t in tables()
    ],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WAREHOUSE_POOL,
)
def warehouse(context: dg.AssetExecutionContext, finops: FinopsConfig):
    """Load the lake days into warehouse/finops.duckdb (built on a copy, published atomically)."""
    report = stages.load_warehouse(finops.settings(), partition_days(context),
                                   progress_logger(context))
    per_day = report.frame()
    for name, key in WAREHOUSE_KEYS.items():
        metadata = {"dagster/row_count": report.total(name)}
        if name == "kpi_workflow_daily":
            metadata["per_day"] = markdown_preview(per_day)
        yield dg.MaterializeResult(asset_key=key, metadata=metadata)
