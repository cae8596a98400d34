"""Where gh-aw and the agent firewall put their files, and where each run field lives.

The input contract shared by every source that reads gh-aw output (run folders on disk,
artifact zips from the GitHub API) and by the lake transform that parses the run objects, so
all of them read a run the same way. Paths are POSIX strings relative to a run folder or an
artifact's root.
"""

from __future__ import annotations

RUN_SUMMARY = "run_summary.json"
AW_INFO = "aw_info.json"
AGENT_USAGE = "agent_usage.json"
TOKEN_USAGE = "token-usage.jsonl"
# The `usage` artifact spells the file with an underscore; it is the same record format.
TOKEN_USAGE_ALIASES = {"token_usage.jsonl": TOKEN_USAGE}
TOKEN_USAGE_NAMES = (TOKEN_USAGE, *TOKEN_USAGE_ALIASES)
CANONICAL_TOKEN_USAGE = "sandbox/firewall/logs/api-proxy-logs/token-usage.jsonl"
# Where gh-aw's own reader also looks, in its order after the canonical path: the AWF >= 0.27.7
# audit dir, and the `usage` artifact.
PREFERRED_TOKEN_USAGE = (CANONICAL_TOKEN_USAGE,
                         "sandbox/firewall/audit/api-proxy-logs/token-usage.jsonl",
                         "usage/agent/token_usage.jsonl")

# Where each run field lives in the three gh-aw shapes and in the GitHub REST API's run object
# (`id`, `name`, `path`, `html_url`, `repository.full_name`, `actor.login`, `run_started_at`).
# First non-null wins, so run_summary's nested `run.*` comes before the flat names of the
# --json outputs.
RUN_FIELD_PATHS: dict[str, tuple[str, ...]] = {
    "run_id": ("$.run.databaseId", "$.run.DatabaseID", "$.run_id", "$.databaseId",
               "$.DatabaseID", "$.database_id", "$.id"),
    "run_number": ("$.run.number", "$.run.Number", "$.number", "$.Number", "$.run_number"),
    "run_attempt": ("$.run.attempt", "$.run.Attempt", "$.run_attempt", "$.attempt",
                    "$.Attempt", "$.RunAttempt"),
    "workflow": ("$.run.workflowName", "$.run.WorkflowName", "$.workflow_name",
                 "$.workflowName", "$.WorkflowName", "$.name"),
    "workflow_path": ("$.run.workflowPath", "$.run.WorkflowPath", "$.workflow_path",
                      "$.workflowPath", "$.WorkflowPath", "$.path"),
    "repository": ("$.run.repository", "$.run.Repository", "$.repository.full_name",
                   "$.repository", "$.Repository"),
    "url": ("$.run.url", "$.run.URL", "$.html_url", "$.url", "$.URL"),
    "status": ("$.run.status", "$.run.Status", "$.status", "$.Status"),
    "conclusion": ("$.run.conclusion", "$.run.Conclusion", "$.conclusion", "$.Conclusion"),
    "event": ("$.run.event", "$.run.Event", "$.event", "$.Event"),
    "head_branch": ("$.run.headBranch", "$.run.HeadBranch", "$.branch", "$.head_branch",
                    "$.headBranch", "$.HeadBranch"),
    "head_sha": ("$.run.headSha", "$.run.HeadSha", "$.head_sha", "$.headSha", "$.HeadSha"),
    "actor": ("$.run.actor", "$.run.Actor", "$.actor.login", "$.actor", "$.Actor"),
    "created_at": ("$.run.createdAt", "$.run.CreatedAt", "$.created_at", "$.createdAt",
                   "$.CreatedAt"),
    "started_at": ("$.run.startedAt", "$.run.StartedAt", "$.started_at", "$.startedAt",
                   "$.StartedAt", "$.run_started_at"),
    "updated_at": ("$.run.updatedAt", "$.run.UpdatedAt", "$.updated_at", "$.updatedAt",
                   "$.UpdatedAt"),
    "duration_ns": ("$.run.Duration", "$.Duration"),
    "duration_text": ("$.duration",),
    "token_usage": ("$.run.TokenUsage", "$.token_usage", "$.TokenUsage", "$.tokenUsage"),
    "turns": ("$.run.Turns", "$.turns", "$.Turns"),
    "error_count": ("$.run.ErrorCount", "$.error_count", "$.ErrorCount"),
    "warning_count": ("$.run.WarningCount", "$.warning_count", "$.WarningCount"),
    # Older `gh aw logs --json` files: estimated_cost / total_cost; current ones report AI
    # credits instead (`aic`, token_usage_summary.total_aic) and a per-model breakdown.
    "reported_cost_usd": ("$.run.EstimatedCost", "$.estimated_cost", "$.EstimatedCost",
                          "$.estimatedCost", "$.total_cost"),
    "reported_ai_credits": ("$.aic", "$.run.AIC", "$.token_usage_summary.total_aic"),
    "reported_by_model": ("$.token_usage_summary.by_model",),
    "engine": ("$.engine_id", "$.engine", "$.run.Engine"),
    "summary_input_tokens": ("$.token_usage_summary.total_input_tokens",),
    "summary_output_tokens": ("$.token_usage_summary.total_output_tokens",),
    "summary_cache_read_tokens": ("$.token_usage_summary.total_cache_read_tokens",),
    "summary_cache_write_tokens": ("$.token_usage_summary.total_cache_write_tokens",),
    "summary_requests": ("$.token_usage_summary.total_requests",),
}
# agent_usage.json (gh-aw's parse_token_usage.cjs) holds run totals with the proxy's meaning:
# the run-level fallback when a run has no token-usage.jsonl.
AGENT_USAGE_FIELD_PATHS: dict[str, tuple[str, ...]] = {
    "summary_input_tokens": ("$.input_tokens",),
    "summary_output_tokens": ("$.output_tokens",),
    "summary_cache_read_tokens": ("$.cache_read_tokens",),
    "summary_cache_write_tokens": ("$.cache_write_tokens",),
    "reported_ai_credits": ("$.ai_credits",),
    "primary_model": ("$.primary_model", "$.model"),
}
# aw_info.json fills what the summary lacks (older summaries carry no repository).
AW_INFO_FIELD_PATHS: dict[str, tuple[str, ...]] = {
    "repository": ("$.repository",),
    "workflow": ("$.workflow_name",),
    "run_attempt": ("$.run_attempt",),
    "actor": ("$.actor",),
    "event": ("$.event_name",),
    "engine": ("$.engine_id",),
    "primary_model": ("$.model",),
}
