"""Daily KPIs from the facts, as pure polars functions (metric definitions: DESIGN section 6).

Averages per run are per *instrumented* run (a run with token data): an uninstrumented run has
no requests, and counting it would make a workflow look cheaper the less it is measured.
"""

from __future__ import annotations

import polars as pl

from finops_pipeline.schemas.token_usage import TOKEN_BUCKETS, USD_PER_AI_CREDIT


def _safe_div(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    return pl.when(den > 0).then(num / den)


def ratio_metrics() -> list[pl.Expr]:
    """cache_hit_rate, io_ratio and error_rate from summed buckets (null where undefined)."""
    c = pl.col
    return [
        _safe_div(c("cache_read_tokens"), c("cache_read_tokens") + c("input_tokens"))
        .alias("cache_hit_rate"),
        _safe_div(c("prompt_tokens"), c("output_tokens")).alias("io_ratio"),
        _safe_div(c("error_requests"), c("requests")).alias("error_rate"),
    ]


def request_sums() -> list[pl.Expr]:
    """Aggregations of llm_requests rows shared by every KPI grain."""
    c = pl.col
    priced = c("cost_usd").is_not_null()
    return [
        pl.len().cast(pl.Int64).alias("requests"),
        (c("status") >= 400).sum().cast(pl.Int64).alias("error_requests"),
        *[c(b).sum().cast(pl.Int64) for b in TOKEN_BUCKETS],
        # Informational and only some writers report it: null, not 0, when none did.
        pl.when(c("reasoning_tokens").is_not_null().any())
        .then(c("reasoning_tokens").sum()).cast(pl.Int64).alias("reasoning_tokens"),
        c("prompt_tokens").sum().cast(pl.Int64),
        c("total_tokens").sum().cast(pl.Int64),
        # An unpriced request makes no cost visible as 0: all-unpriced sums stay null.
        pl.when(priced.any()).then(c("cost_usd").sum()).alias("cost_usd"),
        (~priced).sum().cast(pl.Int64).alias("unpriced_requests"),
        # What GitHub bills, where the records say: null (unknown) when none of them did.
        *credit_sums(),
        c("duration_ms").mean().alias("avg_duration_ms_per_request"),
        c("model").n_unique().cast(pl.Int64).alias("models"),
        c("model").mode().sort().first().alias("top_model"),
    ]


def credit_sums() -> list[pl.Expr]:
    """AI credits of requests that reported them, the USD they bill, and how many did."""
    c = pl.col
    credited = c("ai_credits").is_not_null()
    credits = pl.when(credited.any()).then(c("ai_credits").sum())
    return [credits.alias("ai_credits"), (credits * USD_PER_AI_CREDIT).alias("billed_usd"),
            credited.sum().cast(pl.Int64).alias("credited_requests")]


def run_sums() -> list[pl.Expr]:
    """Aggregations of workflow_runs rows (one row per attempt)."""
    c = pl.col
    latest = c("run_attempt") == c("run_attempt").max().over("repo", "run_id")
    return [
        c("run_id").n_unique().cast(pl.Int64).alias("runs"),
        pl.len().cast(pl.Int64).alias("run_attempts"),
        c("run_id").filter(c("has_token_data")).n_unique().cast(pl.Int64)
        .alias("instrumented_runs"),
        c("run_id").filter(latest & c("is_failed")).n_unique().cast(pl.Int64)
        .alias("failed_runs"),
        c("reported_tokens").sum().cast(pl.Int64),
        pl.when(c("reported_cost_usd").is_not_null().any())
        .then(c("reported_cost_usd").sum()).alias("reported_cost_usd"),
        pl.when(c("reported_ai_credits").is_not_null().any())
        .then(c("reported_ai_credits").sum()).alias("reported_ai_credits"),
        c("turns").sum().cast(pl.Int64),
        c("duration_ms").sum().cast(pl.Int64).alias("run_duration_ms"),
    ]


_REQUEST_ZEROES = ("requests", "error_requests", *TOKEN_BUCKETS, "prompt_tokens",
                   "total_tokens", "unpriced_requests", "credited_requests", "models")


def _fill_requests(df: pl.DataFrame) -> pl.DataFrame:
    # A workflow with runs but no token data made 0 requests; its cost is 0, not unknown.
    return df.with_columns(*[pl.col(k).fill_null(0) for k in _REQUEST_ZEROES]).with_columns(
        pl.when(pl.col("requests") == 0).then(pl.lit(0.0)).otherwise(pl.col("cost_usd"))
        .alias("cost_usd"),
    )


def _per_run() -> list[pl.Expr]:
    c = pl.col
    return [
        _safe_div(c("requests"), c("instrumented_runs")).alias("avg_requests_per_run"),
        _safe_div(c("total_tokens"), c("instrumented_runs")).alias("avg_tokens_per_run"),
        _safe_div(c("cost_usd"), c("instrumented_runs")).alias("avg_cost_per_run"),
        _safe_div(c("turns"), c("runs")).alias("avg_turns_per_run"),
    ]


KPI_WORKFLOW_DAILY_COLUMNS = (
    "day", "repo", "workflow", "runs", "run_attempts", "instrumented_runs", "failed_runs",
    "requests", "error_requests", *TOKEN_BUCKETS, "reasoning_tokens", "prompt_tokens",
    "total_tokens", "reported_tokens", "cost_usd", "reported_cost_usd", "unpriced_requests",
    "ai_credits", "billed_usd", "credited_requests", "reported_ai_credits",
    "cache_hit_rate", "io_ratio", "error_rate", "avg_requests_per_run",
    "avg_duration_ms_per_request", "avg_tokens_per_run", "avg_cost_per_run", "turns",
    "avg_turns_per_run", "run_duration_ms", "models", "top_model",
)


def kpi_workflow_daily(runs: pl.DataFrame, requests: pl.DataFrame) -> pl.DataFrame:
    """One row per (day, repo, workflow) that had a run."""
    keys = ["day", "repo", "workflow"]
    by_runs = runs.group_by(keys).agg(run_sums())
    by_requests = requests.group_by(keys).agg(request_sums())
    out = by_runs.join(by_requests, on=keys, how="left")
    out = _fill_requests(out).with_columns(ratio_metrics()).with_columns(_per_run())
    return out.select(KPI_WORKFLOW_DAILY_COLUMNS).sort(keys)


KPI_MODEL_DAILY_COLUMNS = (
    "day", "provider", "model", "price_basis", "requests", "error_requests", *TOKEN_BUCKETS,
    "reasoning_tokens", "prompt_tokens", "total_tokens", "cost_usd", "unpriced_requests",
    "ai_credits", "billed_usd", "credited_requests",
    "cache_hit_rate", "io_ratio", "error_rate", "avg_duration_ms_per_request", "workflows",
    "share_of_requests", "share_of_cost",
)


def kpi_model_daily(requests: pl.DataFrame) -> pl.DataFrame:
    """One row per (day, provider, model): volume, cost, and its share of the day (model mix)."""
    keys = ["day", "provider", "model"]
    out = requests.group_by(keys).agg(
        *request_sums(),
        pl.col("price_basis").drop_nulls().first().alias("price_basis"),
        pl.struct("repo", "workflow").n_unique().cast(pl.Int64).alias("workflows"),
    )
    c = pl.col
    return (
        out.with_columns(ratio_metrics())
        .with_columns(
            (c("requests") / c("requests").sum().over("day")).alias("share_of_requests"),
            _safe_div(c("cost_usd"), c("cost_usd").sum().over("day")).alias("share_of_cost"),
        )
        .select(KPI_MODEL_DAILY_COLUMNS)
        .sort(keys)
    )


KPI_WORKFLOW_MODEL_DAILY_COLUMNS = (
    "day", "repo", "workflow", "provider", "model", "price_basis", "requests", "error_requests",
    *TOKEN_BUCKETS, "prompt_tokens", "total_tokens", "cost_usd", "unpriced_requests",
    "ai_credits", "billed_usd", "credited_requests",
    "cache_hit_rate", "io_ratio", "error_rate", "share_of_requests", "share_of_cost",
)


def kpi_workflow_model_daily(requests: pl.DataFrame) -> pl.DataFrame:
    """Model mix per workflow: one row per (day, repo, workflow, provider, model), with the
    model's share of the workflow's requests and priced cost that day."""
    scope = ["day", "repo", "workflow"]
    keys = [*scope, "provider", "model"]
    c = pl.col
    return (
        requests.group_by(keys)
        .agg(*request_sums(), pl.col("price_basis").drop_nulls().first().alias("price_basis"))
        .with_columns(ratio_metrics())
        .with_columns(
            (c("requests") / c("requests").sum().over(scope)).alias("share_of_requests"),
            _safe_div(c("cost_usd"), c("cost_usd").sum().over(scope)).alias("share_of_cost"),
        )
        .select(KPI_WORKFLOW_MODEL_DAILY_COLUMNS)
        .sort(keys)
    )


HISTORY_DAILY_COLUMNS = (
    "day", "runs", "run_attempts", "instrumented_runs", "failed_runs", "requests",
    "error_requests", *TOKEN_BUCKETS, "reasoning_tokens", "prompt_tokens", "total_tokens",
    "reported_tokens", "cost_usd", "reported_cost_usd", "unpriced_requests", "ai_credits",
    "billed_usd", "credited_requests", "reported_ai_credits", "cache_hit_rate",
    "io_ratio", "error_rate", "avg_requests_per_run", "avg_tokens_per_run", "avg_cost_per_run",
    "workflows", "repos", "models", "rows_quarantined", "rows_duplicate",
)


def history_daily(runs: pl.DataFrame, requests: pl.DataFrame,
                  ingest_log: pl.DataFrame) -> pl.DataFrame:
    """One row per day: the whole estate, plus what the day's ingestion rejected."""
    by_runs = runs.group_by("day").agg(
        *run_sums(),
        pl.struct("repo", "workflow").n_unique().cast(pl.Int64).alias("workflows"),
        pl.col("repo").n_unique().cast(pl.Int64).alias("repos"),
    )
    by_requests = requests.group_by("day").agg(request_sums())
    by_ingest = ingest_log.group_by("day").agg(
        pl.col("rows_quarantined").sum().cast(pl.Int64),
        pl.col("rows_duplicate").sum().cast(pl.Int64),
    )
    days = pl.concat([by_runs.select("day"), by_requests.select("day"),
                      by_ingest.select("day")]).unique()
    out = (
        days.join(by_runs, on="day", how="left")
        .join(by_requests, on="day", how="left")
        .join(by_ingest, on="day", how="left")
        .with_columns(pl.col("runs", "run_attempts", "instrumented_runs", "failed_runs",
                             "workflows", "repos", "rows_quarantined", "rows_duplicate")
                      .fill_null(0))
    )
    out = _fill_requests(out).with_columns(ratio_metrics()).with_columns(_per_run())
    return out.select(HISTORY_DAILY_COLUMNS).sort("day")


KPI_RUN_DAILY_COLUMNS = (
    "day", "repo", "workflow", "run_id", "run_attempt", "head_branch", "event", "conclusion",
    "is_failed", "has_token_data", "url", "created_at", "turns", "duration_ms", "requests",
    "error_requests", *TOKEN_BUCKETS, "prompt_tokens", "total_tokens", "cost_usd",
    "unpriced_requests", "ai_credits", "billed_usd", "credited_requests",
    "ai_credits_running_total", "reported_ai_credits", "small_requests",
    "small_requests_cost_usd", "top_model",
)


def kpi_run_daily(runs: pl.DataFrame, requests: pl.DataFrame, *,
                  small_request_output_tokens: int = 50) -> pl.DataFrame:
    """One row per run attempt (day, repo, run_id, run_attempt): its usage and cost.

    The per-run numbers the analytics need (tasks, per-run rule flags, wasted cost of failed
    runs, small requests) without reading the large request facts again. A small request
    answered fewer than `small_request_output_tokens` output tokens.
    """
    keys = ["repo", "run_id", "run_attempt"]
    c = pl.col
    small = c("output_tokens") < small_request_output_tokens
    by_run = requests.group_by(keys).agg(
        *request_sums(),
        small.sum().cast(pl.Int64).alias("small_requests"),
        c("cost_usd").filter(small).sum().alias("small_requests_cost_usd"),
        # The api-proxy's running total: its largest value is the attempt's last.
        c("ai_credits_total").max().alias("ai_credits_running_total"),
    )
    out = runs.select(
        "day", "repo", "workflow", "run_id", "run_attempt", "head_branch", "event", "conclusion",
        "is_failed", "has_token_data", "url", "created_at", "turns", "duration_ms",
        "reported_ai_credits",
    ).join(by_run, on=keys, how="left")
    # No requests: nothing was spent (0), unlike requests that could not be priced (null).
    out = _fill_requests(out).with_columns(c("small_requests").fill_null(0),
                                           c("small_requests_cost_usd").fill_null(0.0))
    return out.select(KPI_RUN_DAILY_COLUMNS).sort("day", *keys)
