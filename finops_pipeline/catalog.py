"""The catalog (docs/tables.md), generated from the source, dataset and table registries.

`python -m finops_pipeline.catalog > docs/tables.md`; a test fails when the committed file is
out of date, so the catalog a newcomer reads is the schema the code writes.
"""

from __future__ import annotations

from finops_pipeline.schemas.datasets import LAKE_DATASETS
from finops_pipeline.sources.registry import SOURCES
from finops_pipeline.warehouse.tables import polars_to_duckdb, tables

COLUMN_DOCS = {
    # billing and reconciliation
    "account_type": "organization, enterprise or user", "account": "the billed account's name",
    "endpoint": "ai_credit, or premium_request for days before AI credits",
    "product": "billed product (copilot, ...)", "sku": "billed SKU",
    "unit_type": "what a unit is (ai-credits, requests)", "price_per_unit": "USD per unit",
    "gross_quantity": "units before discounts", "gross_amount": "USD before discounts",
    "discount_quantity": "units discounted", "discount_amount": "USD discounted",
    "net_quantity": "units billed", "net_amount": "USD billed",
    "org": "organization (a repo's owner; the bill's spelling)",
    "telemetry_requests": "requests of the org's repos with that model",
    "telemetry_ai_credits": "their AI credits; null when none reported any",
    "telemetry_billed_usd": "telemetry_ai_credits x $0.01",
    "telemetry_cost_usd": "their list-price cost",
    "billed_quantity": "net units GitHub billed", "billed_gross_usd": "gross USD billed",
    "billed_net_usd": "net USD billed (0 for a model seen but not billed)",
    "unexplained_usd": "billed_net_usd - telemetry_billed_usd (negative: telemetry exceeds "
                       "the bill)",
    "unexplained_share": "unexplained_usd / billed_net_usd; null when nothing was billed",
    "reported_by_model": "gh-aw's per-model summary of the run (JSON), current --json files",
    "small_requests": "requests answering fewer than small_request_output_tokens",
    "small_requests_cost_usd": "what those small requests cost",

    # What GitHub bills (AI credits; docs/metrics.md "Two costs")
    "ai_credits": "AI credits GitHub bills, as the api-proxy wrote them per response (1 credit "
                  "= $0.01); null where no record reported any",
    "billed_usd": "ai_credits x $0.01: what GitHub bills (cost_usd is the API list price)",
    "credited_requests": "requests that reported AI credits",
    "ai_credits_total": "the api-proxy's running total of the run's credits at this response",
    "ai_credits_running_total": "the largest ai_credits_total of the attempt (its last)",
    "effective_tokens": "gh-aw effective tokens of the response (legacy spend metric)",
    "effective_tokens_total": "running total of effective tokens",
    "model_multiplier": "the model's premium-request / credit multiplier",
    "ai_credits_pricing_source": "where the api-proxy took the credit price from",
    "ai_credits_pricing_tier": "the pricing tier applied",
    "ai_credits_accounting_policy": "the credit accounting policy applied",
    "ai_credits_fallback_pricing_used": "the api-proxy fell back to a default price",
    "ai_credits_dynamic_selector": "the dynamic price selector applied",
    "ai_credits_pricing_observed_at": "when the api-proxy observed the price",
    "ai_credits_pricing_api_version": "the pricing API version",
    "ai_credits_pricing_discount_percent": "discount applied to the credits, percent",
    # analytics
    "tasks": "runs with all their attempts, on the first attempt's day",
    "completed_tasks": "tasks whose last attempt succeeded", "retries": "attempts beyond the first",
    "retry_rate": "retries / tasks", "prs": "distinct linked Copilot pull requests",
    "accepted_prs": "linked pull requests merged within 28 days of the run",
    "tokens_per_completed_task": "total_tokens / completed_tasks (seed 000)",
    "tokens_per_accepted_pr": "total_tokens / accepted_prs (seed 000)",
    "quality_adjusted_cost": "cost_usd / (accepted share of tasks) (seed 000)",
    "efficiency_score": "seed 000's weighted score, 0-100 (docs/metrics.md)",
    "classification": "seed 000: healthy, low_quality_spend or prompt_or_context_issue",
    "budget_usd": "the day's prorated budget", "variance_usd": "cost_usd - budget_usd",
    "mtd_cost_usd": "cost from the first of the month to the day",
    "mtd_budget_usd": "the monthly budget prorated to the day",
    "mtd_variance_usd": "mtd_cost_usd - mtd_budget_usd (positive: over)",
    "level": "repo, team (repo '*') or total", "team": "team of finops.yaml (else the owner)",
    "scope": "what the key names (org, repo, team, workflow, model, agent, user, session, ...)",
    "key": "the scope's key (repo:workflow, provider:model, agent name, ...)",
    "metric": "the measured quantity", "value": "the day's value",
    "value_7d": "the 7 days ending on the day", "prev_7d": "the 7 days before those",
    "change_pct_7d": "100 x (value_7d - prev_7d) / prev_7d",
    "value_28d": "the 28 days ending on the day", "prev_28d": "the 28 days before those",
    "change_pct_28d": "100 x (value_28d - prev_28d) / prev_28d",
    "rule": "the anomaly rule (docs/metrics.md)", "kind": "rule or statistical (anomalies); "
    "the recommendation kind (recommendations)",
    "severity": "critical, warning or info", "observed": "the value seen",
    "expected": "the threshold, or the trailing median of a spike",
    "message": "what was seen, why it matters, what to do",
    "rank": "1 = the largest saving of the day", "priority": "high, medium or low",
    "current_cost_usd": "the cost the saving comes from (7 days; budget: month to date)",
    "potential_savings_usd": "estimated saving, never above current_cost_usd",
    "recommendation": "what to change", "evidence": "JSON: every number the saving rests on",
    "agent": "agent name (agent recommendations)",
    "agent_name": "the agent that made the call", "calls": "agent calls",
    "failed_calls": "calls that reported failure", "success_rate": "successful / reported calls",
    "latency_p50_ms": "median call latency", "latency_p95_ms": "95th percentile call latency",
    "models_used": "models used, comma-separated", "agents_used": "agents used, comma-separated",
    "unpriced_calls": "calls whose model has no price", "user_id": "the user of the workflow",
    "session_id": "the user session", "sessions": "distinct sessions",
    "workflow_id": "app workflow execution (an OpenTelemetry trace)",
    "workflow_name": "app workflow name (for a trace: its root span's name)",
    "call_id": "call id (a span id for OpenTelemetry)",
    "parent_call_id": "the call that made this one (nearest call ancestor for traces)",
    "organization_id": "the organization of the workflow",
    "day": "UTC day the run was created (the partition); loads replace whole days",
    "source": "pipeline source that delivered the row (gh_aw_logs, ...)",
    "repo": "owner/name of the repository ('unknown' when no source names it)",
    "workflow": "workflow name as GitHub shows it",
    "run_id": "GitHub Actions run id", "run_attempt": "attempt number of the run (1 = first)",
    "run_number": "per-workflow run number",
    "request_id": "api-proxy request id (unique per repo and run)",
    "timestamp": "when the request was made (UTC)",
    "provider": "anthropic, openai, copilot, gemini, opencode or unknown",
    "model": "model name as the source wrote it",
    "status": "HTTP status (requests) or run status (runs)",
    "input_tokens": "uncached input tokens (disjoint bucket, DESIGN section 5)",
    "output_tokens": "output tokens (including reasoning)",
    "cache_read_tokens": "input tokens read from the prompt cache",
    "cache_write_tokens": "input tokens written to the prompt cache",
    "reasoning_tokens": "informational part of output_tokens, where reported",
    "prompt_tokens": "input + cache_read + cache_write",
    "total_tokens": "prompt_tokens + output_tokens",
    "token_rule": "how input_tokens was made disjoint: exclusive, inclusive_cache_read (OpenAI-"
                  "style) or inclusive_cache_read_write (OpenTelemetry's gen_ai.usage)",
    "cost_usd": "estimated cost from the unit-price table; null when a model is unpriced",
    "reported_cost_usd": "cost the source itself reported (gh-aw EstimatedCost), never mixed in",
    "reported_ai_credits": "AI credits the source reported (gh-aw aic)",
    "price_basis": "list_api, copilot_api_equivalent or config_override; null when unpriced",
    "unpriced_requests": "requests whose model has no price (their cost is missing, not 0)",
    "runs": "distinct runs", "run_attempts": "run attempts (rows of fact_workflow_runs)",
    "instrumented_runs": "runs with a token-usage.jsonl (token data)",
    "failed_runs": "runs whose latest attempt concluded failure, timed_out, cancelled or "
                   "startup_failure",
    "requests": "LLM requests", "error_requests": "requests with status >= 400",
    "cache_hit_rate": "cache_read / (cache_read + input); null when both are 0",
    "io_ratio": "prompt_tokens / output_tokens; null when output is 0",
    "error_rate": "error_requests / requests",
    "avg_requests_per_run": "requests / instrumented_runs",
    "avg_duration_ms_per_request": "mean request duration",
    "avg_tokens_per_run": "total_tokens / instrumented_runs",
    "avg_cost_per_run": "cost_usd / instrumented_runs",
    "avg_turns_per_run": "turns / runs",
    "reported_tokens": "token total gh-aw reported for the runs (covers uninstrumented runs)",
    "turns": "agent turns reported by gh-aw", "run_duration_ms": "summed run durations",
    "models": "distinct models", "top_model": "most used model",
    "workflows": "distinct (repo, workflow)", "repos": "distinct repositories",
    "share_of_requests": "this model's share of the day's requests",
    "share_of_cost": "this model's share of the day's priced cost",
    "has_token_data": "a token-usage.jsonl was found for the run",
    "token_files": "token-usage.jsonl files found for the run",
    "is_failed": "conclusion is failure, timed_out, cancelled or startup_failure",
    "duration_ms": "run or request duration in milliseconds",
    "summary_input_tokens": "gh-aw token_usage_summary total (for reconciliation)",
    "summary_requests": "gh-aw token_usage_summary request count (for reconciliation)",
    "dataset": "lake dataset (workflow_runs, llm_requests)",
    "rows_in": "rows read from the source", "rows_valid": "rows kept in the lake",
    "rows_quarantined": "rows rejected to quarantine/ with a reason",
    "rows_duplicate": "repeated rows dropped and counted",
    "files": "files read", "runs_skipped": "runs that gave no rows (e.g. no token data)",
    "skip_reasons": "JSON object: reason -> count",
    "_source": "file the row came from", "_line": "line in that file",
    "workflow_path": "workflow file, e.g. .github/workflows/triage.lock.yml",
    "event": "what triggered the run (schedule, issues, pull_request, ...)",
    "head_branch": "branch the run ran on; links runs to Copilot PRs",
    "head_sha": "commit the run ran on",
    "conclusion": "success, failure, cancelled, timed_out, ... (null while running)",
    "actor": "who triggered the run", "engine": "gh-aw engine (claude, copilot, codex, ...)",
    "primary_model": "model gh-aw reports as the run's main one",
    "url": "the run (or pull request) on GitHub",
    "created_at": "when the run (or pull request) was created (UTC); decides its day",
    "started_at": "when the run started (UTC)", "updated_at": "last update of the run (UTC)",
    "error_count": "errors gh-aw counted in the run's logs",
    "warning_count": "warnings gh-aw counted in the run's logs",
    "summary_output_tokens": "gh-aw token_usage_summary total (for reconciliation)",
    "summary_cache_read_tokens": "gh-aw token_usage_summary total (for reconciliation)",
    "summary_cache_write_tokens": "gh-aw token_usage_summary total (for reconciliation)",
    "path": "API path the request called, e.g. /v1/messages",
    "streaming": "the response was streamed",
    "response_bytes": "size of the response body, where reported",
    "x_initiator": "agent or user (Copilot: only user-initiated requests are premium)",
    "schema_version": "the record's _schema, e.g. token-usage/v0.26.0 (null for old records)",
    "number": "pull request number", "state": "merged, rejected (closed unmerged) or open",
    "merged_at": "when the pull request was merged (UTC)",
    "closed_at": "when the pull request was closed (UTC)",
    "head_ref": "the pull request's branch (Copilot's start with copilot/)",
    "author": "pull request author", "title": "pull request title",
}


