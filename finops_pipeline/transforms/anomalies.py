"""Anomalies: rule flags (seed 003 and seed 000's governance table) and statistical spikes.

`anomalies(...)` is a pure polars function of warehouse rows; its output is the `anomalies`
table, one row per (day, scope, key, rule), columns `ANOMALIES_SCHEMA`.

Rules (kind `rule`; `expected` is the threshold of finops.yaml `thresholds:`), per workflow
(key `repo:workflow`) and day unless said otherwise:

* `zero_cache_hits` (metric cache_hit_rate): cache_hit_rate <= cache_hit_rate_min while
  prompt_tokens >= cache_min_prompt_tokens.
* `io_ratio_high` (io_ratio): io_ratio > io_ratio_max.
* `many_small_requests` (small_requests): a run attempt (kpi_run_daily) made more than
  small_requests_min_count requests with fewer than small_request_output_tokens output tokens.
  ONE row per workflow and day (not per run): observed = the largest count of one attempt; the
  message says how many attempts did, names the worst and what the small requests cost.
* `high_total_tokens` (total_tokens): total_tokens > high_total_tokens.
* `tokens_per_run_high` (avg_tokens_per_run): avg_tokens_per_run > tokens_per_run_max.
* `cost_per_run_high` (avg_cost_per_run): avg_cost_per_run > cost_per_run_max.
* `turns_per_run_high` (avg_turns_per_run): avg_turns_per_run > turns_per_run_max.
* `error_rate_high` (error_rate): error_rate > error_rate_max, with requests > 0.
* `failed_runs_cost` (cost_usd): the failed run attempts of the day (kpi_run_daily
  is_failed; a failed attempt that was retried counts too) cost > 0; observed = that wasted
  cost, expected 0.
* `spend_rising` (cost_usd): trend_daily rows of scopes org, team, repo and workflow with
  change_pct_7d > spend_increase_pct and value_7d - prev_7d >= spend_increase_min_usd;
  observed value_7d, expected prev_7d; scope and key those of the trend.
* `budget_overrun` (mtd_cost_usd): mtd_cost_usd > mtd_budget_usd; expected mtd_budget_usd.
  From showback rows (scope = level; key the repo, the team or `*` for total) and for
  workflows with a budget of scope workflow (key `repo:workflow`; month-to-date cost = its
  cost from the first of the month). Both only on days the scope had activity.
* `tokens_per_task_high` (tokens_per_completed_task), `retry_rate_high` (retry_rate),
  `no_accepted_prs` (accepted_prs; prs > 0 and accepted_prs == 0, observed 0, expected 1):
  seed 000's flags, from showback rows of level repo (scope repo, key the repo), against
  tokens_per_completed_task_max and retry_rate_max.

Multi-agent apps (agent_calls):

* `error_rate_high` (error_rate) per agent (scope agent, key agent_name): failed calls /
  calls > error_rate_max, on a day with at least AGENT_MIN_CALLS (5) calls.
* `io_ratio_high` (io_ratio) per agent: io_ratio > io_ratio_max.
* `session_prompt_or_context_issue` and `session_low_quality_spend` (total_tokens; scope
  session, key session_id): seed 000's session classes of kpi_session_daily (more than
  session_tokens_high tokens with session_retries_high failed calls; more than
  session_tokens_low tokens and a workflow that failed). Warning and info.
* `spend_rising` also for the agent and user scopes of trend_daily.

What GitHub bills (reconciliation_daily):

* `billing_unexplained` (unexplained_share; scope org, key the organization): the share of
  the organization's billed net amount its telemetry's AI credits do not explain >
  unexplained_share_max, with at least spend_increase_min_usd unexplained; the message names the
  model with the most unexplained dollars.

Severities: `critical` for budget_overrun, for a threshold rule whose observed value is at
least twice its (positive) threshold, for spend_rising when the 7-day spend at least doubled,
for failed_runs_cost when the wasted cost is at least 2 x cost_per_run_max; `info` for
no_accepted_prs; `warning` otherwise (zero_cache_hits is always a warning).

Statistical spikes (kind `statistical`, rules `total_tokens_spike` and `cost_usd_spike`) for
scopes workflow (key `repo:workflow`), repo (the sum of its workflows), model (key
`provider:model`), agent (agent_name) and user (user_id). For day D the history is the days
D-W..D-1 (W = anomaly_window_days) from the key's first row within them on, idle days counting
as 0: a key first seen 5 days ago has 5 days of history, and none fires before
anomaly_min_history_days. (Rows before the window never count, so the result does not depend on
how far back a load happened to read.) Daily tokens and costs are multiplicative and
heavy-tailed (a lognormal day-to-day noise), so the robust z-score is taken on the log of the key's
*active* (non-zero) history days:

    med = median(log v)
    spread = max(1.4826 * MAD, 1.253314 * mean |log v - med|, 0.2)
    scale = spread * min(2, 1 + (anomaly_z^2 + 1) / (4 * (n - 1)))   # n active days
    z = (log observed - med) / scale

The last factor widens a spread estimated from few days (Student's t against the normal, first
Cornish-Fisher term): with 28 days of lognormal noise a key-day fires about 1 in 2,500 times
instead of 1 in 900 unwidened, and a 5x spike over a sigma 0.3 noise still fires.

Taking the active days makes the detector robust to histories full of zero days: a weekly
workflow is compared with its other runs, not with the six idle days between them (against
which every run would look like a spike). The floor of 0.2 keeps a constant history from
firing on a tiny rise. A spike fires when all hold:

* history days >= anomaly_min_history_days;
* observed >= anomaly_min_ratio x the median of the active history days (`expected`);
* observed - expected >= the minimum rise: anomaly_min_rise_tokens tokens, or
  spend_increase_min_usd dollars (pennies and a handful of tokens are never a spike);
* at least SPIKE_MIN_ACTIVE_DAYS (3) active days in the history: a key whose history is all
  zeros (new, or a workflow whose token data starts to arrive) has nothing to spike against;
* z > anomaly_z, or observed >= SPIKE_MAX_MULTIPLE (3) x the largest day of the history:
  a workflow whose ordinary days vary five-fold has a wide spread, and a runaway day far
  above anything it has done must still count (on lognormal noise of spread 0.5 such a day
  is a 4-sigma event).

Severity `critical` when observed >= 5 x max(expected, minimum rise), else `warning`.
A day whose cost is null (unpriced) neither fires nor counts as an active day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

import polars as pl

from finops_pipeline.transforms.budgets import with_budgets
from finops_pipeline.transforms.readable import compact as _compact
from finops_pipeline.transforms.readable import pct as _pct
from finops_pipeline.transforms.readable import trim as _trim
from finops_pipeline.transforms.readable import usd as _usd

if TYPE_CHECKING:
    from finops_pipeline.config import FileConfig, Thresholds

ANOMALIES_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(), "scope": pl.String(), "key": pl.String(), "rule": pl.String(),
    "kind": pl.String(), "severity": pl.String(), "metric": pl.String(),
    "observed": pl.Float64(), "expected": pl.Float64(), "message": pl.String(),
}
ANOMALIES_COLUMNS = tuple(ANOMALIES_SCHEMA)
SEVERITIES = ("critical", "warning", "info")
#: Scopes of trend_daily whose spend can be "rising" (the model scope is not an owner).
SPEND_SCOPES = ("org", "team", "repo", "workflow", "agent", "user")
#: Calls an agent needs in a day before its error rate is judged (one failed call of two is
#: not a pattern).
AGENT_MIN_CALLS = 5
SPIKE_METRICS = ("total_tokens", "cost_usd")
#: Days with spend a key's history needs before its spend can be called a spike.
SPIKE_MIN_ACTIVE_DAYS = 3
#: A day at this multiple of its window's largest day is a spike whatever the spread.
SPIKE_MAX_MULTIPLE = 3.0
#: Floor of the log-scale spread: a constant history does not fire on a tiny rise.
SPIKE_LOG_SCALE_FLOOR = 0.2
#: Cap of the small-sample widening of the spread (a history of one or two active days).
SPIKE_SMALL_SAMPLE_MAX = 2.0
#: Observed / expected from which a spike is critical.
SPIKE_CRITICAL_RATIO = 5.0

c = pl.col


# --- readable numbers, as polars string expressions ------------------------------------------

def _lit_num(value: float, fmt: Callable[[pl.Expr], pl.Expr]) -> pl.Expr:
    return fmt(pl.lit(float(value), dtype=pl.Float64))


# --- helpers ---------------------------------------------------------------------------------

def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=ANOMALIES_SCHEMA)


def _workflow_key() -> pl.Expr:
    return pl.format("{}:{}", c("repo"), c("workflow"))


def _severity(observed: pl.Expr, threshold: float) -> pl.Expr:
    """critical at twice a positive threshold, else warning."""
    if threshold <= 0:
        return pl.lit("warning")
    return pl.when(observed >= 2 * threshold).then(pl.lit("critical")).otherwise(
        pl.lit("warning"))


def _rows(frame: pl.DataFrame, *, scope: str | pl.Expr, key: pl.Expr, rule: str, kind: str,
          severity: pl.Expr, metric: str, observed: pl.Expr, expected: pl.Expr | float,
          message: pl.Expr) -> pl.DataFrame:
    """Output rows of `frame` (already filtered to the rows that fire)."""
    return frame.select(
        c("day"),
        (pl.lit(scope) if isinstance(scope, str) else scope).alias("scope"),
        key.alias("key"),
        pl.lit(rule).alias("rule"),
        pl.lit(kind).alias("kind"),
        severity.alias("severity"),
        pl.lit(metric).alias("metric"),
        observed.cast(pl.Float64).alias("observed"),
        (expected if isinstance(expected, pl.Expr) else pl.lit(float(expected)))
        .cast(pl.Float64).alias("expected"),
        message.alias("message"),
    ).cast(ANOMALIES_SCHEMA)


# --- rules on workflow days ------------------------------------------------------------------

def _workflow_rules(wf: pl.DataFrame, t: Thresholds) -> list[pl.DataFrame]:
    key = _workflow_key()
    out = [
        _rows(
            wf.filter(c("cache_hit_rate") <= t.cache_hit_rate_min,
                      c("prompt_tokens") >= t.cache_min_prompt_tokens),
            scope="workflow", key=key, rule="zero_cache_hits", kind="rule",
            severity=pl.lit("warning"), metric="cache_hit_rate",
            observed=c("cache_hit_rate"), expected=t.cache_hit_rate_min,
            message=pl.format(
                "cache hit rate {} on {} prompt tokens; expected above {}: every request pays "
                "full price for a repeated prompt. Enable prompt caching (stable system prompt "
                "and tool list first).",
                _pct(c("cache_hit_rate")), _compact(c("prompt_tokens")),
                _lit_num(t.cache_hit_rate_min, _pct)),
        ),
        _rows(
            wf.filter(c("io_ratio") > t.io_ratio_max),
            scope="workflow", key=key, rule="io_ratio_high", kind="rule",
            severity=_severity(c("io_ratio"), t.io_ratio_max), metric="io_ratio",
            observed=c("io_ratio"), expected=t.io_ratio_max,
            message=pl.format(
                "{} prompt tokens per output token ({} prompt, {} output); expected at most "
                "{}: the model rereads a large context to write little. Trim the system "
                "prompt, the tool surface or the context carried between turns.",
                _trim(c("io_ratio"), 0), _compact(c("prompt_tokens")),
                _compact(c("output_tokens")), _lit_num(t.io_ratio_max, _trim)),
        ),
        _rows(
            wf.filter(c("total_tokens") > t.high_total_tokens),
            scope="workflow", key=key, rule="high_total_tokens", kind="rule",
            severity=_severity(c("total_tokens"), t.high_total_tokens), metric="total_tokens",
            observed=c("total_tokens"), expected=t.high_total_tokens,
            message=pl.format(
                "{} tokens in the day over {} runs; the review threshold is {}: unusually "
                "high volume. Review what drives it (runs, turns, context size).",
                _compact(c("total_tokens")), c("runs"),
                _lit_num(t.high_total_tokens, _compact)),
        ),
        _rows(
            wf.filter(c("avg_tokens_per_run") > t.tokens_per_run_max),
            scope="workflow", key=key, rule="tokens_per_run_high", kind="rule",
            severity=_severity(c("avg_tokens_per_run"), t.tokens_per_run_max),
            metric="avg_tokens_per_run", observed=c("avg_tokens_per_run"),
            expected=t.tokens_per_run_max,
            message=pl.format(
                "{} tokens per instrumented run ({} runs); expected at most {}: each run "
                "carries more context or turns than it should. Review the prompt, the context "
                "it loads and its turn limit.",
                _compact(c("avg_tokens_per_run")), c("instrumented_runs"),
                _lit_num(t.tokens_per_run_max, _compact)),
        ),
        _rows(
            wf.filter(c("avg_cost_per_run") > t.cost_per_run_max),
            scope="workflow", key=key, rule="cost_per_run_high", kind="rule",
            severity=_severity(c("avg_cost_per_run"), t.cost_per_run_max),
            metric="avg_cost_per_run", observed=c("avg_cost_per_run"),
            expected=t.cost_per_run_max,
            message=pl.format(
                "{} per instrumented run ({} runs, {} in the day); expected at most {}: the "
                "workflow is expensive per run. Use a cheaper model for routine steps or cap "
                "its turns.",
                _usd(c("avg_cost_per_run")), c("instrumented_runs"), _usd(c("cost_usd")),
                _lit_num(t.cost_per_run_max, _usd)),
        ),
        _rows(
            wf.filter(c("avg_turns_per_run") > t.turns_per_run_max),
            scope="workflow", key=key, rule="turns_per_run_high", kind="rule",
            severity=_severity(c("avg_turns_per_run"), t.turns_per_run_max),
            metric="avg_turns_per_run", observed=c("avg_turns_per_run"),
            expected=t.turns_per_run_max,
            message=pl.format(
                "{} turns per run ({} runs); expected at most {}: the agent loops longer than "
                "it should, re-sending its context each turn. Tighten the instructions or set "
                "a max-turns limit.",
                _trim(c("avg_turns_per_run")), c("runs"),
                _lit_num(t.turns_per_run_max, _trim)),
        ),
        _rows(
            wf.filter(c("requests") > 0, c("error_rate") > t.error_rate_max),
            scope="workflow", key=key, rule="error_rate_high", kind="rule",
            severity=_severity(c("error_rate"), t.error_rate_max), metric="error_rate",
            observed=c("error_rate"), expected=t.error_rate_max,
            message=pl.format(
                "{} of {} requests failed (HTTP status >= 400); expected at most {}: failed "
                "calls waste tokens and trigger retries. Check rate limits, credentials and "
                "request sizes.",
                _pct(c("error_rate")), c("requests"), _lit_num(t.error_rate_max, _pct)),
        ),
    ]
    return out


# --- rules on agents and sessions (multi-agent apps) ----------------------------------------

def _agent_rules(agents: pl.DataFrame, t: Thresholds) -> list[pl.DataFrame]:
    """error_rate_high and io_ratio_high per agent (key agent_name) and day."""
    failed = c("failed_calls") / c("calls")
    return [
        _rows(
            agents.filter(c("calls") >= AGENT_MIN_CALLS, failed > t.error_rate_max),
            scope="agent", key=c("agent_name"), rule="error_rate_high", kind="rule",
            severity=_severity(failed, t.error_rate_max), metric="error_rate",
            observed=failed, expected=t.error_rate_max,
            message=pl.format(
                "{} of the agent's {} calls failed; expected at most {}: a failed call wastes "
                "its tokens and its caller's retry pays again. Check the agent's tools, "
                "timeouts and the model's rate limits.",
                c("failed_calls"), c("calls"), _lit_num(t.error_rate_max, _pct)),
        ),
        _rows(
            agents.filter(c("io_ratio") > t.io_ratio_max),
            scope="agent", key=c("agent_name"), rule="io_ratio_high", kind="rule",
            severity=_severity(c("io_ratio"), t.io_ratio_max), metric="io_ratio",
            observed=c("io_ratio"), expected=t.io_ratio_max,
            message=pl.format(
                "{} prompt tokens per output token over {} calls ({} prompt, {} output); "
                "expected at most {}: the agent is handed far more context than it uses. Pass "
                "it a summary or only the fields it needs.",
                _trim(c("io_ratio"), 0), c("calls"), _compact(c("prompt_tokens")),
                _compact(c("output_tokens")), _lit_num(t.io_ratio_max, _trim)),
        ),
    ]


def _session_rules(sessions: pl.DataFrame, t: Thresholds) -> list[pl.DataFrame]:
    """Seed 000's session classes as flags: prompt_or_context_issue (many tokens and
    retries: warning) and low_quality_spend (tokens spent, a workflow failed: info)."""
    who = pl.format("session of {}", c("user_id").fill_null("an unknown user"))
    return [
        _rows(
            sessions.filter(c("classification") == "prompt_or_context_issue"),
            scope="session", key=c("session_id"), rule="session_prompt_or_context_issue",
            kind="rule", severity=pl.lit("warning"), metric="total_tokens",
            observed=c("total_tokens"), expected=t.session_tokens_high,
            message=pl.format(
                "{}: {} tokens ({}) with {} failed calls; a session above {} tokens with {} or "
                "more retries points at the prompt or the context, not at the user. Review "
                "its first failing call.",
                who, _compact(c("total_tokens")), _usd(c("cost_usd")), c("failed_calls"),
                _lit_num(t.session_tokens_high, _compact), pl.lit(t.session_retries_high)),
        ),
        _rows(
            sessions.filter(c("classification") == "low_quality_spend"),
            scope="session", key=c("session_id"), rule="session_low_quality_spend",
            kind="rule", severity=pl.lit("info"), metric="total_tokens",
            observed=c("total_tokens"), expected=t.session_tokens_low,
            message=pl.format(
                "{}: {} tokens ({}) over {} workflows, and not every workflow succeeded: "
                "spend without an accepted outcome.",
                who, _compact(c("total_tokens")), _usd(c("cost_usd")), c("workflows")),
        ),
    ]


def _billing_rules(reconciliation: pl.DataFrame, t: Thresholds) -> pl.DataFrame:
    """billing_unexplained: an organization's bill of the day is largely not explained by its
    telemetry's AI credits (reconciliation_daily)."""
    worst = pl.col("unexplained_usd").arg_max()
    per_org = reconciliation.group_by("day", "org").agg(
        c("billed_net_usd").sum(), c("unexplained_usd").sum(),
        c("model").get(worst).alias("worst_model"),
        c("unexplained_usd").max().alias("worst_usd"),
    ).with_columns(
        pl.when(c("billed_net_usd") > 0).then(c("unexplained_usd") / c("billed_net_usd"))
        .alias("share"))
    fired = per_org.filter(c("share") > t.unexplained_share_max,
                           c("unexplained_usd") >= t.spend_increase_min_usd)
    return _rows(
        fired, scope="org", key=c("org"), rule="billing_unexplained", kind="rule",
        severity=_severity(c("share"), t.unexplained_share_max), metric="unexplained_share",
        observed=c("share"), expected=t.unexplained_share_max,
        message=pl.format(
            "{} of the {} GitHub billed {} has no telemetry behind it ({}; at most {} "
            "expected), most for {} ({}): workflows without the api-proxy's token-usage.jsonl, "
            "or Copilot use outside Actions. Instrument them to see where it goes.",
            _usd(c("unexplained_usd")), _usd(c("billed_net_usd")), c("org"), _pct(c("share")),
            _lit_num(t.unexplained_share_max, _pct), c("worst_model"), _usd(c("worst_usd"))),
    )


