"""anomalies(): every rule fires on a crafted case and stays quiet on a normal one; the
statistical detector finds planted spikes and stays quiet on realistic noise."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import polars as pl
import pytest

from finops_pipeline.config import Budget, FileConfig, Thresholds
from finops_pipeline.schemas.datasets import LAKE_DATASETS
from finops_pipeline.transforms.agent_kpis import (
    kpi_agent_daily,
    kpi_session_daily,
    kpi_user_daily,
)
from finops_pipeline.transforms.anomalies import ANOMALIES_SCHEMA, anomalies
from finops_pipeline.transforms.kpis import kpi_model_daily, kpi_run_daily, kpi_workflow_daily
from finops_pipeline.transforms.reconciliation import RECONCILIATION_SCHEMA

_RUNS = LAKE_DATASETS["workflow_runs"].empty()
_REQUESTS = LAKE_DATASETS["llm_requests"].empty()
WF_SCHEMA = kpi_workflow_daily(_RUNS, _REQUESTS).schema
MODEL_SCHEMA = kpi_model_daily(_REQUESTS).schema
RUN_SCHEMA = kpi_run_daily(_RUNS, _REQUESTS).schema
SHOWBACK_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(), "level": pl.String(), "team": pl.String(), "repo": pl.String(),
    "total_tokens": pl.Int64(), "cost_usd": pl.Float64(), "tasks": pl.Int64(),
    "completed_tasks": pl.Int64(), "accepted_prs": pl.Int64(), "retries": pl.Int64(),
    "prs": pl.Int64(),
    **{k: pl.Float64() for k in (
        "tokens_per_completed_task", "tokens_per_accepted_pr", "retry_rate",
        "quality_adjusted_cost", "efficiency_score", "budget_usd", "variance_usd",
        "mtd_cost_usd", "mtd_budget_usd", "mtd_variance_usd")},
}
TREND_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(), "scope": pl.String(), "key": pl.String(), "metric": pl.String(),
    **{k: pl.Float64() for k in ("value", "value_7d", "prev_7d", "change_pct_7d", "value_28d",
                                  "prev_28d", "change_pct_28d")},
}

_CALLS = LAKE_DATASETS["agent_calls"].empty()
AGENT_SCHEMA = kpi_agent_daily(_CALLS).schema
USER_SCHEMA = kpi_user_daily(_CALLS).schema
SESSION_SCHEMA = kpi_session_daily(_CALLS, LAKE_DATASETS["workflow_executions"].empty(),
                                   config=FileConfig()).schema

DAY = dt.date(2026, 3, 10)
DAYS = (DAY, DAY)
REPO, WORKFLOW = "octo/app", "daily-report"
WF_KEY = f"{REPO}:{WORKFLOW}"


def frame(schema: Any, rows: list[dict[str, Any]]) -> pl.DataFrame:
    schema = dict(schema)
    return pl.DataFrame([{k: r.get(k) for k in schema} for r in rows], schema=schema)


def wf_row(**over: Any) -> dict[str, Any]:
    """A healthy workflow day: 2 runs, 105k tokens, half of the prompt from the cache."""
    row = dict(
        day=DAY, repo=REPO, workflow=WORKFLOW, runs=2, run_attempts=2, instrumented_runs=2,
        failed_runs=0, requests=20, error_requests=0, input_tokens=50_000,
        output_tokens=5_000, cache_read_tokens=50_000, cache_write_tokens=0,
        prompt_tokens=100_000, total_tokens=105_000, cost_usd=0.5, unpriced_requests=0,
        cache_hit_rate=0.5, io_ratio=20.0, error_rate=0.0, avg_requests_per_run=10.0,
        avg_tokens_per_run=52_500.0, avg_cost_per_run=0.25, turns=10, avg_turns_per_run=5.0,
        models=1, top_model="claude-sonnet-4",
    )
    row.update(over)
    return row


def run_row(**over: Any) -> dict[str, Any]:
    row = dict(
        day=DAY, repo=REPO, workflow=WORKFLOW, run_id=100, run_attempt=1,
        conclusion="success", is_failed=False, has_token_data=True, turns=5, requests=10,
        error_requests=0, total_tokens=52_500, cost_usd=0.25, small_requests=2,
        small_requests_cost_usd=0.01, top_model="claude-sonnet-4",
    )
    row.update(over)
    return row


def showback_row(**over: Any) -> dict[str, Any]:
    row = dict(
        day=DAY, level="repo", team="octo", repo=REPO, total_tokens=105_000, cost_usd=0.5,
        tasks=2, completed_tasks=2, accepted_prs=1, retries=0, prs=1,
        tokens_per_completed_task=52_500.0, tokens_per_accepted_pr=105_000.0,
        retry_rate=0.0, quality_adjusted_cost=0.5, efficiency_score=80.0,
    )
    row.update(over)
    return row


def trend_row(**over: Any) -> dict[str, Any]:
    row = dict(day=DAY, scope="workflow", key=WF_KEY, metric="cost_usd", value=0.5,
               value_7d=3.5, prev_7d=3.4, change_pct_7d=100 * 0.1 / 3.4)
    row.update(over)
    return row


def run(workflow=(), model=(), runs=(), showback=(), trends=(), agents=(), users=(),
        sessions=(), reconciliation=(), *, days=DAYS,
        config: FileConfig | None = None) -> pl.DataFrame:
    return anomalies(
        frame(WF_SCHEMA, list(workflow)), frame(MODEL_SCHEMA, list(model)),
        frame(RUN_SCHEMA, list(runs)), frame(SHOWBACK_SCHEMA, list(showback)),
        frame(TREND_SCHEMA, list(trends)), frame(AGENT_SCHEMA, list(agents)),
        frame(USER_SCHEMA, list(users)), frame(SESSION_SCHEMA, list(sessions)),
        frame(RECONCILIATION_SCHEMA, list(reconciliation)),
        days=days, config=config or FileConfig(),
    )


def one(out: pl.DataFrame, rule: str) -> dict[str, Any]:
    rows = out.filter(pl.col("rule") == rule).to_dicts()
    assert len(rows) == 1, out
    return rows[0]


# --- the normal day and the empty one --------------------------------------------------------

def test_empty_inputs_give_the_empty_schema():
    out = run()
    assert out.is_empty()
    assert out.schema == pl.Schema(ANOMALIES_SCHEMA)


def test_a_healthy_day_raises_nothing():
    out = run(
        [wf_row()],
        runs=[run_row(), run_row(run_id=101)],
        showback=[showback_row(), showback_row(level="team", repo="*"),
                  showback_row(level="total", team="*", repo="*")],
        trends=[trend_row(), trend_row(scope="repo", key=REPO)],
    )
    assert out.is_empty(), out


# --- workflow rules --------------------------------------------------------------------------

@pytest.mark.parametrize(("over", "rule", "metric", "observed", "expected", "severity"), [
    (dict(cache_hit_rate=0.0, cache_read_tokens=0, input_tokens=2_300_000,
          prompt_tokens=2_300_000, total_tokens=2_305_000),
     "zero_cache_hits", "cache_hit_rate", 0.0, 0.0, "warning"),
    (dict(io_ratio=150.0), "io_ratio_high", "io_ratio", 150.0, 100.0, "warning"),
    (dict(io_ratio=250.0), "io_ratio_high", "io_ratio", 250.0, 100.0, "critical"),
    (dict(total_tokens=6_000_000), "high_total_tokens", "total_tokens", 6e6, 5e6, "warning"),
    (dict(avg_tokens_per_run=250_000.0), "tokens_per_run_high", "avg_tokens_per_run",
     250_000.0, 100_000.0, "critical"),
    (dict(avg_cost_per_run=1.5), "cost_per_run_high", "avg_cost_per_run", 1.5, 1.0,
     "warning"),
    (dict(avg_turns_per_run=40.0), "turns_per_run_high", "avg_turns_per_run", 40.0, 15.0,
     "critical"),
    (dict(error_requests=8, error_rate=0.4), "error_rate_high", "error_rate", 0.4, 0.3,
     "warning"),
])
def test_workflow_rule_fires(over, rule, metric, observed, expected, severity):
    out = run([wf_row(**over)])
    row = one(out, rule)
    assert row == row | dict(day=DAY, scope="workflow", key=WF_KEY, kind="rule",
                             metric=metric, severity=severity)
    assert row["observed"] == pytest.approx(observed)
    assert row["expected"] == pytest.approx(expected)
    assert row["message"].endswith(".")


@pytest.mark.parametrize("over", [
    dict(cache_hit_rate=0.0, cache_read_tokens=0, prompt_tokens=90_000),  # too few to matter
    dict(cache_hit_rate=None, prompt_tokens=0, input_tokens=0),
    dict(io_ratio=100.0),
    dict(total_tokens=5_000_000),
    dict(avg_tokens_per_run=None, instrumented_runs=0),
    dict(avg_cost_per_run=None, cost_usd=None),  # unpriced: no claim either way
    dict(avg_turns_per_run=15.0),
    dict(requests=0, error_requests=0, error_rate=None),
    dict(error_rate=0.3),
])
def test_workflow_rule_quiet_at_or_below_threshold(over):
    assert run([wf_row(**over)]).is_empty()


def test_zero_cache_hits_message_is_readable():
    out = run([wf_row(cache_hit_rate=0.0, cache_read_tokens=0, prompt_tokens=2_300_000)])
    assert one(out, "zero_cache_hits")["message"] == (
        "cache hit rate 0% on 2.3M prompt tokens; expected above 0%: every request pays full "
        "price for a repeated prompt. Enable prompt caching (stable system prompt and tool "
        "list first).")


def test_thresholds_come_from_the_config():
    config = FileConfig(thresholds=Thresholds(io_ratio_max=10))
    row = one(run([wf_row()], config=config), "io_ratio_high")
    assert (row["observed"], row["expected"], row["severity"]) == (20.0, 10.0, "critical")


# --- run rules -------------------------------------------------------------------------------

def test_many_small_requests_is_one_row_per_workflow_day():
    runs = [run_row(run_id=1, small_requests=12, small_requests_cost_usd=0.12),
            run_row(run_id=2, small_requests=25, small_requests_cost_usd=0.30),
            run_row(run_id=3, small_requests=3)]
    row = one(run(runs=runs), "many_small_requests")
    assert row["scope"] == "workflow" and row["key"] == WF_KEY
    assert (row["observed"], row["expected"], row["severity"]) == (25.0, 10.0, "critical")
    assert row["message"].startswith(
        "2 of 3 run attempts made more than 10 requests with fewer than 50 output tokens "
        "(up to 25, in run 2 attempt 1; $0.42 spent on them)")
    quiet = run(runs=[run_row(small_requests=10), run_row(run_id=2, small_requests=0)])
    assert quiet.is_empty()
    warn = one(run(runs=[run_row(small_requests=11)]), "many_small_requests")
    assert warn["severity"] == "warning"


def test_failed_runs_cost_counts_every_failed_attempt():
    runs = [run_row(run_id=1, run_attempt=1, conclusion="failure", is_failed=True,
                    cost_usd=0.75),
            run_row(run_id=1, run_attempt=2, conclusion="success"),
            run_row(run_id=2, conclusion="failure", is_failed=True, cost_usd=1.5)]
    row = one(run(runs=runs), "failed_runs_cost")
    assert row["metric"] == "cost_usd"
    assert row["observed"] == pytest.approx(2.25)
    assert (row["expected"], row["severity"]) == (0.0, "critical")  # >= 2 x cost_per_run_max
    assert row["message"].startswith("2 failed run attempts (2 runs) cost $2.25")
    small = one(run(runs=[run_row(is_failed=True, conclusion="failure", cost_usd=0.2)]),
                "failed_runs_cost")
    assert small["severity"] == "warning"
    # A failure that spent nothing (no token data) wastes nothing.
    assert run(runs=[run_row(is_failed=True, conclusion="failure", cost_usd=0.0)]).is_empty()


# --- trends, budgets and showback ------------------------------------------------------------

def test_spend_rising_from_trends():
    trends = [
        trend_row(value_7d=20.0, prev_7d=10.0, change_pct_7d=100.0),  # doubled: critical
        trend_row(scope="team", key="octo", value_7d=13.0, prev_7d=10.0, change_pct_7d=30.0),
        trend_row(scope="org", key="octo", value_7d=1.3, prev_7d=1.0, change_pct_7d=30.0),
        trend_row(scope="repo", key=REPO, value_7d=12.0, prev_7d=10.0, change_pct_7d=20.0),
        trend_row(scope="model", key="anthropic:claude", value_7d=20.0, prev_7d=10.0,
                  change_pct_7d=100.0),
        trend_row(scope="workflow", key="octo/x:y", metric="total_tokens", value_7d=9e6,
                  prev_7d=1e6, change_pct_7d=800.0),
        trend_row(scope="workflow", key="octo/x:z", value_7d=5.0, prev_7d=0.0,
                  change_pct_7d=None),
    ]
    out = run(trends=trends)
    assert out.select("scope", "key", "severity").rows() == [
        ("workflow", WF_KEY, "critical"), ("team", "octo", "warning")]
    row = one(out.filter(pl.col("scope") == "team"), "spend_rising")
    assert (row["metric"], row["observed"], row["expected"]) == ("cost_usd", 13.0, 10.0)
    assert row["message"].startswith(
        "spend over the last 7 days $13.00 against $10.00 the 7 days before (+30%)")


def test_budget_overrun_from_showback_levels():
    over = dict(mtd_cost_usd=120.0, mtd_budget_usd=100.0)
    showback = [
        showback_row(**over),
        showback_row(level="team", repo="*", **over),
        showback_row(level="total", team="*", repo="*", **over),
        showback_row(repo="octo/ok", mtd_cost_usd=90.0, mtd_budget_usd=100.0),
        showback_row(repo="octo/free", mtd_cost_usd=500.0),  # no budget
    ]
    out = run(showback=showback).filter(pl.col("rule") == "budget_overrun")
    assert sorted(out.select("scope", "key").rows()) == [
        ("repo", REPO), ("team", "octo"), ("total", "*")]
    assert set(out["severity"]) == {"critical"}
    row = out.row(0, named=True)
    assert (row["observed"], row["expected"], row["metric"]) == (120.0, 100.0, "mtd_cost_usd")
    assert row["message"].startswith(
        "month-to-date cost $120.00 against a month-to-date budget of $100.00 ($20.00 over, "
        "+20%)")


def test_workflow_budget_overrun_month_to_date():
    # $31 a month in March is $1 a day; the workflow spends $1.50 on every other day.
    config = FileConfig(budgets=[Budget(scope="workflow", key=WF_KEY, usd=31)])
    first = dt.date(2026, 3, 1)
    spent = [wf_row(day=first + dt.timedelta(d), cost_usd=1.5) for d in range(0, 20, 2)]
    # A February day is not in March's month to date.
    spent.append(wf_row(day=dt.date(2026, 2, 28), cost_usd=100.0))
    spent.append(wf_row(workflow="other", cost_usd=50.0))  # no budget of its own
    out = run(spent, days=(dt.date(2026, 3, 1), dt.date(2026, 3, 19)), config=config)
    assert set(out["rule"]) == {"budget_overrun"}
    # March 1: 1.5 > 1; March 3: 3.0 > 3 is false; March 5: 4.5 < 5 ...
    assert out.select("day", "observed", "expected").rows() == [(first, 1.5, 1.0)]
    heavy = [wf_row(day=first + dt.timedelta(d), cost_usd=2.0) for d in range(10)]
    out = run(heavy, days=(dt.date(2026, 3, 9), dt.date(2026, 3, 10)), config=config)
    assert out.select("day", "scope", "key", "observed", "expected").rows() == [
        (dt.date(2026, 3, 9), "workflow", WF_KEY, 18.0, 9.0),
        (dt.date(2026, 3, 10), "workflow", WF_KEY, 20.0, 10.0)]


def test_showback_flags_of_seed_000():
    showback = [
        showback_row(repo="octo/tok", tokens_per_completed_task=250_000.0),
        showback_row(repo="octo/retry", retry_rate=0.4, retries=4, tasks=10),
        showback_row(repo="octo/prs", accepted_prs=0, prs=3),
        showback_row(repo="octo/noprs", accepted_prs=0, prs=0),
        # Team rows do not repeat the repo flags.
        showback_row(level="team", repo="*", retry_rate=0.9, accepted_prs=0, prs=3),
    ]
    out = run(showback=showback)
    assert out.select("scope", "key", "rule", "severity").rows() == [
        ("repo", "octo/tok", "tokens_per_task_high", "critical"),
        ("repo", "octo/retry", "retry_rate_high", "warning"),
        ("repo", "octo/prs", "no_accepted_prs", "info"),
    ]
    row = one(out, "no_accepted_prs")
    assert (row["metric"], row["observed"], row["expected"]) == ("accepted_prs", 0.0, 1.0)
    assert one(out, "retry_rate_high")["message"].startswith(
        "retry rate 40% (4 retries over 10 tasks); expected at most 25%")


# --- statistical spikes ----------------------------------------------------------------------

START = dt.date(2026, 1, 1)


def noise_days(rng: random.Random, *, base: float, sigma: float, n: int = 60,
               zero_share: float = 0.07) -> list[float]:
    """Daily totals of lognormal noise around `base`, with a few idle (zero) days."""
    return [0.0 if rng.random() < zero_share else base * rng.lognormvariate(0, sigma)
            for _ in range(n)]


def series_rows(values: list[float], *, repo: str = REPO, workflow: str = WORKFLOW,
                start: dt.date = START, usd_per_token: float = 3e-6) -> list[dict[str, Any]]:
    """Workflow-day rows of a series (an idle day has no row)."""
    return [wf_row(day=start + dt.timedelta(d), repo=repo, workflow=workflow,
                   total_tokens=int(v), cost_usd=v * usd_per_token)
            for d, v in enumerate(values) if v > 0]


def spikes(out: pl.DataFrame) -> pl.DataFrame:
    return out.filter(pl.col("kind") == "statistical")


def last_30_days(n: int = 60) -> tuple[dt.date, dt.date]:
    return START + dt.timedelta(n - 30), START + dt.timedelta(n - 1)


@pytest.mark.parametrize("seed", range(4))
def test_planted_spike_is_found_on_its_day(seed):
    base, spike_day = 2e6, 45
    values = noise_days(random.Random(seed), base=base, sigma=0.3)
    values[spike_day] = 5 * base
    out = run(series_rows(values), days=last_30_days())
    found = spikes(out)
    assert set(found["day"]) == {START + dt.timedelta(spike_day)}, found
    assert {("workflow", WF_KEY), ("repo", REPO)} <= set(found.select("scope", "key").rows())
    row = one(found.filter(pl.col("scope") == "workflow"), "total_tokens_spike")
    assert row["metric"] == "total_tokens" and row["observed"] == 5 * base
    assert row["expected"] == pytest.approx(base, rel=0.25)  # the trailing median
    assert row["severity"] in ("critical", "warning")
    assert row["message"].startswith("total tokens 10M, ")
    cost = one(found.filter(pl.col("scope") == "workflow"), "cost_usd_spike")
    assert cost["message"].startswith("cost $30.00, ")


def noise_estate(seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """60 days of 20 workflows (4 repos, sigma 0.3-0.5, ~7% idle days) and 2 models."""
    rng = random.Random(seed)
    rows, models = [], []
    for w in range(20):
        values = noise_days(rng, base=rng.uniform(2e5, 5e6), sigma=rng.uniform(0.3, 0.5))
        rows += series_rows(values, repo=f"octo/r{w % 4}", workflow=f"wf{w}")
    for m in range(2):
        values = noise_days(rng, base=rng.uniform(1e6, 2e7), sigma=0.3, zero_share=0.0)
        models += [dict(day=START + dt.timedelta(d), provider="anthropic", model=f"m{m}",
                        requests=100, total_tokens=int(v), cost_usd=v * 3e-6)
                   for d, v in enumerate(values)]
    return rows, models


def test_sixty_days_of_noise_raise_no_spike():
    """No spike on noise alone. A z-test at anomaly_z = 3.5 cannot promise zero false alarms
    (a normal tail beyond 3.5 sigma is 1 day in 4,300), so over 20 estates of 26 keys and 30
    output days (15,600 key-days) it may flag a few: at most 1 key-day in 3,900."""
    flagged = []
    for seed in range(20):
        out = spikes(run(*noise_estate(seed), days=last_30_days()))
        flagged.append(out.select("day", "scope", "key").n_unique())
    assert sum(flagged) <= 4, flagged
    assert spikes(run(*noise_estate(0), days=last_30_days())).is_empty()


def test_model_scope_spike():
    values = noise_days(random.Random(7), base=1e7, sigma=0.3, zero_share=0.0)
    values[50] = 6e7
    models = [dict(day=START + dt.timedelta(d), provider="anthropic", model="claude",
                   requests=100, total_tokens=int(v), cost_usd=v * 3e-6)
              for d, v in enumerate(values)]
    found = spikes(run(model=models, days=last_30_days()))
    assert found.select("day", "scope", "key", "rule").rows() == [
        (START + dt.timedelta(50), "model", "anthropic:claude", "cost_usd_spike"),
        (START + dt.timedelta(50), "model", "anthropic:claude", "total_tokens_spike")]


def test_weekly_workflow_is_compared_with_its_own_runs():
    rng = random.Random(3)
    values = [2e6 * rng.lognormvariate(0, 0.3) if d % 7 == 0 else 0.0 for d in range(60)]
    assert spikes(run(series_rows(values), days=last_30_days())).is_empty()
    values[56] = 2e7  # a weekly run ten times its usual size
    found = spikes(run(series_rows(values), days=last_30_days()))
    assert set(found["day"]) == {START + dt.timedelta(56)}


def test_no_spike_before_the_minimum_history():
    # First seen 5 days before the spike: 5 days of history < anomaly_min_history_days (7).
    values = [0.0] * 20 + [1e6] * 5 + [1e7]
    days = (START + dt.timedelta(20), START + dt.timedelta(25))
    assert spikes(run(series_rows(values), days=days)).is_empty()
    # Idle days after the first appearance count as history (as zeros).
    values = [0.0] * 17 + [1e6, 0.0, 0.0] + [1e6] * 5 + [1e7]
    found = spikes(run(series_rows(values), days=days))
    assert set(found["day"]) == {START + dt.timedelta(25)}
    config = FileConfig(thresholds=Thresholds(anomaly_min_history_days=10))
    assert spikes(run(series_rows(values), days=days, config=config)).is_empty()


def test_history_of_zeros_then_usage_is_not_a_spike():
    # Uninstrumented runs (0 tokens) for 20 days, then token data starts to arrive: nothing
    # to be a spike against, however large; with 3 active days of history a spike fires.
    zero_days = [wf_row(day=START + dt.timedelta(d), total_tokens=0, cost_usd=0.0)
                 for d in range(20)]
    days = (START + dt.timedelta(20), START + dt.timedelta(20))
    for tokens, cost in ((50_000, 0.15), (3_000_000, 9.0)):
        usage = wf_row(day=START + dt.timedelta(20), total_tokens=tokens, cost_usd=cost)
        assert spikes(run([*zero_days, usage], days=days)).is_empty()
    active = [wf_row(day=START + dt.timedelta(d), total_tokens=200_000, cost_usd=0.6)
              for d in (14, 16, 18)]
    large = wf_row(day=START + dt.timedelta(20), total_tokens=3_000_000, cost_usd=9.0)
    found = spikes(run([*zero_days[:14], zero_days[15], zero_days[17], zero_days[19], *active,
                        large], days=days))
    assert set(found["rule"]) == {"total_tokens_spike", "cost_usd_spike"}
    row = one(found.filter(pl.col("scope") == "workflow"), "total_tokens_spike")
    assert (row["expected"], row["severity"]) == (200_000.0, "critical")


def test_constant_history_tiny_rise_is_quiet_several_fold_fires():
    flat = [1e6] * 30
    days = (START + dt.timedelta(30), START + dt.timedelta(30))
    assert spikes(run(series_rows([*flat, 1.2e6]), days=days)).is_empty()
    assert spikes(run(series_rows([*flat, 1.9e6]), days=days)).is_empty()  # < 2 x median
    found = spikes(run(series_rows([*flat, 3e6]), days=days))
    assert set(found["rule"]) == {"total_tokens_spike", "cost_usd_spike"}
    assert set(found["severity"]) == {"warning"}
    assert set(spikes(run(series_rows([*flat, 6e6]), days=days))["severity"]) == {"critical"}


def test_unpriced_days_are_neither_spikes_nor_history():
    flat = series_rows([1e6] * 30)
    unpriced = wf_row(day=START + dt.timedelta(30), total_tokens=1_000_000, cost_usd=None)
    days = (START + dt.timedelta(30), START + dt.timedelta(30))
    out = spikes(run([*flat, unpriced], days=days))
    assert out.is_empty()


# --- table shape -----------------------------------------------------------------------------

def test_grain_days_and_order():
    rng = random.Random(11)
    values = noise_days(rng, base=2e6, sigma=0.3)
    values[40] = 2e7
    rows = series_rows(values)
    # Rule flags on every day, inside and outside the output days.
    rows = [r | dict(io_ratio=300.0, avg_turns_per_run=20.0) for r in rows]
    runs = [run_row(day=START + dt.timedelta(d), run_id=d, small_requests=30)
            for d in range(60)]
    days = (START + dt.timedelta(35), START + dt.timedelta(44))
    out = run(rows, runs=runs, days=days)
    assert out.schema == pl.Schema(ANOMALIES_SCHEMA)
    assert out["day"].min() >= days[0] and out["day"].max() <= days[1]
    assert not out.select("day", "scope", "key", "rule").is_duplicated().any()
    rank = {"critical": 0, "warning": 1, "info": 2}
    keys = [(r["day"], rank[r["severity"]], r["scope"], r["key"], r["rule"])
            for r in out.iter_rows(named=True)]
    assert keys == sorted(keys)
    assert set(out["kind"]) == {"rule", "statistical"}
    assert out.filter(pl.col("kind") == "statistical")["day"].unique().to_list() == [
        START + dt.timedelta(40)]


def test_spikes_do_not_depend_on_how_far_back_the_load_read():
    # active 40 days before, then 3 days just before the spike: what was read before the
    # 28-day window must not make up history (a day-by-day load reads 30 days, a range more)
    d = START + dt.timedelta(days=60)
    rows = [wf_row(day=d - dt.timedelta(days=k), total_tokens=1_000_000, cost_usd=3.0)
            for k in (40, 6, 5, 4)]
    spike = wf_row(day=d, total_tokens=20_000_000, cost_usd=60.0)
    short = [r for r in rows if r["day"] >= d - dt.timedelta(days=30)]
    assert run([*short, spike], days=(d, d)).equals(run([*rows, spike], days=(d, d)))


# --- multi-agent apps: agents, users, sessions ------------------------------------------------

def agent_row(**over: Any) -> dict[str, Any]:
    row = dict(day=DAY, agent_name="Analyzer", calls=20, workflows=10, input_tokens=40_000,
               output_tokens=4_000, cache_read_tokens=0, cache_write_tokens=0,
               prompt_tokens=40_000, total_tokens=44_000, cost_usd=0.4, failed_calls=0,
               io_ratio=10.0, cache_hit_rate=0.0)
    row.update(over)
    return row


def test_agent_rules():
    out = run(agents=[
        agent_row(),  # healthy
        agent_row(agent_name="Flaky", failed_calls=9),  # 45% > 30%
        agent_row(agent_name="Rare", calls=2, failed_calls=2),  # too few calls to judge
        agent_row(agent_name="Reader", io_ratio=250.0),
    ])
    assert out.select("scope", "key", "rule", "severity").rows() == [
        ("agent", "Reader", "io_ratio_high", "critical"),
        ("agent", "Flaky", "error_rate_high", "warning"),
    ]
    flaky = one(out, "error_rate_high")
    assert (flaky["observed"], flaky["expected"]) == (0.45, 0.3)
    assert flaky["message"].startswith("9 of the agent's 20 calls failed; expected at most 30%")


def test_session_classes_are_flags():
    sessions = [
        dict(day=DAY, session_id="s-ok", user_id="ana", workflows=1, calls=3, failed_calls=0,
             total_tokens=9_000, cost_usd=0.1, classification="healthy"),
        dict(day=DAY, session_id="s-loop", user_id="bob", workflows=2, calls=9, failed_calls=3,
             total_tokens=12_000, cost_usd=0.3, classification="prompt_or_context_issue"),
        dict(day=DAY, session_id="s-lost", user_id=None, workflows=1, calls=4, failed_calls=0,
             total_tokens=4_000, cost_usd=0.05, classification="low_quality_spend"),
    ]
    out = run(sessions=sessions)
    assert out.select("scope", "key", "rule", "severity").rows() == [
        ("session", "s-loop", "session_prompt_or_context_issue", "warning"),
        ("session", "s-lost", "session_low_quality_spend", "info"),
    ]
    loop = one(out, "session_prompt_or_context_issue")
    assert (loop["observed"], loop["expected"]) == (12_000, 5_000)
    assert loop["message"].startswith("session of bob: 12k tokens ($0.30) with 3 failed calls")
    assert one(out, "session_low_quality_spend")["message"].startswith(
        "session of an unknown user: 4k tokens")


def test_agent_and_user_spikes_and_rising_spend():
    values = noise_days(random.Random(11), base=3e6, sigma=0.3, zero_share=0.0)
    values[52] = 2.4e7
    agents = [agent_row(day=START + dt.timedelta(d), total_tokens=int(v), cost_usd=v * 3e-6)
              for d, v in enumerate(values)]
    users = [dict(day=START + dt.timedelta(d), user_id="u-1", total_tokens=int(v),
                  cost_usd=v * 3e-6) for d, v in enumerate(values)]
    found = spikes(run(agents=agents, users=users, days=last_30_days()))
    assert found.select("day", "scope", "key", "rule").rows() == [
        (START + dt.timedelta(52), scope, key, rule)
        for scope, key in (("agent", "Analyzer"), ("user", "u-1"))
        for rule in ("cost_usd_spike", "total_tokens_spike")]
    rising = run(trends=[trend_row(scope="agent", key="Analyzer", value_7d=12.0, prev_7d=4.0,
                                   change_pct_7d=200.0)])
    assert one(rising, "spend_rising")["scope"] == "agent"


def test_billing_unexplained_names_the_org_and_the_model():
    rec = [dict(day=DAY, org="acme", model="claude-sonnet-4.6", billed_net_usd=40.0,
                unexplained_usd=30.0),
           dict(day=DAY, org="acme", model="gpt-5", billed_net_usd=10.0, unexplained_usd=0.0),
           dict(day=DAY, org="beta", model="gpt-5", billed_net_usd=10.0, unexplained_usd=1.0),
           dict(day=DAY, org="tiny", model="gpt-5", billed_net_usd=0.5, unexplained_usd=0.5)]
    out = run(reconciliation=rec)
    row = one(out, "billing_unexplained")
    assert (row["scope"], row["key"], row["observed"], row["expected"]) == (
        "org", "acme", 0.6, 0.25)
    assert row["severity"] == "critical"  # 60% >= 2 x 25%
    assert row["message"].startswith("$30.00 of the $50.00 GitHub billed acme has no "
                                     "telemetry behind it (60%")
    assert "most for claude-sonnet-4.6 ($30.00)" in row["message"]
