"""Showback by team and repo (seed 000's governance table, DESIGN section 6).

Rows of three levels per day: each (team, repo) (`level = 'repo'`), each team (`repo = '*'`)
and the whole estate (`team = repo = '*'`). Sum one level only; the others are subtotals.
Ratios are recomputed at each level from its sums:

* tokens_per_completed_task = total_tokens / max(completed_tasks, 1)
* tokens_per_accepted_pr = total_tokens / max(accepted_prs, 1)
* retry_rate = retries / max(tasks, 1)
* quality_adjusted_cost = sum over tasks of cost / max(quality, 0.01)
* efficiency_score = 0.5 * max(0, 100 - tokens_per_completed_task / S)
  + 0.2 * max(0, 100 - 100 * retry_rate) + 0.3 * max(0, 100 - C * quality_adjusted_cost)
* budget_usd: the day's share of the budgets of the row's repo (level repo), team (level
  team) or estate (scope total); variance_usd = cost_usd - budget_usd (over budget > 0);
  mtd_* the same from the first of the month through the day.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import polars as pl

from finops_pipeline.transforms.budgets import with_budgets
from finops_pipeline.transforms.outcomes import outcome_sums

if TYPE_CHECKING:
    from finops_pipeline.config import FileConfig, Thresholds

#: Days one showback row reads: its month to date.
SHOWBACK_WINDOW_DAYS = 31
ALL = "*"
SHOWBACK_COLUMNS = (
    "day", "level", "team", "repo", "total_tokens", "cost_usd", "billed_usd",
    "unpriced_tasks", "tasks",
    "completed_tasks",
    "accepted_prs", "prs", "retries", "tokens_per_completed_task", "tokens_per_accepted_pr",
    "retry_rate", "quality_adjusted_cost", "efficiency_score", "budget_usd", "variance_usd",
    "mtd_cost_usd", "mtd_budget_usd", "mtd_variance_usd",
)


def efficiency_score(tokens_per_task: pl.Expr, retry_rate: pl.Expr,
                     quality_adjusted_cost: pl.Expr, thresholds: Thresholds) -> pl.Expr:
    """Seed 000's weighted index, S and C from finops.yaml (efficiency_tokens_scale and
    efficiency_cost_scale)."""
    zero = pl.lit(0.0)
    s, cost_scale = thresholds.efficiency_tokens_scale, thresholds.efficiency_cost_scale
    return (
        0.5 * pl.max_horizontal(zero, 100 - tokens_per_task / s)
        + 0.2 * pl.max_horizontal(zero, 100 - retry_rate * 100)
        + 0.3 * pl.max_horizontal(zero, 100 - quality_adjusted_cost * cost_scale)
    )


def showback_kpis(sums: pl.DataFrame, thresholds: Thresholds) -> pl.DataFrame:
    """The seed-000 ratios and score of frames of outcome sums."""
    c = pl.col
    return sums.with_columns(
        (c("total_tokens") / pl.max_horizontal(c("completed_tasks"), 1))
        .alias("tokens_per_completed_task"),
        (c("total_tokens") / pl.max_horizontal(c("accepted_prs"), 1))
        .alias("tokens_per_accepted_pr"),
        (c("retries") / pl.max_horizontal(c("tasks"), 1)).alias("retry_rate"),
    ).with_columns(
        efficiency_score(c("tokens_per_completed_task"), c("retry_rate"),
                         c("quality_adjusted_cost"), thresholds).alias("efficiency_score"),
    )


def _month_to_date(keys: list[str]) -> pl.Expr:
    """Month-to-date cost through each row's day, per key (rows exist on active days only,
    and an idle day adds nothing)."""
    c = pl.col
    return (c("cost_usd").fill_null(0.0).cum_sum()
            .over([*keys, c("day").dt.month_start()], order_by="day").alias("mtd_cost_usd"))


def showback_daily(outcomes: pl.DataFrame, *, days: tuple[dt.date, dt.date],
                   config: FileConfig) -> pl.DataFrame:
    """Showback rows of days[0]..days[1] from run_outcomes rows of the month(s) before."""
    c = pl.col
    t = config.thresholds
    levels = []
    for level, keys, budget_scope, budget_key in (
        ("repo", ["team", "repo"], "repo", "repo"),
        ("team", ["team"], "team", "team"),
        ("total", [], "total", None),
    ):
        sums = outcomes.group_by("day", *keys).agg(outcome_sums())
        sums = sums.with_columns(_month_to_date(keys))
        sums = with_budgets(sums, budget_key, config.budgets, budget_scope)
        levels.append(sums.with_columns(
            pl.lit(level).alias("level"),
            *[pl.lit(ALL).alias(k) for k in ("team", "repo") if k not in keys],
        ))
    out = pl.concat(levels, how="diagonal_relaxed").filter(c("day").is_between(*days))
    out = showback_kpis(out, t).with_columns(
        (c("cost_usd") - c("budget_usd")).alias("variance_usd"),
        (c("mtd_cost_usd") - c("mtd_budget_usd")).alias("mtd_variance_usd"),
    )
    level_rank = c("level").replace_strict({"repo": 0, "team": 1, "total": 2},
                                           return_dtype=pl.Int8)
    return out.sort("day", level_rank, "team", "repo").select(SHOWBACK_COLUMNS)