def _run_rules(runs: pl.DataFrame, t: Thresholds) -> list[pl.DataFrame]:
    """many_small_requests (one row per workflow and day) and failed_runs_cost."""
    over = c("small_requests") > t.small_requests_min_count
    small = runs.group_by("day", "repo", "workflow").agg(
        pl.len().alias("attempts"),
        over.sum().alias("attempts_over"),
        c("small_requests").max().alias("max_small"),
        c("small_requests_cost_usd").filter(over).sum().alias("small_cost"),
        pl.format("{} attempt {}", c("run_id"), c("run_attempt"))
        .sort_by("small_requests", "run_id", "run_attempt", descending=[True, False, False])
        .first().alias("worst"),
    ).filter(c("attempts_over") > 0)
    failed = runs.filter(c("is_failed")).group_by("day", "repo", "workflow").agg(
        pl.len().alias("failed_attempts"),
        c("cost_usd").sum().alias("wasted"),
        c("run_id").n_unique().alias("failed_runs"),
    ).filter(c("wasted") > 0)
    key = _workflow_key()
    return [
        _rows(
            small, scope="workflow", key=key, rule="many_small_requests", kind="rule",
            severity=_severity(c("max_small"), t.small_requests_min_count),
            metric="small_requests", observed=c("max_small"),
            expected=t.small_requests_min_count,
            message=pl.format(
                "{} of {} run attempts made more than {} requests with fewer than {} output "
                "tokens (up to {}, in run {}; {} spent on them): each small call re-sends the "
                "whole prompt. Batch small steps into fewer requests.",
                c("attempts_over"), c("attempts"), pl.lit(t.small_requests_min_count),
                pl.lit(t.small_request_output_tokens), c("max_small"), c("worst"),
                _usd(c("small_cost"))),
        ),
        _rows(
            failed, scope="workflow", key=key, rule="failed_runs_cost", kind="rule",
            severity=pl.when((t.cost_per_run_max > 0)
                             & (c("wasted") >= 2 * t.cost_per_run_max))
            .then(pl.lit("critical")).otherwise(pl.lit("warning")),
            metric="cost_usd", observed=c("wasted"), expected=0.0,
            message=pl.format(
                "{} failed run attempts ({} runs) cost {}; expected nothing spent on failures: "
                "that spend produced no result. Fix the cause of the failure (see the run "
                "logs) before re-running.",
                c("failed_attempts"), c("failed_runs"), _usd(c("wasted"))),
        ),
    ]


