"""Warehouse stage: every table of the registry (warehouse/tables.py), published at once.

One multi-asset with one output per table. Per day of the run, the tables built from the lake
are loaded into a private copy of warehouse/finops.duckdb (the large facts are pinned lake
files behind views); then the analytics tables, downstream of the tables they read, are rebuilt
for every day those days feed from a trailing window of the warehouse's own small tables. The
copy is then published atomically, so a reader never sees new KPIs beside stale trends.
"""

import datetime as dt
from collections.abc import Sequence

import dagster as dg
import duckdb
import polars as pl

from finops_pipeline.defs.assets.common import (
    DATA_POOL,
    PREVIEW_MAX_DAYS,
    markdown_preview,
    partition_days,
    range_preview,
)
from finops_pipeline.defs.assets.lake import LAKE_KEYS
from finops_pipeline.defs.partitions import daily_partitions
from finops_pipeline.warehouse.load import load_analytics, load_lake_days
from finops_pipeline.warehouse.publish import open_for_update
from finops_pipeline.warehouse.tables import Table, tables


def table_key(name: str) -> dg.AssetKey:
    """warehouse/<table>: the asset key of a table."""
    return dg.AssetKey(["warehouse", name])


WAREHOUSE_KEYS = {t.name: table_key(t.name) for t in tables()}


def table_spec(t: Table) -> dg.AssetSpec:
    """The asset of one table, downstream of what it reads."""
    where = ("a view over the lake's Parquet" if t.storage == "lake_view"
             else "a DuckDB table")
    if t.analytics:
        where += f", rebuilt from the {t.window_days} days ending on each day"
    deps = [LAKE_KEYS[r] if t.from_lake else table_key(r) for r in t.reads]
    return dg.AssetSpec(
        table_key(t.name), deps=deps, group_name="warehouse", kinds={"duckdb"},
        description=f"{t.description} Grain: {', '.join(t.grain)}. Stored as {where}.")


PREVIEW_DAYS = 10


def analytics_previews(con: duckdb.DuckDBPyConnection, t: Table, rebuilt: dict,
                       days: Sequence[dt.date]) -> dict[str, dg.MetadataValue]:
    """Rows per rebuilt day, and the table's preview of each of the run's days (the last
    PREVIEW_DAYS of them): the top anomalies, the largest savings."""
    per_day = con.sql(f"SELECT day, count(*) AS rows FROM {t.name} WHERE day BETWEEN ? AND ? "
                      "GROUP BY day ORDER BY day DESC",
                      params=[rebuilt["first_day"], rebuilt["last_day"]]).pl()
    out = {"per_day": range_preview(per_day.with_columns(pl.col("day").cast(pl.String)),
                                    len(days))}
    if t.preview and len(days) <= PREVIEW_MAX_DAYS:
        first = max(min(days), max(days) - dt.timedelta(days=PREVIEW_DAYS - 1))
        top = con.sql(t.preview, params=[first, max(days)]).pl()
        out["top_per_day"] = (markdown_preview(top.with_columns(pl.col("day").cast(pl.String)),
                                               rows=3 * PREVIEW_DAYS)
                              if top.height else dg.MetadataValue.text("none"))
    return out


def build_warehouse_asset(registered: Sequence[Table]) -> dg.AssetsDefinition:
    """The multi-asset of every table in `registered` (the registry's)."""
    from_lake = [t for t in registered if t.from_lake]
    analytics = [t for t in registered if t.analytics]
    by_name = {t.name: t for t in analytics}

    @dg.multi_asset(
        name="warehouse",
        specs=[table_spec(t) for t in registered],
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=DATA_POOL,
        required_resource_keys={"finops"},
    )
    def _warehouse(context: dg.AssetExecutionContext):
        """Load the lake days into warehouse/finops.duckdb, rebuild the analytics days they
        feed, and publish the copy atomically."""
        paths = context.resources.finops.paths()
        config = context.resources.finops.settings().config
        days = partition_days(context)
        with open_for_update(paths, registered) as con:
            report = load_lake_days(con, paths, days, from_lake, context.log.info, config)
            rebuilt = load_analytics(con, days, analytics, context.log.info, config)
            previews = {r["table"]: analytics_previews(con, by_name[r["table"]], r, days)
                        for r in rebuilt}
        context.log.info(f"warehouse published at {paths.warehouse}")
        per_day = pl.DataFrame(report)
        for t in from_lake:
            yield dg.MaterializeResult(asset_key=table_key(t.name), metadata={
                "dagster/row_count": int(per_day[t.name].sum()),
                "per_day": range_preview(per_day.select("day", t.name), len(days))})
        for r in rebuilt:
            yield dg.MaterializeResult(asset_key=table_key(r["table"]), metadata={
                "dagster/row_count": r["rows"], "first_day": r["first_day"],
                "last_day": r["last_day"], **previews[r["table"]]})

    return _warehouse


warehouse = build_warehouse_asset(tables())
