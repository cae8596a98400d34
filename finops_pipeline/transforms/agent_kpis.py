"""Daily KPIs of agent calls (seed 002's "which agents drive the most spend").

Pure polars functions of `agent_calls` rows; metric definitions as DESIGN section 6 (disjoint
buckets, cost null when nothing could be priced, rates from sums).
"""

from __future__ import annotations

import polars as pl

from finops_pipeline.schemas.token_usage import TOKEN_BUCKETS

KPI_AGENT_DAILY_COLUMNS = (
    "day", "agent_name", "calls", "workflows", *TOKEN_BUCKETS, "prompt_tokens", "total_tokens",
    "cost_usd", "reported_cost_usd", "unpriced_calls", "models_used", "success_rate",
    "failed_calls", "latency_p50_ms", "latency_p95_ms", "cache_hit_rate", "io_ratio",
)


def kpi_agent_daily(calls: pl.DataFrame) -> pl.DataFrame:
    """One row per (day, agent_name): calls, tokens, cost, the models it used (comma-separated,
    sorted), success rate over calls that reported success, latency p50/p95."""
    c = pl.col
    priced = c("cost_usd").is_not_null()
    reported = c("success").is_not_null()
    out = calls.with_columns(c("agent_name").fill_null("(unnamed)")).group_by(
        "day", "agent_name").agg(
        pl.len().cast(pl.Int64).alias("calls"),
        c("workflow_id").n_unique().cast(pl.Int64).alias("workflows"),
        *[c(b).sum().cast(pl.Int64) for b in TOKEN_BUCKETS],
        c("prompt_tokens").sum().cast(pl.Int64),
        c("total_tokens").sum().cast(pl.Int64),
        pl.when(priced.any()).then(c("cost_usd").sum()).alias("cost_usd"),
        pl.when(c("reported_cost_usd").is_not_null().any())
        .then(c("reported_cost_usd").sum()).alias("reported_cost_usd"),
        (~priced).sum().cast(pl.Int64).alias("unpriced_calls"),
        c("model").drop_nulls().unique().sort().str.join(", ").alias("models_used"),
        pl.when(reported.any()).then(c("success").filter(reported).mean())
        .alias("success_rate"),
        (c("success") == False).sum().cast(pl.Int64).alias("failed_calls"),  # noqa: E712
        c("latency_ms").quantile(0.5, "linear").alias("latency_p50_ms"),
        c("latency_ms").quantile(0.95, "linear").alias("latency_p95_ms"),
    ).with_columns(
        pl.when((c("cache_read_tokens") + c("input_tokens")) > 0)
        .then(c("cache_read_tokens") / (c("cache_read_tokens") + c("input_tokens")))
        .alias("cache_hit_rate"),
        pl.when(c("output_tokens") > 0).then(c("prompt_tokens") / c("output_tokens"))
        .alias("io_ratio"),
    )
    return out.select(KPI_AGENT_DAILY_COLUMNS).sort("day", "agent_name")