def _workflow_budgets(workflow_daily: pl.DataFrame, config: FileConfig,
                      days: tuple[dt.date, dt.date]) -> pl.DataFrame:
    """budget_overrun of workflows with a budget, on the days they ran."""
    if not any(b.scope == "workflow" for b in config.budgets):
        return _empty()
    daily = workflow_daily.group_by("day", "repo", "workflow").agg(
        c("cost_usd").sum().alias("cost_usd")).with_columns(
        _workflow_key().alias("workflow_key"))  # not `key`: with_budgets uses that name
    mtd = daily.with_columns(
        c("cost_usd").fill_null(0.0).cum_sum()
        .over("workflow_key", c("day").dt.month_start(), order_by="day").alias("mtd_cost_usd"),
    ).filter(c("day").is_between(*days))
    mtd = with_budgets(mtd, "workflow_key", config.budgets, "workflow").filter(
        c("mtd_budget_usd").is_not_null(), c("mtd_cost_usd") > c("mtd_budget_usd"))
    return _rows(mtd, scope="workflow", key=c("workflow_key"), rule="budget_overrun", kind="rule",
                 severity=pl.lit("critical"), metric="mtd_cost_usd",
                 observed=c("mtd_cost_usd"), expected=c("mtd_budget_usd"),
                 message=_budget_message())


