"""Warehouse stage: facts and daily KPIs from the lake, each day replaced in one transaction.

One multi-asset whose outputs are the lake-backed tables of the registry (warehouse/tables.py):
the large facts as views over the lake, the others loaded day by day into a private copy of
warehouse/finops.duckdb that is published atomically.
"""

from collections.abc import Sequence

import dagster as dg
import polars as pl

from finops_pipeline.defs.assets.common import markdown_preview, partition_days
from finops_pipeline.defs.assets.lake import LAKE_KEYS
from finops_pipeline.defs.partitions import daily_partitions
from finops_pipeline.warehouse.load import load_lake_days
from finops_pipeline.warehouse.publish import open_for_update
from finops_pipeline.warehouse.tables import Table, tables

WAREHOUSE_POOL = "duckdb_warehouse"


def table_key(name: str) -> dg.AssetKey:
    """warehouse/<table>: the asset key of a table."""
    return dg.AssetKey(["warehouse", name])


WAREHOUSE_KEYS = {t.name: table_key(t.name) for t in tables()}


def table_spec(t: Table, deps: list[dg.AssetKey]) -> dg.AssetSpec:
    """The asset of one table, upstream of what it reads."""
    where = "a view over the lake's Parquet" if t.storage == "lake_view" else "a DuckDB table"
    return dg.AssetSpec(
        table_key(t.name), deps=deps,
        group_name="warehouse", kinds={"duckdb"},
        description=f"{t.description} Grain: {', '.join(t.grain)}. Stored as {where}.")


def build_warehouse_asset(registered: Sequence[Table]) -> dg.AssetsDefinition:
    """The multi-asset of the lake-backed tables among `registered` (the registry's)."""
    chosen = [t for t in registered if t.from_lake]

    @dg.multi_asset(
        name="warehouse",
        specs=[table_spec(t, [LAKE_KEYS[r] for r in t.reads]) for t in chosen],
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
        required_resource_keys={"finops"},
    )
    def _warehouse(context: dg.AssetExecutionContext):
        """Load the lake days into warehouse/finops.duckdb (built on a copy, published
        atomically)."""
        paths = context.resources.finops.paths()
        with open_for_update(paths, registered) as con:
            report = load_lake_days(con, paths, partition_days(context), chosen,
                                    context.log.info)
        context.log.info(f"warehouse published at {paths.warehouse}")
        per_day = pl.DataFrame(report)
        for t in chosen:
            yield dg.MaterializeResult(asset_key=table_key(t.name), metadata={
                "dagster/row_count": int(per_day[t.name].sum()),
                "per_day": markdown_preview(per_day.select("day", t.name))})

    return _warehouse


warehouse = build_warehouse_asset(tables())
