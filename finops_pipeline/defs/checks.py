"""After-the-fact SQL checks on the published warehouse (and the lake beside it)."""

import datetime as dt
from collections.abc import Sequence

import dagster as dg
import duckdb
import polars as pl

from finops_pipeline.defs.assets.common import markdown_preview
from finops_pipeline.defs.assets.warehouse import WAREHOUSE_KEYS
from finops_pipeline.defs.partitions import daily_partitions
from finops_pipeline.defs.resources import FinopsConfig
from finops_pipeline.lake import DataPaths
from finops_pipeline.warehouse.access import WarehouseMissing, query, read_only
from finops_pipeline.warehouse.lake_views import pinned_files, read_files_sql

INGEST_LOG_BALANCES = "ingest_log_balances"
LAKE_MATCHES_WAREHOUSE = "lake_matches_warehouse"
REQUESTS_MATCH_RUN_SUMMARIES = "requests_match_run_summaries"
LATEST_PARTITION_FRESH = "latest_partition_fresh"
# gh-aw's run_summary totals are sums over the proxy's raw lines; ours drop quarantined lines
# and duplicates, so a run may differ a little. Beyond 1% of its tokens it is reported.
SUMMARY_TOLERANCE = 0.01
RUN_CREDITS_MATCH_RUNNING_TOTAL = "run_credits_match_running_total"
# Per-response credits are written rounded (a few decimals) while the running total is kept
# exact: a run of hundreds of responses drifts by rounding alone. Beyond 0.05 credits or 0.5%
# of the total, records are missing or counted twice.
CREDITS_TOLERANCE_ABS = 0.05
CREDITS_TOLERANCE_REL = 0.005
# The schedule runs at 08:00 UTC for yesterday, so a healthy warehouse is at most 2 days old.
FRESHNESS_DAYS = 2


def _missing(exc: WarehouseMissing) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, metadata={"error": str(exc)})


def _run_days(context: dg.AssetCheckExecutionContext) -> list[dt.date]:
    """The days of the run: checks over facts read those days, so they cost O(day)."""
    return [dt.date.fromisoformat(k) for k in context.partition_keys]


@dg.asset_check(asset=WAREHOUSE_KEYS["ingest_log"], name=INGEST_LOG_BALANCES, blocking=True,
                description="For every day, dataset and source: rows_in = valid + quarantined "
                "+ duplicate. A failure means rows were lost, which is a bug.")
def ingest_log_balances(finops: FinopsConfig) -> dg.AssetCheckResult:
    try:
        bad = query(finops.paths().warehouse, """
            SELECT day, dataset, source, rows_in, rows_valid, rows_quarantined, rows_duplicate
            FROM ingest_log
            WHERE rows_in <> rows_valid + rows_quarantined + rows_duplicate
            ORDER BY day, dataset, source""")
        days = query(finops.paths().warehouse, "SELECT count(DISTINCT day) AS n FROM ingest_log")
    except WarehouseMissing as exc:
        return _missing(exc)
    return dg.AssetCheckResult(
        passed=bad.height == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"days_checked": int(days["n"][0]), "unbalanced_rows": bad.height},
    )


def _days_clause(days: Sequence[dt.date] | None, column: str = "day") -> tuple[str, list]:
    if days is None:
        return "true", []
    return f"{column} IN (SELECT unnest(?::DATE[]))", [list(days)]


def _lake_files(paths: DataPaths, dataset: str, days: Sequence[dt.date] | None) -> str:
    """A read_parquet() of the dataset's lake files of `days` (all days when None), or ""
    when there are none."""
    if days is None:
        return read_files_sql([paths.root / "lake" / dataset / "day=*" / "data.parquet"],
                              by_name=False)
    files = [f for d in days if (f := paths.lake_file(dataset, d)).is_file()]
    return read_files_sql(files, by_name=False) if files else ""


def _published_requests(con: duckdb.DuckDBPyConnection, paths: DataPaths,
                        days: Sequence[dt.date] | None) -> str:
    """fact_llm_requests of `days` as published: the files the view pinned for those days, so
    a check of one day reads that day, not every day the warehouse holds."""
    if days is None:
        return "fact_llm_requests"
    files = pinned_files(con, paths, "llm_requests", days)
    return read_files_sql(files) if files else "(SELECT * FROM fact_llm_requests WHERE false)"


