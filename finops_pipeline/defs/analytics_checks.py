"""Checks of the analytics tables where a result can be wrong: the trends must add up to the
daily KPIs they are built from, and no recommendation may save more than it costs."""

import datetime as dt
from collections.abc import Sequence

import dagster as dg
import polars as pl

from finops_pipeline.defs.assets.common import markdown_preview
from finops_pipeline.defs.assets.warehouse import WAREHOUSE_KEYS
from finops_pipeline.defs.partitions import daily_partitions
from finops_pipeline.defs.resources import FinopsConfig
from finops_pipeline.lake import DataPaths
from finops_pipeline.warehouse.access import WarehouseMissing, read_only

TREND_MATCHES_KPIS = "trend_matches_kpis"
# Window sums are differences of running totals: float error far below a cent or a token.
TREND_TOLERANCE = 1e-6
ADDITIVE = {"total_tokens": "total_tokens", "cost_usd": "coalesce(cost_usd, 0)",
            "requests": "requests", "runs": "runs"}


def _kpi_sums(source: str, keys: str) -> str:
    sums = ", ".join(f"sum({expr})::DOUBLE AS {name}" for name, expr in ADDITIVE.items()
                     if name != "runs" or source == "kpi_workflow_daily")
    return f"SELECT day, {keys} AS key, {sums} FROM {source} GROUP BY ALL"


def check_trend_matches_kpis(paths: DataPaths,
                             days: Sequence[dt.date]) -> dg.AssetCheckResult:
    """On each of `days`, every additive trend of the org and model scopes (value, value_7d,
    value_28d) equals the sum of kpi_workflow_daily / kpi_model_daily over the same days."""
    per_scope = {
        "org": _kpi_sums("kpi_workflow_daily", "split_part(repo, '/', 1)"),
        "model": _kpi_sums("kpi_model_daily", "provider || ':' || model"),
    }
    unions = []
    for scope in per_scope:
        metrics = [m for m in ADDITIVE if m != "runs" or scope == "org"]
        unpivot = " UNION ALL ".join(f"SELECT day, key, '{m}' AS metric, {m} AS v FROM k_{scope}"
                                     for m in metrics)
        unions.append(f"""
            SELECT '{scope}' AS scope, t.day, t.key, t.metric, t.value, t.value_7d,
                   t.value_28d,
                   sum(k.v) FILTER (WHERE k.day = t.day) AS kpi_value,
                   sum(k.v) FILTER (WHERE k.day > t.day - 7) AS kpi_7d,
                   sum(k.v) AS kpi_28d
            FROM trend_daily t
            LEFT JOIN ({unpivot}) k ON k.key = t.key AND k.metric = t.metric
                 AND k.day BETWEEN t.day - 27 AND t.day
            WHERE t.scope = '{scope}' AND t.metric IN ({", ".join(f"'{m}'" for m in metrics)})
              AND t.day IN (SELECT unnest(?::DATE[]))
            GROUP BY ALL""")
    ctes = ", ".join(f"k_{scope} AS ({sums})" for scope, sums in per_scope.items())
    off = f"""
        WITH {ctes}, compared AS ({" UNION ALL ".join(unions)})
        SELECT * FROM compared
        WHERE abs(coalesce(value, 0) - coalesce(kpi_value, 0)) > {TREND_TOLERANCE}
                  * greatest(1, abs(coalesce(kpi_value, 0)))
           OR abs(value_7d - coalesce(kpi_7d, 0)) > {TREND_TOLERANCE}
                  * greatest(1, abs(coalesce(kpi_7d, 0)))
           OR abs(value_28d - coalesce(kpi_28d, 0)) > {TREND_TOLERANCE}
                  * greatest(1, abs(coalesce(kpi_28d, 0)))
        ORDER BY day, scope, key, metric"""
    try:
        with read_only(paths.warehouse) as con:
            day_list = list(days)
            bad = con.sql(off, params=[day_list, day_list]).pl()
            checked = con.sql("SELECT count(*) FROM trend_daily WHERE day IN "
                              "(SELECT unnest(?::DATE[])) AND scope IN ('org', 'model')",
                              params=[day_list]).fetchall()[0][0]
    except WarehouseMissing as exc:
        return dg.AssetCheckResult(passed=False, metadata={"error": str(exc)})
    return dg.AssetCheckResult(
        passed=bad.height == 0, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"trend_rows_checked": int(checked), "mismatches": bad.height,
                  "first_mismatches": markdown_preview(bad, rows=10) if bad.height else "none"})


@dg.asset_check(asset=WAREHOUSE_KEYS["trend_daily"], name=TREND_MATCHES_KPIS,
                partitions_def=daily_partitions,
                description="On each day of the run, the org and model trends (the day, 7 "
                "and 28 days) equal the sums of the daily KPI tables over the same days.")
def trend_matches_kpis(context: dg.AssetCheckExecutionContext,
                       finops: FinopsConfig) -> dg.AssetCheckResult:
    days = [dt.date.fromisoformat(k) for k in context.partition_keys]
    return check_trend_matches_kpis(finops.paths(), days)


SAVINGS_WITHIN_COST = "savings_within_cost"


def check_savings_within_cost(paths: DataPaths,
                              days: Sequence[dt.date]) -> dg.AssetCheckResult:
    """No recommendation of `days` promises more than the cost it comes from, or nothing."""
    try:
        with read_only(paths.warehouse) as con:
            rows = con.sql("""
                SELECT day, kind, scope, key, current_cost_usd, potential_savings_usd
                FROM recommendations WHERE day IN (SELECT unnest(?::DATE[]))""",
                           params=[list(days)]).pl()
    except WarehouseMissing as exc:
        return dg.AssetCheckResult(passed=False, metadata={"error": str(exc)})
    c = pl.col
    bad = rows.filter(c("potential_savings_usd").is_null() | (c("potential_savings_usd") <= 0)
                      | (c("potential_savings_usd") > c("current_cost_usd") + 1e-9))
    return dg.AssetCheckResult(
        passed=bad.height == 0, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"recommendations": rows.height, "violations": bad.height,
                  "total_savings_usd": float(rows["potential_savings_usd"].sum() or 0.0),
                  "first_violations": markdown_preview(bad, rows=10) if bad.height
                  else "none"})


@dg.asset_check(asset=WAREHOUSE_KEYS["recommendations"], name=SAVINGS_WITHIN_COST,
                partitions_def=daily_partitions,
                description="Every recommendation of the run's days saves more than 0 and no "
                "more than the cost it comes from.")
def savings_within_cost(context: dg.AssetCheckExecutionContext,
                        finops: FinopsConfig) -> dg.AssetCheckResult:
    days = [dt.date.fromisoformat(k) for k in context.partition_keys]
    return check_savings_within_cost(finops.paths(), days)


ANALYTICS_CHECKS = [trend_matches_kpis, savings_within_cost]