def _budget_message() -> pl.Expr:
    over = c("mtd_cost_usd") - c("mtd_budget_usd")
    return pl.format(
        "month-to-date cost {} against a month-to-date budget of {} ({} over{}): the month "
        "is heading for an overrun. Review the largest spenders or revise the budget.",
        _usd(c("mtd_cost_usd")), _usd(c("mtd_budget_usd")), _usd(over),
        pl.when(c("mtd_budget_usd") > 0)
        .then(pl.concat_str(pl.lit(", +"), _pct(over / c("mtd_budget_usd"))))
        .otherwise(pl.lit("")),
    )


def _showback_rules(showback: pl.DataFrame, t: Thresholds) -> list[pl.DataFrame]:
    level_key = (pl.when(c("level") == "repo").then(c("repo"))
                 .when(c("level") == "team").then(c("team")).otherwise(pl.lit("*")))
    budget = showback.filter(c("mtd_budget_usd").is_not_null(),
                             c("mtd_cost_usd") > c("mtd_budget_usd"))
    repo = showback.filter(c("level") == "repo")
    return [
        _rows(budget, scope=c("level"), key=level_key, rule="budget_overrun", kind="rule",
              severity=pl.lit("critical"), metric="mtd_cost_usd", observed=c("mtd_cost_usd"),
              expected=c("mtd_budget_usd"), message=_budget_message()),
        _rows(
            repo.filter(c("tokens_per_completed_task") > t.tokens_per_completed_task_max),
            scope="repo", key=c("repo"), rule="tokens_per_task_high", kind="rule",
            severity=_severity(c("tokens_per_completed_task"), t.tokens_per_completed_task_max),
            metric="tokens_per_completed_task", observed=c("tokens_per_completed_task"),
            expected=t.tokens_per_completed_task_max,
            message=pl.format(
                "{} tokens per completed task ({} tasks, {} completed); expected at most {}: "
                "tasks cost more context or retries than they should. Review the prompts and "
                "how tasks are scoped.",
                _compact(c("tokens_per_completed_task")), c("tasks"), c("completed_tasks"),
                _lit_num(t.tokens_per_completed_task_max, _compact)),
        ),
        _rows(
            repo.filter(c("retry_rate") > t.retry_rate_max),
            scope="repo", key=c("repo"), rule="retry_rate_high", kind="rule",
            severity=_severity(c("retry_rate"), t.retry_rate_max), metric="retry_rate",
            observed=c("retry_rate"), expected=t.retry_rate_max,
            message=pl.format(
                "retry rate {} ({} retries over {} tasks); expected at most {}: every retry "
                "spends the run again. Fix flaky steps or clarify the task.",
                _pct(c("retry_rate")), c("retries"), c("tasks"),
                _lit_num(t.retry_rate_max, _pct)),
        ),
        _rows(
            repo.filter(c("prs") > 0, c("accepted_prs") == 0),
            scope="repo", key=c("repo"), rule="no_accepted_prs", kind="rule",
            severity=pl.lit("info"), metric="accepted_prs", observed=c("accepted_prs"),
            expected=1.0,
            message=pl.format(
                "{} Copilot PRs and none accepted ({} spent); expected at least one merged: "
                "the spend produced no merged work. Review why the PRs were not merged (task "
                "quality, review backlog).",
                c("prs"), _usd(c("cost_usd").fill_null(0.0))),
        ),
    ]