def check_lake_matches_warehouse(paths: DataPaths,
                                 days: Sequence[dt.date] | None = None) -> dg.AssetCheckResult:
    """Per day of `days` (every day when None): the lake files, the fact tables and the KPIs
    count the same requests, tokens and runs."""
    where, params = _days_clause(days)
    req_files = _lake_files(paths, "llm_requests", days)
    run_files = _lake_files(paths, "workflow_runs", days)
    lake_req = (f"SELECT day, count(*) AS n, sum(total_tokens) AS tokens FROM {req_files} "
                "GROUP BY day") if req_files else "SELECT NULL::DATE AS day, 0 AS n, 0 AS tokens "
    lake_runs = (f"SELECT day, count(*) AS n FROM {run_files} GROUP BY day" if run_files
                 else "SELECT NULL::DATE AS day, 0 AS n")
    try:
        with read_only(paths.warehouse) as con:  # the pins and the facts of one snapshot
            facts = _published_requests(con, paths, days)
            diff = con.sql(f"""
            WITH lake_req AS ({lake_req}),
            fact_req AS (SELECT day, count(*) AS n, sum(total_tokens) AS tokens
                         FROM {facts} WHERE {where} GROUP BY day),
            kpi_req AS (SELECT day, sum(requests) AS n, sum(total_tokens) AS tokens
                        FROM kpi_workflow_daily WHERE {where} GROUP BY day),
            lake_runs AS ({lake_runs}),
            fact_runs AS (SELECT day, count(*) AS n FROM fact_workflow_runs
                          WHERE {where} GROUP BY day)
            SELECT day, l.n AS lake_requests, f.n AS fact_requests, k.n AS kpi_requests,
                   l.tokens AS lake_tokens, f.tokens AS fact_tokens, k.tokens AS kpi_tokens,
                   lr.n AS lake_runs, fr.n AS fact_runs
            FROM lake_req l FULL JOIN fact_req f USING (day) FULL JOIN kpi_req k USING (day)
            FULL JOIN lake_runs lr USING (day) FULL JOIN fact_runs fr USING (day)
            WHERE day IS NOT NULL AND (
                  coalesce(l.n, 0) <> coalesce(f.n, 0) OR coalesce(f.n, 0) <> coalesce(k.n, 0)
               OR coalesce(l.tokens, 0) <> coalesce(f.tokens, 0)
               OR coalesce(f.tokens, 0) <> coalesce(k.tokens, 0)
               OR coalesce(lr.n, 0) <> coalesce(fr.n, 0))
            ORDER BY day""", params=params * 3 or None).pl()
    except WarehouseMissing as exc:
        return _missing(exc)
    return dg.AssetCheckResult(
        passed=diff.height == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"days_checked": len(days) if days is not None else "all",
                  "days_differing": diff.height,
                  "differences": markdown_preview(diff) if diff.height else "none"},
    )


@dg.asset_check(asset=WAREHOUSE_KEYS["fact_llm_requests"], name=LAKE_MATCHES_WAREHOUSE,
                partitions_def=daily_partitions,
                description="Per day of the run, the lake files, the fact tables and the KPIs "
                "count the same requests, tokens and runs.")
def lake_matches_warehouse(context: dg.AssetCheckExecutionContext,
                           finops: FinopsConfig) -> dg.AssetCheckResult:
    return check_lake_matches_warehouse(finops.paths(), _run_days(context))


def check_requests_match_run_summaries(
        paths: DataPaths, days: Sequence[dt.date] | None = None) -> dg.AssetCheckResult:
    """Per run of `days` (every day when None): our request totals agree with gh-aw's
    token_usage_summary within SUMMARY_TOLERANCE of its tokens."""
    where, params = _days_clause(days)
    run_where, _ = _days_clause(days, "r.day")
    try:
        with read_only(paths.warehouse) as con:
            facts = _published_requests(con, paths, days)
            # Compare like with like: gh-aw sums the proxy's raw input_tokens, which for
            # inclusive providers still contain the cache reads we split out.
            runs = con.sql(f"""
            WITH ours AS (
                SELECT repo, run_id, run_attempt, count(*) AS requests,
                       sum(input_tokens + CASE WHEN token_rule = 'inclusive_cache_read'
                                               THEN cache_read_tokens ELSE 0 END
                           + output_tokens + cache_read_tokens + cache_write_tokens)::BIGINT
                           AS tokens
                FROM {facts} WHERE {where} GROUP BY ALL)
            SELECT r.day, r.repo, r.workflow, r.run_id, r.summary_requests,
                   coalesce(o.requests, 0) AS requests,
                   r.summary_input_tokens + r.summary_output_tokens
                     + coalesce(r.summary_cache_read_tokens, 0)
                     + coalesce(r.summary_cache_write_tokens, 0) AS summary_tokens,
                   coalesce(o.tokens, 0) AS tokens  -- BIGINT: DuckDB sums are DECIMAL(38,0),
                                                    -- whose division would truncate to 0
            FROM fact_workflow_runs r LEFT JOIN ours o USING (repo, run_id, run_attempt)
            WHERE r.summary_requests IS NOT NULL AND r.has_token_data
              AND {run_where}""",
            params=params * 2 or None).pl()
    except WarehouseMissing as exc:
        return _missing(exc)
    diff = (pl.col("tokens") - pl.col("summary_tokens")).abs().cast(pl.Float64)
    rel = diff / pl.max_horizontal(pl.col("summary_tokens"), pl.lit(1)).cast(pl.Float64)
    off = runs.with_columns(rel.alias("relative_difference")).filter(
        pl.col("relative_difference") > SUMMARY_TOLERANCE).sort("relative_difference",
                                                                descending=True)
    return dg.AssetCheckResult(
        passed=off.height == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"runs_compared": runs.height, "runs_outside_tolerance": off.height,
                  "tolerance": SUMMARY_TOLERANCE,
                  "worst": markdown_preview(off, rows=10) if off.height else "none"},
    )


