"""Trends: each metric per (day, scope, key) over trailing 7- and 28-day windows (DESIGN 6).

For an output day D:

* `value` is D alone;
* `value_7d` covers D-6..D and `prev_7d` the 7 days before (D-13..D-7);
* `value_28d` covers D-27..D and `prev_28d` the 28 days before (D-55..D-28);
* `change_pct_*` = 100 * (window - prev) / prev, null when prev is 0 or null.

So the inputs must reach back to D-55 for the first output day; the loader hands over
`days[0] - 55 .. days[1]`, and missing days simply count as idle.

Additive metrics (total_tokens, cost_usd, billed_usd, requests, runs) sum over the window with
idle days as 0. `billed_usd` (AI credits x $0.01, what GitHub bills) exists for the org, repo,
team, workflow and model scopes, like cost a day's value is null when no request reported
credits. Rates are recomputed from the window's summed numerator and denominator: the mean of
daily rates would weigh a 10-request day like a 10,000-request one. A rate's `value` is the
day's rate, null on a day without activity.

A null `cost_usd` (every request unpriced) counts as 0 in window sums, but the day's own
`value` stays null: the cost is unknown, not zero. Several rows of one key and day (a repo's
workflows) give a null cost only when all of them are null, like the KPI tables.

A key gets a row on every output day whose 28-day window holds at least one of its input rows,
idle days included, and none once that window is empty.

Scopes and keys: `org` (the repo's owner), `repo` (`owner/name`), `team` (`team_of`),
`workflow` (`owner/name:workflow`), all from `kpi_workflow_daily`; `model`
(`provider:model`) from `kpi_model_daily`; `agent` (agent_name) from `kpi_agent_daily` and
`user` (user_id) from `kpi_user_daily`, the multi-agent apps' calls, where `requests` are calls
and `error_rate` is failed calls over calls. Model, agent and user scopes have no runs, so no
`runs` and no `avg_tokens_per_run`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import polars as pl

from finops_pipeline.config import FileConfig
from finops_pipeline.transforms.teams import team_of

TREND_SCOPES = ("org", "repo", "team", "workflow", "model", "agent", "user")
#: Scopes without GitHub runs: no `runs`, no `avg_tokens_per_run`.
RUNLESS_SCOPES = ("model", "agent", "user")
TREND_METRICS = ("total_tokens", "cost_usd", "billed_usd", "requests", "runs",
                 "cache_hit_rate", "io_ratio", "error_rate", "avg_tokens_per_run")
# Metrics that need runs, which the model scope does not have.
_RUN_METRICS = ("runs", "avg_tokens_per_run")
# What GitHub bills (AI credits x $0.01) is known for requests, not for agent calls.
_BILLED_SCOPES = ("org", "repo", "team", "workflow", "model")

TREND_DAILY_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(), "scope": pl.String(), "key": pl.String(), "metric": pl.String(),
    **{name: pl.Float64() for name in (
        "value", "value_7d", "prev_7d", "change_pct_7d", "value_28d", "prev_28d",
        "change_pct_28d",
    )},
}

# Integer sums per (day, scope, key): every metric is one of them or a ratio of two. `rows`
# counts input rows, i.e. activity; `cost_days` counts days with a non-zero cost (below).
_INT_SUMS = ("rows", "runs", "instrumented_runs", "requests", "error_requests", "input_tokens",
             "output_tokens", "cache_read_tokens", "prompt_tokens", "total_tokens", "cost_days",
             "billed_days")
_SUMS = (*_INT_SUMS, "cost", "billed")
# Window name -> (lag of its last day, length in days).
_WINDOWS = {"value_7d": (0, 7), "prev_7d": (7, 7), "value_28d": (0, 28), "prev_28d": (28, 28)}
_LOOKBACK = 55  # the first output day needs D-55 for prev_28d
_GROUP = ("scope", "key")


def _day_sums(frame: pl.DataFrame, scope: str, key: pl.Expr, *, has_runs: bool) -> pl.LazyFrame:
    c = pl.col
    runs = [c("runs").sum(), c("instrumented_runs").sum()] if has_runs else [
        pl.lit(0).alias("runs"), pl.lit(0).alias("instrumented_runs")]
    return (
        frame.lazy()
        .group_by(c("day"), key.alias("key"))
        .agg(
            pl.len().alias("rows"),
            *runs,
            *[c(name).sum() for name in ("requests", "error_requests", "input_tokens",
                                         "output_tokens", "cache_read_tokens",
                                         "prompt_tokens", "total_tokens")],
            # The day's cost: unknown only when every row's is; window sums take it as 0.
            pl.when(c("cost_usd").is_not_null().any()).then(c("cost_usd").sum())
            .alias("cost_day"),
            c("cost_usd").fill_null(0.0).sum().alias("cost"),
            # Billed like cost: the day's value unknown when no request reported credits.
            *([pl.when(c("billed_usd").is_not_null().any()).then(c("billed_usd").sum())
               .alias("billed_day"), c("billed_usd").fill_null(0.0).sum().alias("billed")]
              if "billed_usd" in frame.columns else
              [pl.lit(None, pl.Float64).alias("billed_day"), pl.lit(0.0).alias("billed")]),
        )
        .with_columns(pl.lit(scope).alias("scope"))
    )


def _safe_div(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    return pl.when(den > 0).then(num.cast(pl.Float64) / den)


def _col(name: str) -> Callable[[str], pl.Expr]:
    return lambda suffix: pl.col(f"{name}{suffix}")


# metric -> (numerator, denominator or None for additive), as functions of a column suffix
# ("" for the day, "__value_7d" etc. for a window).
_DEFINITIONS: dict[str, tuple[Callable[[str], pl.Expr], Callable[[str], pl.Expr] | None]] = {
    "total_tokens": (_col("total_tokens"), None),
    "cost_usd": (_col("cost"), None),
    "billed_usd": (_col("billed"), None),
    "requests": (_col("requests"), None),
    "runs": (_col("runs"), None),
    "cache_hit_rate": (_col("cache_read_tokens"),
                       lambda s: pl.col(f"cache_read_tokens{s}") + pl.col(f"input_tokens{s}")),
    "io_ratio": (_col("prompt_tokens"), _col("output_tokens")),
    "error_rate": (_col("error_requests"), _col("requests")),
    "avg_tokens_per_run": (_col("total_tokens"), _col("instrumented_runs")),
}


def _metric(name: str) -> dict[str, pl.Expr]:
    """The output values of one metric (column name -> expression) on the wide grid."""
    num, den = _DEFINITIONS[name]

    def at(suffix: str) -> pl.Expr:
        return num(suffix).cast(pl.Float64) if den is None else _safe_div(num(suffix), den(suffix))

    # The day's own cost keeps its null (unknown); the windows use the 0-filled sums.
    value = {"cost_usd": pl.col("cost_day"), "billed_usd": pl.col("billed_day")}.get(
        name, at(""))
    w = {window: at(f"__{window}") for window in _WINDOWS}
    return {
        "value": value.cast(pl.Float64),
        "value_7d": w["value_7d"], "prev_7d": w["prev_7d"],
        "change_pct_7d": _change_pct(w["value_7d"], w["prev_7d"]),
        "value_28d": w["value_28d"], "prev_28d": w["prev_28d"],
        "change_pct_28d": _change_pct(w["value_28d"], w["prev_28d"]),
    }


def _change_pct(current: pl.Expr, prev: pl.Expr) -> pl.Expr:
    return pl.when(prev != 0).then(100.0 * (current - prev) / prev)


def _window_sum(name: str, lag: int, length: int) -> pl.Expr:
    # On a dense calendar (one row per key and day, sorted by day) the sum of days
    # D-lag-length+1..D-lag is a difference of cumulative sums; before the calendar's start
    # the cumulative sum is 0.
    cs = pl.col(name).cum_sum()
    return (cs.shift(lag, fill_value=0) - cs.shift(lag + length, fill_value=0)).over(_GROUP)


def _calls_as_requests(frame: pl.DataFrame) -> pl.DataFrame:
    """Agent-call KPI rows in the request KPIs' terms: a call is a request."""
    return frame.with_columns(pl.col("calls").alias("requests"),
                              pl.col("failed_calls").alias("error_requests"))


