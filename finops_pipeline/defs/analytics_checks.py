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
from finops_pipeline.transforms.recommendations import VISIBILITY_KINDS
from finops_pipeline.warehouse.access import WarehouseMissing, read_only

TREND_MATCHES_KPIS = "trend_matches_kpis"
# Window sums are differences of running totals: float error far below a cent or a token.
TREND_TOLERANCE = 1e-6
ADDITIVE = {"total_tokens": "total_tokens", "cost_usd": "coalesce(cost_usd, 0)",
            "billed_usd": "coalesce(billed_usd, 0)", "requests": "requests", "runs": "runs"}


#: The KPI tables of agent calls count calls where the request KPIs count requests.
CALL_KPIS = ("kpi_agent_daily", "kpi_user_daily")


def _kpi_sums(source: str, keys: str) -> str:
    exprs = dict(ADDITIVE, requests="calls") if source in CALL_KPIS else ADDITIVE
    sums = ", ".join(f"sum({expr})::DOUBLE AS {name}" for name, expr in exprs.items()
                     if (name != "runs" or source == "kpi_workflow_daily")
                     and (name != "billed_usd" or source not in CALL_KPIS))
    return f"SELECT day, {keys} AS key, {sums} FROM {source} GROUP BY ALL"


def check_trend_matches_kpis(paths: DataPaths,
                             days: Sequence[dt.date]) -> dg.AssetCheckResult:
    """On `days` and the later days their windows feed (through the last + 55), every
    additive trend of the org, repo, workflow, model, agent and user scopes (value, value_7d,
    value_28d) equals the sum of its KPI table over the same days, and every key
    with KPI rows in a day's 28 days has its trend rows that day."""
    per_scope = {
        "org": _kpi_sums("kpi_workflow_daily", "split_part(repo, '/', 1)"),
        "repo": _kpi_sums("kpi_workflow_daily", "repo"),
        "workflow": _kpi_sums("kpi_workflow_daily", "repo || ':' || workflow"),
        "model": _kpi_sums("kpi_model_daily", "provider || ':' || model"),
        "agent": _kpi_sums("kpi_agent_daily", "agent_name"),
        "user": _kpi_sums("kpi_user_daily", "user_id"),
    }
    unions = []
    for scope in per_scope:
        metrics = [m for m in ADDITIVE if (m != "runs" or scope in ("org", "repo", "workflow"))
                   and (m != "billed_usd" or scope not in ("agent", "user"))]
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
              AND t.day BETWEEN ? AND ?
            GROUP BY ALL""")
        # A key active in a day's 28 days without its trend row is a missing trend.
        unions.append(f"""
            SELECT DISTINCT '{scope}' AS scope, d.day, k.key, 'total_tokens (missing)',
                   NULL, NULL, NULL, NULL, NULL, NULL
            FROM (SELECT DISTINCT day FROM trend_daily WHERE day BETWEEN ? AND ?) d
            JOIN k_{scope} k ON k.day BETWEEN d.day - 27 AND d.day
            ANTI JOIN trend_daily t ON t.day = d.day AND t.scope = '{scope}' AND t.key = k.key
                 AND t.metric = 'total_tokens'""")
    ctes = ", ".join(f"k_{scope} AS ({sums})" for scope, sums in per_scope.items())
    off = f"""
        WITH {ctes}, compared AS ({" UNION ALL ".join(unions)})
        SELECT * FROM compared
        WHERE metric LIKE '%(missing)'
           OR abs(coalesce(value, 0) - coalesce(kpi_value, 0)) > {TREND_TOLERANCE}
                  * greatest(1, abs(coalesce(kpi_value, 0)))
           OR abs(value_7d - coalesce(kpi_7d, 0)) > {TREND_TOLERANCE}
                  * greatest(1, abs(coalesce(kpi_7d, 0)))
           OR abs(value_28d - coalesce(kpi_28d, 0)) > {TREND_TOLERANCE}
                  * greatest(1, abs(coalesce(kpi_28d, 0)))
        ORDER BY day, scope, key, metric"""
    try:
        with read_only(paths.warehouse) as con:
            span = [min(days), max(days) + dt.timedelta(days=55)]
            bad = con.sql(off, params=span * (2 * len(per_scope))).pl()
            checked = con.sql("SELECT count(*) FROM trend_daily WHERE day BETWEEN ? AND ? "
                              "AND scope <> 'team'", params=span).fetchall()[0][0]
    except WarehouseMissing as exc:
        return dg.AssetCheckResult(passed=False, metadata={"error": str(exc)})
    return dg.AssetCheckResult(
        passed=bad.height == 0, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"trend_rows_checked": int(checked), "mismatches": bad.height,
                  "first_mismatches": markdown_preview(bad, rows=10) if bad.height else "none"})


@dg.asset_check(asset=WAREHOUSE_KEYS["trend_daily"], name=TREND_MATCHES_KPIS,
                partitions_def=daily_partitions,
                description="On the run's days and the later days they feed, the org, repo, "
                "workflow, model, agent and user trends (the day, 7 and 28 days) equal the sums "
                "of the daily KPI tables over the same days, and no active key lacks its trend.")
def trend_matches_kpis(context: dg.AssetCheckExecutionContext,
                       finops: FinopsConfig) -> dg.AssetCheckResult:
    days = [dt.date.fromisoformat(k) for k in context.partition_keys]
    return check_trend_matches_kpis(finops.paths(), days)


SAVINGS_WITHIN_COST = "savings_within_cost"


def check_savings_within_cost(paths: DataPaths,
                              days: Sequence[dt.date]) -> dg.AssetCheckResult:
    """No recommendation of `days` or a later day (a run rebuilds the days its windows feed)
    promises more than the cost it comes from, or nothing."""
    try:
        with read_only(paths.warehouse) as con:
            rows = con.sql("""
                SELECT day, kind, scope, key, current_cost_usd, potential_savings_usd
                FROM recommendations WHERE day >= ?""", params=[min(days)]).pl()
    except WarehouseMissing as exc:
        return dg.AssetCheckResult(passed=False, metadata={"error": str(exc)})
    c = pl.col
    visibility = c("kind").is_in(VISIBILITY_KINDS)
    bad = rows.filter(
        (visibility & (c("potential_savings_usd").is_not_null()
                       | (c("current_cost_usd") <= 0)))
        | (~visibility & (c("potential_savings_usd").is_null()
                          | (c("potential_savings_usd") <= 0)
                          | (c("potential_savings_usd") > c("current_cost_usd") + 1e-9))))
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