@dg.asset_check(asset=WAREHOUSE_KEYS["fact_workflow_runs"], name=REQUESTS_MATCH_RUN_SUMMARIES,
                partitions_def=daily_partitions,
                description="Per run of the run's days, our request totals agree with gh-aw's "
                f"token_usage_summary within {SUMMARY_TOLERANCE:.0%} of its tokens (quarantined "
                "or duplicate lines explain small differences).")
def requests_match_run_summaries(context: dg.AssetCheckExecutionContext,
                                 finops: FinopsConfig) -> dg.AssetCheckResult:
    return check_requests_match_run_summaries(finops.paths(), _run_days(context))


def check_run_credits_match_running_total(
        paths: DataPaths, days: Sequence[dt.date] | None = None) -> dg.AssetCheckResult:
    """Per run attempt of `days` (every day when None): the AI credits of its responses add up
    to the api-proxy's last running total (`ai_credits_total`), within CREDITS_TOLERANCE.
    A difference means lost or duplicated records, or credits recomputed somewhere."""
    where, params = _days_clause(days)
    try:
        with read_only(paths.warehouse) as con:
            runs = con.sql(f"""
                SELECT day, repo, workflow, run_id, run_attempt, credited_requests,
                       ai_credits, ai_credits_running_total,
                       abs(ai_credits - ai_credits_running_total) AS difference
                FROM kpi_run_daily
                WHERE ai_credits_running_total IS NOT NULL AND {where}
                ORDER BY difference DESC""", params=params or None).pl()
    except WarehouseMissing as exc:
        return _missing(exc)
    allowed = pl.max_horizontal(pl.lit(CREDITS_TOLERANCE_ABS),
                                CREDITS_TOLERANCE_REL * pl.col("ai_credits_running_total"))
    off = runs.filter(pl.col("ai_credits").is_null() | (pl.col("difference") > allowed))
    return dg.AssetCheckResult(
        passed=off.height == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"runs_compared": runs.height, "runs_outside_tolerance": off.height,
                  "tolerance": f"max({CREDITS_TOLERANCE_ABS} credits, "
                               f"{CREDITS_TOLERANCE_REL:.1%} of the total)",
                  "worst": markdown_preview(off, rows=10) if off.height else "none"},
    )


@dg.asset_check(asset=WAREHOUSE_KEYS["kpi_run_daily"], name=RUN_CREDITS_MATCH_RUNNING_TOTAL,
                partitions_def=daily_partitions,
                description="Per run attempt of the run's days, the AI credits of its responses "
                "add up to the api-proxy's last running total (ai_credits_total), within "
                f"max({CREDITS_TOLERANCE_ABS} credits, {CREDITS_TOLERANCE_REL:.1%}).")
def run_credits_match_running_total(context: dg.AssetCheckExecutionContext,
                                    finops: FinopsConfig) -> dg.AssetCheckResult:
    return check_run_credits_match_running_total(finops.paths(), _run_days(context))


@dg.asset_check(asset=WAREHOUSE_KEYS["history_daily"], name=LATEST_PARTITION_FRESH,
                description=f"The latest loaded day is at most {FRESHNESS_DAYS} days old.")
def latest_partition_fresh(finops: FinopsConfig) -> dg.AssetCheckResult:
    try:
        latest = query(finops.paths().warehouse, "SELECT max(day) AS d FROM history_daily")
    except WarehouseMissing as exc:
        return _missing(exc)
    day = latest["d"][0]
    today = dt.datetime.now(dt.UTC).date()
    age = (today - day).days if day is not None else None
    return dg.AssetCheckResult(
        passed=age is not None and age <= FRESHNESS_DAYS,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"latest_day": str(day), "age_days": age if age is not None else -1},
    )


WAREHOUSE_CHECKS = [ingest_log_balances, lake_matches_warehouse, requests_match_run_summaries,
                    latest_partition_fresh]
