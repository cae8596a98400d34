"""Budgets of finops.yaml as daily amounts: a monthly budget is prorated over its month's days.

`budgets: [{scope: team, key: platform, period: month, usd: 500}]`: on 2026-02-10 that is
500 / 28 = 17.857 USD for the day and 178.57 USD for the month to date (10 days). Key `*`
gives every key of the scope without a budget of its own that amount; scope `total` is the
whole estate (its key is ignored). Several budgets for one key add up.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from finops_pipeline.config import Budget

BUDGET_SCOPES = ("team", "repo", "workflow", "total")


def days_in_month(day: pl.Expr) -> pl.Expr:
    return day.dt.month_end().dt.day().cast(pl.Float64)


def _budget_rows(budgets: Sequence[Budget], scope: str) -> pl.DataFrame:
    rows = [{"key": "*" if b.scope == "total" else b.key, "period": b.period, "usd": b.usd}
            for b in budgets if b.scope == scope]
    return pl.DataFrame(rows, schema={"key": pl.String, "period": pl.String,
                                      "usd": pl.Float64})


def with_budgets(frame: pl.DataFrame, key: str | None, budgets: Sequence[Budget],
                 scope: str) -> pl.DataFrame:
    """`frame` (with a `day` column, and the key column `key` unless scope is total) gains
    `budget_usd` (that day's share) and `mtd_budget_usd` (month to date, through the day);
    null where no budget applies."""
    if scope not in BUDGET_SCOPES:
        raise ValueError(f"unknown budget scope {scope!r}")
    rows = _budget_rows(budgets, scope)
    c = pl.col
    per_day = pl.when(c("period") == "month").then(c("usd") / days_in_month(c("day"))) \
        .otherwise(c("usd"))
    own = rows.filter(c("key") != "*").group_by("key", "period").agg(c("usd").sum())
    default = rows.filter(c("key") == "*").group_by("period").agg(c("usd").sum())
    keyed = frame.select("day", *([key] if key else [])).unique()
    if key:
        matched = keyed.join(own, left_on=key, right_on="key", how="inner")
        has_own = matched.select(key).unique()
        fallback = keyed.join(has_own, on=key, how="anti").join(default, how="cross")
        matched = pl.concat([matched.drop("key", strict=False), fallback], how="diagonal")
    else:
        matched = keyed.join(default, how="cross")
    per_key = matched.with_columns(per_day.alias("budget_usd")).with_columns(
        (c("budget_usd") * c("day").dt.day()).alias("mtd_budget_usd"),
    ).group_by("day", *([key] if key else [])).agg(c("budget_usd", "mtd_budget_usd").sum())
    return frame.join(per_key, on=["day", *([key] if key else [])], how="left")