def _first_line(text: str | None) -> str:
    return " ".join((text or "").strip().split("\n\n")[0].split())


def render() -> str:
    out = ["# Catalog: sources, lake datasets, warehouse tables", "",
           "Generated from the registries by `python -m finops_pipeline.catalog`; do not edit by",
           "hand (a test fails when this file is stale). Every daily table has a `day` column;",
           "loads replace whole days (DESIGN section 7).", "",
           "## Sources (`sources/registry.py`)", "",
           "In priority order: when two sources deliver the same row, the first one's copy is",
           "kept and the other is counted as its duplicate.", "",
           "| source | writes raw kinds | landing folder | what it reads |", "|---|---|---|---|"]
    for s in SOURCES:
        landing = f"`landing/{s.landing_name}/`" if s.landing_name else "none"
        out.append(f"| `{s.name}` | {', '.join(f'`{k}`' for k in s.raw_kinds)} | {landing} | "
                   f"{_first_line(type(s).__doc__)} |")
    out += ["", "## Lake datasets (`schemas/datasets.py`)", "",
            "`lake/<dataset>/day=YYYY-MM-DD/data.parquet`, rejects in `quarantine/<dataset>/`.",
            "", "| dataset | one row is | unique key | fed by raw kinds | priced |",
            "|---|---|---|---|---|"]
    for d in LAKE_DATASETS.values():
        kinds = ", ".join(f"`{k}`" for k in d.raw_kinds) or "(the books of the others)"
        out.append(f"| `{d.name}` | {d.description} | `{', '.join(d.key)}` | {kinds} | "
                   f"{'yes' if d.priced else ''} |")
    out += ["", "## Warehouse tables (`warehouse/tables.py`)", ""]
    for t in tables():
        stored = ("a view over the lake's Parquet files, pinned at each publish"
                  if t.storage == "lake_view" else "a table in the DuckDB file")
        window = (f" Each row reads the {t.window_days} days ending on its day."
                  if t.analytics else "")
        out += [f"### `{t.name}`", "",
                f"{t.description} Grain: `{', '.join(t.grain)}`. Stored as {stored}; "
                f"built from {', '.join(f'`{r}`' for r in t.reads)}.{window}", "",
                "| column | type | meaning |", "|---|---|---|"]
        for col, dtype in t.schema.items():
            out.append(f"| `{col}` | {polars_to_duckdb(dtype)} | {COLUMN_DOCS.get(col, '')} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(render(), end="")
