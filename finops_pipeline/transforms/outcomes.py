"""Tasks and outcomes (DESIGN section 6, seed 000): what the tokens bought.

A task is one workflow run with all its attempts; it is completed when its final attempt
concluded `success`; its retries are the attempts beyond the first. A run is linked to the
Copilot coding-agent pull requests of its head branch; the task's PR is accepted when one of
them merged. Pull requests change after their run (merged a week later), so the outcome of a
run of day D is rebuilt while pull-request snapshots of days up to D + OUTCOME_DAYS arrive
(the `run_outcomes` table's `outcome_days`), and each pull request counts in its latest state.

Classification (seed 000, thresholds in finops.yaml):

* tokens > T_high and retries >= R: `prompt_or_context_issue`
* else no accepted outcome and tokens > T_low: `low_quality_spend`
* else `healthy`

"Accepted outcome" is the linked PR merged; a run linked to no pull request (a scheduled
report, a triage bot) has no PR to accept, and its outcome is its own completion, so a
successful run of a non-PR workflow is not called low-quality spend for lack of a PR.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import polars as pl

from finops_pipeline.transforms.teams import team_of

if TYPE_CHECKING:
    from finops_pipeline.config import FileConfig, Thresholds

#: Days after a run during which its pull request's outcome is still followed.
OUTCOME_DAYS = 28
#: Days before a run whose pull-request rows can link to it (the agent opens a PR first).
PR_LOOKBACK_DAYS = 7
CLASSIFICATIONS = ("healthy", "low_quality_spend", "prompt_or_context_issue")
DEFAULT_QUALITY = 1.0

RUN_OUTCOMES_COLUMNS = (
    "day", "repo", "workflow", "team", "run_id", "attempts", "retries", "completed",
    "conclusion", "is_failed", "head_branch", "prs", "pr_number", "pr_state", "accepted_pr",
    "quality", "requests", "total_tokens", "cost_usd", "billed_usd",
    "failed_attempts_cost_usd", "turns", "classification", "url",
)


def classify(tokens: pl.Expr, retries: pl.Expr, accepted: pl.Expr,
             thresholds: Thresholds) -> pl.Expr:
    """The seed-000 classification of a task (or session) as a polars expression."""
    return (
        pl.when((tokens > thresholds.session_tokens_high)
                & (retries >= thresholds.session_retries_high))
        .then(pl.lit("prompt_or_context_issue"))
        .when(~accepted & (tokens > thresholds.session_tokens_low))
        .then(pl.lit("low_quality_spend"))
        .otherwise(pl.lit("healthy"))
    )


def linked_pull_requests(tasks: pl.DataFrame, pulls: pl.DataFrame) -> pl.DataFrame:
    """Per task (repo, run_id, day): its Copilot pull requests (same repo, head branch = the
    run's) and their outcome as of the end of day + OUTCOME_DAYS.

    Only pull-request rows of days day - PR_LOOKBACK_DAYS .. day + OUTCOME_DAYS count (a pull
    request the agent opened before its run changes again when the run pushes), and each
    pull request's state is read from its freshest row's merged_at / closed_at at that
    horizon, so the result depends on the lake alone, not on how the days were loaded. Returns
    prs, pr_number (the newest), pr_state (merged if any merged, open if any still open, else
    rejected).
    """
    c = pl.col
    # The last day whose outcome counts (compared as UTC dates: DuckDB returns Etc/UTC).
    horizon = c("day") + pl.duration(days=OUTCOME_DAYS)
    rows = tasks.select("repo", "run_id", "day", "head_branch").join(
        pulls.filter(c("head_ref").is_not_null()).select(
            "repo", "head_ref", "number", c("day").alias("pr_day"), "updated_at", "merged_at",
            "closed_at"),
        left_on=["repo", "head_branch"], right_on=["repo", "head_ref"], how="inner",
    ).filter(c("pr_day").is_between(c("day") - pl.duration(days=PR_LOOKBACK_DAYS),
                                    c("day") + pl.duration(days=OUTCOME_DAYS)))
    freshest = rows.sort("updated_at", "pr_day", nulls_last=False).unique(
        ["repo", "run_id", "number"], keep="last")
    state = (pl.when(c("merged_at").dt.date() <= horizon).then(pl.lit("merged"))
             .when(c("closed_at").dt.date() <= horizon).then(pl.lit("rejected"))
             .otherwise(pl.lit("open")))
    return freshest.with_columns(state.alias("state")).group_by("repo", "run_id").agg(
        pl.len().cast(pl.Int64).alias("prs"),
        c("number").max().alias("pr_number"),
        pl.when((c("state") == "merged").any()).then(pl.lit("merged"))
        .when((c("state") == "open").any()).then(pl.lit("open"))
        .otherwise(pl.lit("rejected")).alias("pr_state"),
    )


def run_outcomes(run_daily: pl.DataFrame, pulls: pl.DataFrame, *,
                 days: tuple[dt.date, dt.date], config: FileConfig) -> pl.DataFrame:
    """One row per task (day, repo, run_id) of days[0]..days[1]: attempts, completion, the
    linked pull request's current outcome, tokens, cost and the classification.

    `run_daily` holds kpi_run_daily rows (one per attempt) and `pulls` fact_pull_requests
    rows, both of days[0] - PR_LOOKBACK_DAYS .. days[1] + OUTCOME_DAYS. A task's day is its
    first attempt's day; its attempts are its latest run_attempt (GitHub lists a run once).
    """
    c = pl.col
    final = c("run_attempt") == c("run_attempt").max()
    tasks = run_daily.group_by("repo", "run_id").agg(
        c("day").min(),
        c("workflow").sort_by("run_attempt").last(),
        # GitHub lists a run once, as its latest attempt: attempt 3 alone means 3 attempts.
        pl.max_horizontal(pl.len(), c("run_attempt").max()).cast(pl.Int64).alias("attempts"),
        c("conclusion").filter(final).first(),
        c("is_failed").filter(final).first(),
        c("head_branch").sort_by("run_attempt").last(),
        c("requests").sum().cast(pl.Int64),
        c("total_tokens").sum().cast(pl.Int64),
        pl.when(c("cost_usd").is_not_null().any()).then(c("cost_usd").sum()).alias("cost_usd"),
        pl.when(c("billed_usd").is_not_null().any()).then(c("billed_usd").sum())
        .alias("billed_usd"),
        c("cost_usd").filter(c("is_failed")).sum().alias("failed_attempts_cost_usd"),
        c("turns").sum().cast(pl.Int64),
        c("url").filter(final).first(),
    ).filter(c("day").is_between(*days))
    linked = tasks.join(linked_pull_requests(tasks, pulls), on=["repo", "run_id"], how="left")
    t = config.thresholds
    out = linked.with_columns(
        team_of(c("repo"), config.teams).alias("team"),
        (c("attempts") - 1).alias("retries"),
        (c("conclusion") == "success").fill_null(False).alias("completed"),
        c("prs").fill_null(0),
        pl.when(c("prs").is_not_null()).then(c("pr_state") == "merged").alias("accepted_pr"),
        pl.lit(DEFAULT_QUALITY).alias("quality"),
    ).with_columns(
        classify(c("total_tokens"), c("retries"),
                 c("accepted_pr").fill_null(c("completed")), t).alias("classification"),
    )
    return out.select(RUN_OUTCOMES_COLUMNS).sort("day", "repo", "run_id")


WORKFLOW_OUTCOMES_COLUMNS = (
    "day", "repo", "workflow", "team", "tasks", "completed_tasks", "failed_tasks", "retries",
    "prs", "accepted_prs", "total_tokens", "cost_usd", "unpriced_tasks", "wasted_cost_usd",
    *CLASSIFICATIONS,
)


def outcome_sums() -> list[pl.Expr]:
    """Aggregations of run_outcomes rows shared by the outcome tables and showback."""
    c = pl.col
    pr = pl.struct("repo", "pr_number")
    priced = c("cost_usd").is_not_null()
    return [
        pl.len().cast(pl.Int64).alias("tasks"),
        c("completed").sum().cast(pl.Int64).alias("completed_tasks"),
        c("retries").sum().cast(pl.Int64),
        # Distinct pull requests: every run on a PR's branch (each agent iteration, its CI)
        # links to it, and it is one accepted PR however many runs worked on it.
        pr.filter(c("prs") > 0).n_unique().cast(pl.Int64).alias("prs"),
        pr.filter(c("accepted_pr").fill_null(False)).n_unique().cast(pl.Int64)
        .alias("accepted_prs"),
        c("total_tokens").sum().cast(pl.Int64),
        pl.when(priced.any()).then(c("cost_usd").sum()).alias("cost_usd"),
        pl.when(c("billed_usd").is_not_null().any()).then(c("billed_usd").sum())
        .alias("billed_usd"),
        (~priced).sum().cast(pl.Int64).alias("unpriced_tasks"),
        # seed 000: quality-adjusted cost = sum(cost / max(quality, 0.01)); unknown stays null
        pl.when(priced.any()).then(
            (c("cost_usd") / pl.max_horizontal(c("quality"), pl.lit(0.01))).sum())
        .alias("quality_adjusted_cost"),
    ]


def workflow_outcomes_daily(outcomes: pl.DataFrame, *, days: tuple[dt.date, dt.date],
                            config: FileConfig) -> pl.DataFrame:
    """Per (day, repo, workflow): tasks and outcomes, and how many runs each classification
    holds (seed 000's classification counts), with the cost of failed runs."""
    c = pl.col
    out = outcomes.filter(c("day").is_between(*days)).group_by("day", "repo", "workflow").agg(
        c("team").first(),
        *outcome_sums(),
        c("is_failed").fill_null(False).sum().cast(pl.Int64).alias("failed_tasks"),
        c("failed_attempts_cost_usd").fill_null(0.0).sum().alias("wasted_cost_usd"),
        *[(c("classification") == k).sum().cast(pl.Int64).alias(k) for k in CLASSIFICATIONS],
    )
    return out.select(WORKFLOW_OUTCOMES_COLUMNS).sort("day", "repo", "workflow")