def _spend_rising(trends: pl.DataFrame, t: Thresholds) -> pl.DataFrame:
    rising = trends.filter(
        c("scope").is_in(SPEND_SCOPES), c("metric") == "cost_usd",
        c("change_pct_7d") > t.spend_increase_pct,
        (c("value_7d") - c("prev_7d")) >= t.spend_increase_min_usd,
    )
    return _rows(
        rising, scope=c("scope"), key=c("key"), rule="spend_rising", kind="rule",
        severity=pl.when((c("prev_7d") > 0) & (c("value_7d") >= 2 * c("prev_7d")))
        .then(pl.lit("critical")).otherwise(pl.lit("warning")),
        metric="cost_usd", observed=c("value_7d"), expected=c("prev_7d"),
        message=pl.format(
            "spend over the last 7 days {} against {} the 7 days before (+{}); expected a "
            "rise of at most {}: the trend compounds if left alone. Find the workflow or "
            "model driving it.",
            _usd(c("value_7d")), _usd(c("prev_7d")), _pct(c("change_pct_7d") / 100),
            _lit_num(t.spend_increase_pct / 100, _pct)),
    )


# --- statistical spikes ----------------------------------------------------------------------

def _spike_series(workflow_daily: pl.DataFrame, model_daily: pl.DataFrame,
                  agent_daily: pl.DataFrame, user_daily: pl.DataFrame) -> pl.DataFrame:
    """(scope, key, metric, day, value) of every key's active days; cost null if unpriced."""
    def sums(frame: pl.DataFrame, scope: str, key: pl.Expr) -> pl.DataFrame:
        return frame.group_by("day", key.alias("key")).agg(
            c("total_tokens").sum().cast(pl.Float64),
            pl.when(c("cost_usd").is_not_null().any()).then(c("cost_usd").sum())
            .cast(pl.Float64).alias("cost_usd"),
        ).with_columns(pl.lit(scope).alias("scope"))

    frames = [
        sums(workflow_daily, "workflow", _workflow_key()),
        sums(workflow_daily, "repo", c("repo")),
        sums(model_daily, "model", pl.format("{}:{}", c("provider"), c("model"))),
        sums(agent_daily, "agent", c("agent_name")),
        sums(user_daily, "user", c("user_id")),
    ]
    return pl.concat(frames).unpivot(
        on=list(SPIKE_METRICS), index=["scope", "key", "day"], variable_name="metric",
        value_name="value")


