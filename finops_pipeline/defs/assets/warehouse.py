"""Warehouse stage: facts and daily KPIs from the lake, each day replaced in one transaction.

One multi-asset whose outputs are the lake-backed tables of the registry (warehouse/tables.py):
the large facts as views over the lake, the others loaded day by day into a private copy of
warehouse/finops.duckdb that is published atomically.
"""

import dagster as dg
import polars as pl

from finops_pipeline.defs.assets.common import markdown_preview, partition_days
from finops_pipeline.defs.assets.lake import LAKE_KEYS
from finops_pipeline.defs.partitions import daily_partitions
from finops_pipeline.defs.resources import FinopsConfig
from finops_pipeline.warehouse.load import load_lake_days
from finops_pipeline.warehouse.publish import open_for_update
from finops_pipeline.warehouse.tables import Table, tables

WAREHOUSE_POOL = "duckdb_warehouse"
WAREHOUSE_KEYS = {t.name: dg.AssetKey(["warehouse", t.name]) for t in tables()}


def table_spec(t: Table, deps: list[dg.AssetKey]) -> dg.AssetSpec:
    where = "a view over the lake's Parquet" if t.storage == "lake_view" else "a DuckDB table"
    return dg.AssetSpec(
        WAREHOUSE_KEYS.get(t.name, dg.AssetKey(["warehouse", t.name])), deps=deps,
        group_name="warehouse", kinds={"duckdb"},
        description=f"{t.description} Grain: {', '.join(t.grain)}. Stored as {where}.")


LAKE_TABLES = [t for t in tables() if t.from_lake]


@dg.multi_asset(
    specs=[table_spec(t, [LAKE_KEYS[r] for r in t.reads]) for t in LAKE_TABLES],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WAREHOUSE_POOL,
)
def warehouse(context: dg.AssetExecutionContext, finops: FinopsConfig):
    """Load the lake days into warehouse/finops.duckdb (built on a copy, published atomically)."""
    paths = finops.paths()
    with open_for_update(paths) as con:
        report = load_lake_days(con, paths, partition_days(context), LAKE_TABLES,
                                context.log.info)
    context.log.info(f"warehouse published at {paths.warehouse}")
    per_day = pl.DataFrame(report)
    for t in LAKE_TABLES:
        yield dg.MaterializeResult(asset_key=WAREHOUSE_KEYS[t.name], metadata={
            "dagster/row_count": int(per_day[t.name].sum()),
            "per_day": markdown_preview(per_day.select("day", t.name))})
