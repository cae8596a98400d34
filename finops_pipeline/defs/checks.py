"""After-the-fact SQL checks on the published warehouse (and the lake beside it)."""

import datetime as dt

import dagster as dg
import polars as pl

from finops_pipeline.defs.assets.common import markdown_preview
from finops_pipeline.defs.assets.warehouse import WAREHOUSE_KEYS
from finops_pipeline.defs.resources import FinopsConfig
from finops_pipeline.warehouse.access import WarehouseMissing, query

INGEST_LOG_BALANCES = "ingest_log_balances"
LAKE_MATCHES_WAREHOUSE = "lake_matches_warehouse"
REQUESTS_MATCH_RUN_SUMMARIES = "requests_match_run_summaries"
LATEST_PARTITION_FRESH = "latest_partition_fresh"
# gh-aw's run_summary totals are sums over the proxy's raw lines; ours drop quarantined lines
# and duplicates, so a run may differ a little. Beyond 1% of its tokens it is reported.
SUMMARY_TOLERANCE = 0.01
# The schedule runs at 08:00 UTC for yesterday, so a healthy warehouse is at most 2 days old.
FRESHNESS_DAYS = 2


def _missing(exc: WarehouseMissing) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, metadata={"error": str(exc)})


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


@dg.asset_check(asset=WAREHOUSE_KEYS["fact_llm_requests"], name=LAKE_MATCHES_WAREHOUSE,
                description="Per day, the warehouse holds exactly the lake's requests and runs "
                "(row counts and token sums).")
def lake_matches_warehouse(finops: FinopsConfig) -> dg.AssetCheckResult:
    paths = finops.paths()
    lake = paths.root / "lake"
    try:
        diff = query(paths.warehouse, f"""
            WITH lake_req AS (
                SELECT day, count(*) AS n, sum(total_tokens) AS tokens
                FROM read_parquet('{lake}/llm_requests/*/data.parquet', hive_partitioning = false)
                GROUP BY day),
            wh_req AS (SELECT day, count(*) AS n, sum(total_tokens) AS tokens
                       FROM fact_llm_requests GROUP BY day),
            lake_runs AS (
                SELECT day, count(*) AS n
                FROM read_parquet('{lake}/workflow_runs/*/data.parquet', hive_partitioning = false)
                GROUP BY day),
            wh_runs AS (SELECT day, count(*) AS n FROM fact_workflow_runs GROUP BY day)
            SELECT coalesce(l.day, w.day) AS day, l.n AS lake_requests, w.n AS wh_requests,
                   l.tokens AS lake_tokens, w.tokens AS wh_tokens,
                   lr.n AS lake_runs, wr.n AS wh_runs
            FROM lake_req l FULL JOIN wh_req w USING (day)
            FULL JOIN lake_runs lr USING (day) FULL JOIN wh_runs wr USING (day)
            WHERE coalesce(l.n, 0) <> coalesce(w.n, 0)
               OR coalesce(l.tokens, 0) <> coalesce(w.tokens, 0)
               OR coalesce(lr.n, 0) <> coalesce(wr.n, 0)
            ORDER BY day""")
    except WarehouseMissing as exc:
        return _missing(exc)
    return dg.AssetCheckResult(
        passed=diff.height == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"days_differing": diff.height,
                  "differences": markdown_preview(diff) if diff.height else "none"},
    )


@dg.asset_check(asset=WAREHOUSE_KEYS["fact_workflow_runs"], name=REQUESTS_MATCH_RUN_SUMMARIES,
                description="Per run, our request totals agree with gh-aw's token_usage_summary "
                f"within {SUMMARY_TOLERANCE:.0%} of its tokens (quarantined or duplicate lines "
                "explain small differences).")
def requests_match_run_summaries(finops: FinopsConfig) -> dg.AssetCheckResult:
    try:
        # Compare like with like: gh-aw sums the proxy's raw input_tokens, which for
        # inclusive providers still contain the cache reads we split out.
        runs = query(finops.paths().warehouse, """
            WITH ours AS (
                SELECT repo, run_id, run_attempt, count(*) AS requests,
                       sum(input_tokens + CASE WHEN token_rule = 'inclusive_cache_read'
                                               THEN cache_read_tokens ELSE 0 END
                           + output_tokens + cache_read_tokens + cache_write_tokens)::BIGINT
                           AS tokens
                FROM fact_llm_requests GROUP BY ALL)
            SELECT r.day, r.repo, r.workflow, r.run_id, r.summary_requests,
                   coalesce(o.requests, 0) AS requests,
                   r.summary_input_tokens + r.summary_output_tokens
                     + coalesce(r.summary_cache_read_tokens, 0)
                     + coalesce(r.summary_cache_write_tokens, 0) AS summary_tokens,
                   coalesce(o.tokens, 0) AS tokens  -- BIGINT: DuckDB sums are DECIMAL(38,0),
                                                    -- whose division would truncate to 0
            FROM fact_workflow_runs r LEFT JOIN ours o USING (repo, run_id, run_attempt)
            WHERE r.summary_requests IS NOT NULL AND r.has_token_data""")
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