def _spikes(series: pl.DataFrame, days: tuple[dt.date, dt.date], t: Thresholds) -> pl.DataFrame:
    group = ["scope", "key", "metric"]
    series = series.with_columns(
        pl.lit(True).alias("present"))
    if series.is_empty():
        return _empty()
    # Dense daily grid from each key's first appearance: idle days are 0 (and count as
    # history); a day whose cost could not be priced stays null.
    grid = (
        series.group_by(group).agg(c("day").min().alias("first"))
        .with_columns(pl.date_ranges(c("first"), pl.lit(days[1]), "1d").alias("day"))
        .explode("day").drop("first")
        .join(series, on=[*group, "day"], how="left")
        .with_columns(pl.when(c("present")).then(c("value")).otherwise(0.0).alias("value"),
                      c("present").fill_null(False))
    )
    w = t.anomaly_window_days
    active = c("value").filter(c("value") > 0)
    logv = active.log()
    dev = (logv - logv.median()).abs()
    # Per grid row, the W days before it: (D - W - 1, D - 1], i.e. D-W..D-1.
    stats = grid.sort(*group, "day").rolling(
        "day", period=f"{w}d", offset=f"-{w + 1}d", closed="right", group_by=group,
    ).agg(
        # Days since the key's first row *within* the window: what was read before the window
        # (which depends on how the days were loaded) never counts.
        c("day").filter(c("present")).min().alias("first_seen"),
        active.len().alias("active_days"),
        active.median().alias("median"),
        active.max().alias("history_max"),
        logv.median().alias("med_log"),
        dev.median().alias("mad_log"),
        dev.mean().alias("meanad_log"),
    )
    candidates = grid.filter(c("day").is_between(*days), c("value") > 0)
    stats = candidates.drop("present").join(stats, on=[*group, "day"]).rename(
        {"value": "observed"}).with_columns(
        (c("day") - c("first_seen")).dt.total_days().fill_null(0).alias("history_days"))
    min_rise = pl.when(c("metric") == "cost_usd").then(pl.lit(t.spend_increase_min_usd)) \
        .otherwise(pl.lit(float(t.anomaly_min_rise_tokens)))
    stats = stats.with_columns(
        c("median").fill_null(0.0),
        (pl.max_horizontal(1.4826 * c("mad_log"), 1.253314 * c("meanad_log"),
                           pl.lit(SPIKE_LOG_SCALE_FLOOR))
         * pl.min_horizontal(
             pl.lit(SPIKE_SMALL_SAMPLE_MAX),
             1 + (t.anomaly_z ** 2 + 1) / (4 * pl.max_horizontal(c("active_days") - 1, 1)),
         )).alias("scale"),
        min_rise.alias("min_rise"),
    ).with_columns(((c("observed").log() - c("med_log")) / c("scale")).alias("z"))
    fired = stats.filter(
        c("history_days") >= t.anomaly_min_history_days,
        c("observed") >= t.anomaly_min_ratio * c("median"),
        (c("observed") - c("median")) >= c("min_rise"),
        # A key without spend in its history (new, or newly instrumented) has nothing to
        # be a spike against: a workflow whose token data starts to arrive is not abnormal.
        c("active_days") >= SPIKE_MIN_ACTIVE_DAYS,
        # Far out by the robust score, or far above everything the window saw: a noisy
        # workflow (days from 2M to 10M tokens) has a wide spread, and a 10x runaway day
        # must still count.
        (c("z") > t.anomaly_z) | (c("observed") >= SPIKE_MAX_MULTIPLE * c("history_max")),
    )
    return _spike_rows(fired)


