"""Daily KPIs of agent calls (seed 002's "which agents drive the most spend").

Pure polars functions of `agent_calls` rows; metric definitions as DESIGN section 6 (disjoint
buckets, cost null when nothing could be priced, rates from sums).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from finops_pipeline.pricing import context_window_table
from finops_pipeline.schemas.token_usage import TOKEN_BUCKETS
from finops_pipeline.transforms.kpis import ratio_metrics
from finops_pipeline.transforms.outcomes import classify

if TYPE_CHECKING:
    from finops_pipeline.config import FileConfig

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
    ).with_columns(ratio_metrics()[:2])  # cache_hit_rate, io_ratio (no HTTP status here)
    return out.select(KPI_AGENT_DAILY_COLUMNS).sort("day", "agent_name")


KPI_SESSION_DAILY_COLUMNS = (
    "day", "session_id", "user_id", "organization_id", "workflows", "calls", "failed_calls",
    "total_tokens", "cost_usd", "first_call_at", "last_call_at", "duration_seconds",
    "classification",
)


def kpi_session_daily(calls: pl.DataFrame, executions: pl.DataFrame, *,
                      config: FileConfig) -> pl.DataFrame:
    """One row per (day, session_id) of calls with a session: its user, workflows, calls,
    tokens, cost, span of time and the seed-000 classification, where a session's retries are
    its failed calls and its outcome is accepted when every workflow of it succeeded."""
    c = pl.col
    failed_workflows = executions.filter(c("status") == "failed").select("workflow_id")
    sessions = calls.filter(c("session_id").is_not_null()).with_columns(
        c("workflow_id").is_in(failed_workflows["workflow_id"].implode()).alias("_wf_failed"))
    out = sessions.group_by("day", "session_id").agg(
        c("user_id").drop_nulls().first(),
        c("organization_id").drop_nulls().first(),
        c("workflow_id").n_unique().cast(pl.Int64).alias("workflows"),
        pl.len().cast(pl.Int64).alias("calls"),
        (c("success") == False).sum().cast(pl.Int64).alias("failed_calls"),  # noqa: E712
        c("total_tokens").sum().cast(pl.Int64),
        pl.when(c("cost_usd").is_not_null().any()).then(c("cost_usd").sum()).alias("cost_usd"),
        c("timestamp").min().alias("first_call_at"),
        c("timestamp").max().alias("last_call_at"),
        (~c("_wf_failed").any()).alias("_accepted"),
    ).with_columns(
        ((c("last_call_at") - c("first_call_at")).dt.total_milliseconds() / 1000)
        .alias("duration_seconds"),
        classify(c("total_tokens"), c("failed_calls"), c("_accepted"), config.thresholds)
        .alias("classification"),
    )
    return out.select(KPI_SESSION_DAILY_COLUMNS).sort("day", "session_id")


KPI_APP_WORKFLOW_DAILY_COLUMNS = (
    "day", "workflow_name", "executions", "succeeded", "failed", "open", "success_rate",
    "calls", "total_tokens", "cost_usd", "avg_cost_per_execution", "avg_tokens_per_execution",
    "avg_calls_per_execution", "avg_duration_seconds", "avg_tokens_per_agent_call",
    "max_agent_tokens", "io_ratio",
)


def kpi_app_workflow_daily(calls: pl.DataFrame, executions: pl.DataFrame) -> pl.DataFrame:
    """Workflow performance per app workflow name and day (seed 002 "how is my workflow
    performing", seed 004's efficiency figures): executions by status, success rate over
    those that ended, cost, tokens and calls per execution, average duration, tokens per
    agent call and the largest agent's tokens in one execution, input/output ratio."""
    c = pl.col
    per_exec = calls.group_by("workflow_id").agg(
        pl.len().alias("_calls"), c("total_tokens").sum().alias("_tokens"),
        pl.when(c("cost_usd").is_not_null().any()).then(c("cost_usd").sum()).alias("_cost"),
        c("prompt_tokens").sum().alias("_prompt"), c("output_tokens").sum().alias("_output"),
        c("total_tokens").max().alias("_max_agent"),
    )
    ex = executions.join(per_exec, on="workflow_id", how="left").with_columns(
        c("_calls", "_tokens", "_prompt", "_output").fill_null(0))
    ended = c("status") != "open"
    out = ex.with_columns(c("workflow_name").fill_null("(unnamed)")).group_by(
        "day", "workflow_name").agg(
        pl.len().cast(pl.Int64).alias("executions"),
        (c("status") == "succeeded").sum().cast(pl.Int64).alias("succeeded"),
        (c("status") == "failed").sum().cast(pl.Int64).alias("failed"),
        (c("status") == "open").sum().cast(pl.Int64).alias("open"),
        pl.when(ended.any()).then((c("status") == "succeeded").filter(ended).mean())
        .alias("success_rate"),
        c("_calls").sum().cast(pl.Int64).alias("calls"),
        c("_tokens").sum().cast(pl.Int64).alias("total_tokens"),
        pl.when(c("_cost").is_not_null().any()).then(c("_cost").sum()).alias("cost_usd"),
        c("_cost").mean().alias("avg_cost_per_execution"),
        c("_tokens").mean().alias("avg_tokens_per_execution"),
        c("_calls").mean().alias("avg_calls_per_execution"),
        (c("duration_ms").mean() / 1000).alias("avg_duration_seconds"),
        pl.when(c("_calls").sum() > 0).then(c("_tokens").sum() / c("_calls").sum())
        .alias("avg_tokens_per_agent_call"),
        c("_max_agent").max().cast(pl.Int64).alias("max_agent_tokens"),
        pl.when(c("_output").sum() > 0).then(c("_prompt").sum() / c("_output").sum())
        .alias("io_ratio"),
    )
    return out.select(KPI_APP_WORKFLOW_DAILY_COLUMNS).sort("day", "workflow_name")


EXECUTION_EFFICIENCY_COLUMNS = (
    "day", "workflow_id", "workflow_name", "agent_calls", "input_tokens", "output_tokens",
    "total_tokens", "cost_usd", "reported_cost_usd", "avg_tokens_per_agent",
    "max_agent_tokens", "io_ratio", "context_window", "context_window_use_pct",
    "cost_per_agent_avg",
)


def execution_efficiency(calls: pl.DataFrame, *, config: FileConfig) -> pl.DataFrame:
    """Seed 004's efficiency figures per workflow execution (day, workflow_id): agent calls,
    tokens, average and largest agent call, input/output ratio (all input buckets over
    output), and context-window use: the largest call's total tokens over its model's window
    (finops.yaml `context_windows`, else genai-prices' catalog), in percent."""
    c = pl.col
    windows = context_window_table(calls.select("provider", "model"), config.context_windows)
    per_call = calls.join(windows, on=["provider", "model"], how="left", nulls_equal=True)
    largest = c("total_tokens").arg_max()
    out = per_call.group_by("day", "workflow_id").agg(
        c("workflow_name").drop_nulls().first(),
        pl.len().cast(pl.Int64).alias("agent_calls"),
        c("prompt_tokens").sum().cast(pl.Int64).alias("input_tokens"),
        c("output_tokens").sum().cast(pl.Int64),
        c("total_tokens").sum().cast(pl.Int64),
        pl.when(c("cost_usd").is_not_null().any()).then(c("cost_usd").sum()).alias("cost_usd"),
        pl.when(c("reported_cost_usd").is_not_null().any())
        .then(c("reported_cost_usd").sum()).alias("reported_cost_usd"),
        c("total_tokens").mean().alias("avg_tokens_per_agent"),
        c("total_tokens").max().cast(pl.Int64).alias("max_agent_tokens"),
        c("context_window").get(largest).alias("context_window"),
        pl.coalesce(c("cost_usd"), c("reported_cost_usd")).mean().alias("cost_per_agent_avg"),
    ).with_columns(
        pl.when(c("output_tokens") > 0).then(c("input_tokens") / c("output_tokens"))
        .alias("io_ratio"),
        pl.when(c("context_window") > 0)
        .then(100 * c("max_agent_tokens") / c("context_window")).alias("context_window_use_pct"),
    )
    return out.select(EXECUTION_EFFICIENCY_COLUMNS).sort("day", "workflow_id")


KPI_AGENT_MODEL_DAILY_COLUMNS = (
    "day", "agent_name", "provider", "model", "calls", "failed_calls", *TOKEN_BUCKETS,
    "prompt_tokens", "total_tokens", "cost_usd", "unpriced_calls",
)


def call_sums() -> list[pl.Expr]:
    """Aggregations of agent_calls rows shared by the per-agent-model and per-user KPIs."""
    c = pl.col
    return [
        pl.len().cast(pl.Int64).alias("calls"),
        (c("success") == False).sum().cast(pl.Int64).alias("failed_calls"),  # noqa: E712
        *[c(b).sum().cast(pl.Int64) for b in TOKEN_BUCKETS],
        c("prompt_tokens").sum().cast(pl.Int64),
        c("total_tokens").sum().cast(pl.Int64),
        pl.when(c("cost_usd").is_not_null().any()).then(c("cost_usd").sum()).alias("cost_usd"),
        c("cost_usd").is_null().sum().cast(pl.Int64).alias("unpriced_calls"),
    ]


def kpi_agent_model_daily(calls: pl.DataFrame) -> pl.DataFrame:
    """One row per (day, agent_name, provider, model): the mix of models each agent runs on,
    what the agent-scoped recommendations (caching, trimming, a cheaper model) price."""
    c = pl.col
    out = calls.with_columns(c("agent_name").fill_null("(unnamed)")).group_by(
        "day", "agent_name", "provider", "model").agg(call_sums())
    return out.select(KPI_AGENT_MODEL_DAILY_COLUMNS).sort("day", "agent_name", "provider",
                                                         "model")


KPI_USER_DAILY_COLUMNS = (
    "day", "user_id", "organization_id", "sessions", "workflows", "calls", "failed_calls",
    *TOKEN_BUCKETS, "prompt_tokens", "total_tokens", "cost_usd", "unpriced_calls",
    "agents_used", "models_used",
)


def kpi_user_daily(calls: pl.DataFrame) -> pl.DataFrame:
    """One row per (day, user_id) of calls whose workflow names a user: sessions, workflows,
    calls, tokens and cost (seed 002's "which users drive the most spend"), the agents and
    models they used."""
    c = pl.col
    out = calls.filter(c("user_id").is_not_null()).group_by("day", "user_id").agg(
        c("organization_id").drop_nulls().first(),
        c("session_id").drop_nulls().n_unique().cast(pl.Int64).alias("sessions"),
        c("workflow_id").n_unique().cast(pl.Int64).alias("workflows"),
        *call_sums(),
        c("agent_name").drop_nulls().unique().sort().str.join(", ").alias("agents_used"),
        c("model").drop_nulls().unique().sort().str.join(", ").alias("models_used"),
    )
    return out.select(KPI_USER_DAILY_COLUMNS).sort("day", "user_id")