def trend_daily(workflow_daily: pl.DataFrame, model_daily: pl.DataFrame,
                agent_daily: pl.DataFrame, user_daily: pl.DataFrame, *,
                days: tuple[dt.date, dt.date], config: FileConfig) -> pl.DataFrame:
    """Rows of `trend_daily` for `days` (first, last), from KPI rows of
    `days[0] - 55 .. days[1]`.

    Args:
        workflow_daily: kpi_workflow_daily rows (org, repo, team and workflow scopes).
        model_daily: kpi_model_daily rows (model scope).
        agent_daily: kpi_agent_daily rows (agent scope).
        user_daily: kpi_user_daily rows (user scope).
        days: the first and last day to return.
        config: finops.yaml; its `teams` map repos to teams.

    Returns:
        One row per (day, scope, key, metric), columns `TREND_DAILY_SCHEMA`, sorted by them.
    """
    first, last = days
    if first > last:
        return pl.DataFrame(schema=TREND_DAILY_SCHEMA)
    start = first - dt.timedelta(days=_LOOKBACK)
    c = pl.col
    in_range = c("day").is_between(start, last)
    workflows = workflow_daily.filter(in_range)
    models = model_daily.filter(in_range)
    agents = _calls_as_requests(agent_daily.filter(in_range))
    users = _calls_as_requests(user_daily.filter(in_range))
    repo = c("repo")
    sums = pl.concat([
        _day_sums(workflows, "org", repo.str.split("/").list.first(), has_runs=True),
        _day_sums(workflows, "repo", repo, has_runs=True),
        _day_sums(workflows, "team", team_of(repo, config.teams), has_runs=True),
        _day_sums(workflows, "workflow", pl.concat_str(repo, c("workflow"), separator=":"),
                  has_runs=True),
        _day_sums(models, "model", pl.concat_str(c("provider"), c("model"), separator=":"),
                  has_runs=False),
        _day_sums(agents, "agent", c("agent_name"), has_runs=False),
        _day_sums(users, "user", c("user_id"), has_runs=False),
    ], how="diagonal_relaxed").with_columns(
        *[c(name).cast(pl.Int64) for name in _INT_SUMS if not name.endswith("_days")],
        (c("cost") != 0).cast(pl.Int64).alias("cost_days"),
        (c("billed") != 0).cast(pl.Int64).alias("billed_days"),
    ).collect().lazy()  # read twice below (keys, values); small next to the dense grid

    calendar = pl.LazyFrame({"day": pl.date_range(start, last, "1d", eager=True)})
    keys = sums.select(*_GROUP).unique()
    # Idle days become explicit zero rows so every window is a fixed number of rows.
    grid = (
        keys.join(calendar, how="cross")
        .join(sums, on=["day", *_GROUP], how="left", nulls_equal=True)
        .with_columns(
            # A day without rows spent nothing: its cost is 0, not unknown.
            pl.when(c("rows").is_null()).then(0.0).otherwise(c("cost_day")).alias("cost_day"),
            pl.when(c("rows").is_null()).then(0.0).otherwise(c("billed_day"))
            .alias("billed_day"),
            *[c(name).fill_null(0) for name in _INT_SUMS],
            c("cost").fill_null(0.0), c("billed").fill_null(0.0),
        )
        .sort(*_GROUP, "day")
        .with_columns(
            _window_sum(name, lag, length).alias(f"{name}__{window}")
            for name in _SUMS for window, (lag, length) in _WINDOWS.items()
        )
        .with_columns(
            # Float cumulative sums leave rounding residue; a window with no costed day is 0.
            pl.when(c(f"{name}_days__{w}") > 0).then(c(f"{name}__{w}")).otherwise(0.0)
            .alias(f"{name}__{w}")
            for w in _WINDOWS for name in ("cost", "billed")
        )
        .filter(c("day").is_between(first, last), c("rows__value_28d") > 0)
    )
    # Wide to long, one select per metric. Sorting the long frame by its strings would dominate
    # the run time: sort the (8x shorter) wide grid instead, then order the long rows by one
    # integer made of the grid row and the metric's rank by name.
    grid = (grid.sort("day", *_GROUP).with_row_index("_row")
            .with_columns(c("_row").cast(pl.Int64)))
    out = pl.concat([
        (grid.filter(~c("scope").is_in(RUNLESS_SCOPES)) if m in _RUN_METRICS
         else grid.filter(c("scope").is_in(_BILLED_SCOPES)) if m == "billed_usd" else grid)
        .select("day", *_GROUP, pl.lit(m).alias("metric"),
                (c("_row") * len(TREND_METRICS) + rank).alias("_order"),
                **_metric(m))
        for rank, m in enumerate(sorted(TREND_METRICS))
    ])
    return out.sort("_order").drop("_order").collect().cast(TREND_DAILY_SCHEMA)