def _spike_rows(fired: pl.DataFrame) -> pl.DataFrame:
    is_cost = c("metric") == "cost_usd"
    label = pl.when(is_cost).then(pl.lit("cost")).otherwise(pl.lit("total tokens"))

    def fmt(x: pl.Expr) -> pl.Expr:
        return pl.when(is_cost).then(_usd(x)).otherwise(_compact(x))

    seen = pl.format(
        "{} {}, {}x the median of {} over the {} active days of its last {} days (robust z {} "
        "on the log scale)",
        label, fmt(c("observed")), _trim(c("observed") / c("median")), fmt(c("median")),
        c("active_days"), c("history_days"), _trim(c("z")))
    return fired.select(
        c("day"), c("scope"), c("key"),
        pl.format("{}_spike", c("metric")).alias("rule"),
        pl.lit("statistical").alias("kind"),
        pl.when(c("observed") >= SPIKE_CRITICAL_RATIO
                * pl.max_horizontal(c("median"), c("min_rise")))
        .then(pl.lit("critical")).otherwise(pl.lit("warning")).alias("severity"),
        c("metric"),
        c("observed"),
        c("median").alias("expected"),
        pl.format(
            "{}: a one-day spike far outside its own history. Check the day's runs for a loop, "
            "a larger context, a model change or a new trigger.",
            seen).alias("message"),
    ).cast(ANOMALIES_SCHEMA)


# --- the table -------------------------------------------------------------------------------

def anomalies(workflow_daily: pl.DataFrame, model_daily: pl.DataFrame, run_daily: pl.DataFrame,
              showback: pl.DataFrame, trends: pl.DataFrame, agent_daily: pl.DataFrame,
              user_daily: pl.DataFrame, session_daily: pl.DataFrame,
              reconciliation: pl.DataFrame, *,
              days: tuple[dt.date, dt.date], config: FileConfig) -> pl.DataFrame:
    """The anomalies of days[0]..days[1] (see the module docstring for every rule).

    Args:
        workflow_daily, model_daily, run_daily, agent_daily, user_daily: kpi_workflow_daily,
            kpi_model_daily, kpi_run_daily, kpi_agent_daily and kpi_user_daily rows of
            days[0] - 30 .. days[1] (the trailing window the statistical history and the
            workflow month-to-date budgets read).
        session_daily: kpi_session_daily rows (at least days[0]..days[1]).
        reconciliation: reconciliation_daily rows (at least days[0]..days[1]).
        showback: showback_daily rows (at least days[0]..days[1]).
        trends: trend_daily rows (at least days[0]..days[1]).
        days: the first and last output day.
        config: finops.yaml; thresholds at config.thresholds, budgets at config.budgets.

    Returns:
        One row per (day, scope, key, rule), columns `ANOMALIES_SCHEMA`, sorted by day,
        severity (critical first), scope, key and rule.
    """
    t = config.thresholds
    in_days = c("day").is_between(*days)
    wf = workflow_daily.filter(in_days)
    parts = [
        *_workflow_rules(wf, t),
        *_run_rules(run_daily.filter(in_days), t),
        _workflow_budgets(workflow_daily, config, days),
        *_showback_rules(showback.filter(in_days), t),
        _spend_rising(trends.filter(in_days), t),
        *_agent_rules(agent_daily.filter(in_days), t),
        *_session_rules(session_daily.filter(in_days), t),
        _billing_rules(reconciliation.filter(in_days), t),
        _spikes(_spike_series(workflow_daily, model_daily, agent_daily, user_daily), days, t),
    ]
    out = pl.concat([p.select(ANOMALIES_COLUMNS) for p in parts], how="vertical")
    rank = c("severity").replace_strict({s: i for i, s in enumerate(SEVERITIES)},
                                        return_dtype=pl.Int8)
    return (out.filter(in_days)
            .unique(subset=["day", "scope", "key", "rule"], keep="first", maintain_order=True)
            .sort(c("day"), rank, c("scope"), c("key"), c("rule")))
