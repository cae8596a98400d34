"""Tasks, outcomes, classification and showback: seed 000's sample rows reproduce its outputs.

The expected numbers are computed here the seed notebook's way (its own loops and formulas,
rounded as it rounds), independently of the polars code under test.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from finops_pipeline.config import Budget, FileConfig, Thresholds
from finops_pipeline.schemas.datasets import LAKE_DATASETS
from finops_pipeline.transforms.kpis import kpi_run_daily
from finops_pipeline.transforms.outcomes import (
    RUN_OUTCOMES_COLUMNS,
    classify,
    run_outcomes,
    workflow_outcomes_daily,
)
from finops_pipeline.transforms.showback import efficiency_score, showback_daily

DAY = dt.date(2026, 2, 10)
DAYS = (DAY, DAY)
RUN_SCHEMA = dict(kpi_run_daily(LAKE_DATASETS["workflow_runs"].empty(),
                                LAKE_DATASETS["llm_requests"].empty()).schema)
PR_SCHEMA = LAKE_DATASETS["pull_requests"].schema
OUTCOME_SCHEMA = dict(run_outcomes(pl.DataFrame(schema=RUN_SCHEMA), pl.DataFrame(schema=PR_SCHEMA),
                                   days=DAYS, config=FileConfig()).schema)


def outcome_rows(rows: list[dict], day: dt.date = DAY) -> pl.DataFrame:
    """run_outcomes rows from seed-style dicts (repo, tokens, cost, completed, accepted, retries,
    quality)."""
    out = []
    for i, r in enumerate(rows):
        out.append({
            "day": day, "repo": r["repo"], "workflow": "copilot", "team": r.get("team"),
            "run_id": i + 1, "attempts": r["retries"] + 1, "retries": r["retries"],
            "completed": bool(r["completed"]), "conclusion": "success", "is_failed": False,
            "head_branch": f"copilot/t{i}", "prs": 1, "pr_number": i + 1,
            "pr_state": "merged" if r["accepted"] else "rejected",
            "accepted_pr": bool(r["accepted"]), "quality": r.get("quality", 1.0),
            "requests": 1, "total_tokens": r["tokens"], "cost_usd": r["cost"],
            "failed_attempts_cost_usd": 0.0, "turns": 1, "classification": "healthy",
            "url": None,
        })
    return pl.DataFrame(out, schema=OUTCOME_SCHEMA).select(RUN_OUTCOMES_COLUMNS)


# The notebook's first KPI cell: per repo, with quality.
SEED_KPI_ROWS = [
    {"repo": "api", "completed": 1, "accepted": 1, "retries": 0, "tokens": 3200, "cost": 0.64,
     "quality": 0.92},
    {"repo": "api", "completed": 1, "accepted": 0, "retries": 1, "tokens": 4100, "cost": 0.82,
     "quality": 0.70},
    {"repo": "web", "completed": 1, "accepted": 1, "retries": 0, "tokens": 2100, "cost": 0.42,
     "quality": 0.95},
]


def seed_repo_kpis(rows: list[dict]) -> dict[str, dict]:
    """The notebook's loop, verbatim in spirit."""
    kpis: dict[str, dict] = {}
    for r in rows:
        k = kpis.setdefault(r["repo"], {"tokens": 0, "tasks": 0, "accepted_prs": 0,
                                        "retries": 0, "cost": 0.0, "quality_cost": 0.0})
        k["tokens"] += r["tokens"]
        k["tasks"] += r["completed"]
        k["accepted_prs"] += r["accepted"]
        k["retries"] += r["retries"]
        k["cost"] += r["cost"]
        k["quality_cost"] += r["cost"] / max(r["quality"], 0.01)
    return {repo: {
        "tokens_per_completed_task": round(v["tokens"] / max(v["tasks"], 1), 2),
        "tokens_per_accepted_pr": round(v["tokens"] / max(v["accepted_prs"], 1), 2),
        "retry_rate": round(v["retries"] / max(v["tasks"], 1), 2),
        "quality_adjusted_cost": round(v["quality_cost"], 2),
        "cost_usd": round(v["cost"], 2), "accepted_prs": v["accepted_prs"], "tasks": v["tasks"],
    } for repo, v in kpis.items()}


def repo_rows(showback: pl.DataFrame) -> dict[str, dict]:
    return {r["repo"]: r for r in showback.filter(pl.col("level") == "repo").to_dicts()}


def test_seed_kpis_per_repository():
    out = repo_rows(showback_daily(outcome_rows(SEED_KPI_ROWS), days=DAYS, config=FileConfig()))
    expected = seed_repo_kpis(SEED_KPI_ROWS)
    assert expected["api"]["quality_adjusted_cost"] == 1.87  # the notebook's figure
    for repo, want in expected.items():
        got = out[repo]
        for col, value in want.items():
            assert round(got[col], 2) == value, (repo, col)


# The notebook's showback cell, then its budget variance and anomaly flags.
SEED_EVENTS = [
    {"team": "Platform", "repo": "api", "tokens": 3200, "cost": 0.64, "completed": 1,
     "accepted": 1, "retries": 0},
    {"team": "Platform", "repo": "api", "tokens": 4100, "cost": 0.82, "completed": 1,
     "accepted": 0, "retries": 1},
    {"team": "Growth", "repo": "web", "tokens": 2100, "cost": 0.42, "completed": 1,
     "accepted": 1, "retries": 0},
    {"team": "Analytics", "repo": "data", "tokens": 3900, "cost": 0.91, "completed": 1,
     "accepted": 0, "retries": 2},
]
SEED_BUDGETS = {"api": 1.00, "web": 0.75, "data": 0.80}


def seed_governance() -> dict[str, dict]:
    """showback_df + governance_df of the notebook."""
    out: dict[str, dict] = {}
    for e in SEED_EVENTS:
        g = out.setdefault(e["repo"], {"team": e["team"], "tokens": 0, "cost": 0.0,
                                       "tasks": 0, "accepted": 0, "retries": 0})
        g["tokens"] += e["tokens"]
        g["cost"] += e["cost"]
        g["tasks"] += e["completed"]
        g["accepted"] += e["accepted"]
        g["retries"] += e["retries"]
    result = {}
    for repo, g in out.items():
        tpt = round(g["tokens"] / max(g["tasks"], 1), 2)
        rr = round(g["retries"] / max(g["tasks"], 1), 2)
        result[repo] = {
            "team": g["team"], "tokens_per_completed_task": tpt,
            "tokens_per_accepted_pr": round(g["tokens"] / max(g["accepted"], 1), 2),
            "retry_rate": rr, "cost_usd": g["cost"], "budget_usd": SEED_BUDGETS[repo],
            "variance_usd": round(g["cost"] - SEED_BUDGETS[repo], 2),
            "anomaly": tpt > 3000 or rr > 0.25,
        }
    return result


SEED_CONFIG = FileConfig(
    teams={"Platform": ["api"], "Growth": ["web"], "Analytics": ["data"]},
    budgets=[Budget(scope="repo", key=k, period="day", usd=v) for k, v in SEED_BUDGETS.items()],
    thresholds=Thresholds(tokens_per_completed_task_max=3000, retry_rate_max=0.25),
)


def test_seed_showback_budget_variance():
    rows = outcome_rows(SEED_EVENTS).with_columns(team=pl.Series(
        [e["team"] for e in SEED_EVENTS]))
    out = repo_rows(showback_daily(rows, days=DAYS, config=SEED_CONFIG))
    for repo, want in seed_governance().items():
        got = out[repo]
        assert got["team"] == want["team"]
        for col in ("tokens_per_completed_task", "tokens_per_accepted_pr", "retry_rate",
                    "budget_usd", "variance_usd"):
            assert round(got[col], 2) == want[col], (repo, col)
        assert got["cost_usd"] == pytest.approx(want["cost_usd"])
        # a daily budget: the month to date is the day's budget times the day of the month
        assert got["mtd_budget_usd"] == pytest.approx(want["budget_usd"] * DAY.day)


def test_showback_levels_add_up_and_team_comes_from_config():
    rows = outcome_rows(SEED_EVENTS).with_columns(
        repo=pl.Series(["acme/api", "acme/api", "acme/web", "other/data"]))
    config = FileConfig(teams={"platform": ["acme/api"]},
                        budgets=[Budget(scope="team", key="platform", usd=280.0),
                                 Budget(scope="total", usd=560.0)])
    rows = run_outcomes_like(rows, config)
    out = showback_daily(rows, days=DAYS, config=config)
    by = {(r["level"], r["team"], r["repo"]): r for r in out.to_dicts()}
    # a repo without a team belongs to its owner
    assert {k for k in by if k[0] == "repo"} == {
        ("repo", "platform", "acme/api"), ("repo", "acme", "acme/web"),
        ("repo", "other", "other/data")}
    team = by[("team", "platform", "*")]
    assert team["total_tokens"] == 7300 and team["tasks"] == 2
    # February 2026 has 28 days: 280 USD a month is 10 a day, 100 by the 10th
    assert team["budget_usd"] == pytest.approx(10.0)
    assert team["mtd_budget_usd"] == pytest.approx(100.0)
    assert team["variance_usd"] == pytest.approx(1.46 - 10.0)
    total = by[("total", "*", "*")]
    assert total["total_tokens"] == sum(e["tokens"] for e in SEED_EVENTS)
    assert total["cost_usd"] == pytest.approx(sum(e["cost"] for e in SEED_EVENTS))
    assert total["budget_usd"] == pytest.approx(20.0)
    assert by[("repo", "acme", "acme/web")]["budget_usd"] is None


def run_outcomes_like(rows: pl.DataFrame, config: FileConfig) -> pl.DataFrame:
    from finops_pipeline.transforms.teams import team_of
    return rows.with_columns(team_of(pl.col("repo"), config.teams).alias("team"))


def test_month_to_date_accumulates_over_the_month_only():
    days = [dt.date(2026, 1, 30), dt.date(2026, 1, 31), dt.date(2026, 2, 1), dt.date(2026, 2, 3)]
    rows = pl.concat([outcome_rows([{"repo": "a/b", "team": "a", "tokens": 100, "cost": 1.0,
                                     "completed": 1, "accepted": 1, "retries": 0}], day=d)
                      for d in days])
    out = showback_daily(rows, days=(days[0], days[-1]), config=FileConfig())
    mtd = out.filter(pl.col("level") == "total").select("day", "mtd_cost_usd").rows()
    assert mtd == [(days[0], 1.0), (days[1], 2.0), (days[2], 1.0), (days[3], 2.0)]


def test_seed_efficiency_scores():
    samples = pl.DataFrame({"name": ["team-api", "team-web"], "tpt": [3650.0, 2200.0],
                            "rr": [0.18, 0.05], "qac": [1.05, 0.44]})
    got = samples.select(efficiency_score(pl.col("tpt"), pl.col("rr"), pl.col("qac"),
                                          Thresholds()).round(2)).to_series().to_list()
    assert got == [71.85, 85.36]  # the notebook's table
    # S and C are configurable
    scaled = samples.select(efficiency_score(pl.col("tpt"), pl.col("rr"), pl.col("qac"),
                                             Thresholds(efficiency_tokens_scale=1000,
                                                        efficiency_cost_scale=0)))
    assert scaled.to_series().round(2).to_list() == [
        round(0.5 * (100 - 3.65) + 0.2 * 82 + 30, 2), round(0.5 * (100 - 2.2) + 0.2 * 95 + 30, 2)]


SEED_SESSIONS = [("s1", 1800, 0, 1), ("s2", 5200, 3, 0), ("s3", 4700, 2, 1), ("s4", 3400, 1, 0),
                 ("s5", 2600, 0, 1), ("s6", 6100, 4, 0)]


def seed_classify(tokens: int, retries: int, accepted: int) -> str:
    if tokens > 5000 and retries >= 2:
        return "prompt_or_context_issue"
    if accepted == 0 and tokens > 3000:
        return "low_quality_spend"
    return "healthy"


def test_seed_session_classification():
    df = pl.DataFrame(SEED_SESSIONS, schema=["id", "tokens", "retries", "accepted"],
                      orient="row")
    got = df.select(classify(pl.col("tokens"), pl.col("retries"), pl.col("accepted") == 1,
                             Thresholds())).to_series().to_list()
    assert got == [seed_classify(t, r, a) for _, t, r, a in SEED_SESSIONS]
    assert got == ["healthy", "prompt_or_context_issue", "healthy", "low_quality_spend",
                   "healthy", "prompt_or_context_issue"]


def attempt(run_id: int, attempt_no: int, conclusion: str, tokens: int, cost: float,
            branch: str = "copilot/fix", day: dt.date = DAY, repo: str = "acme/api",
            workflow: str = "Copilot") -> dict:
    return {"day": day, "repo": repo, "workflow": workflow, "run_id": run_id,
            "run_attempt": attempt_no, "head_branch": branch, "event": "dynamic",
            "conclusion": conclusion, "is_failed": conclusion != "success",
            "has_token_data": True, "url": f"https://github.com/{repo}/actions/runs/{run_id}",
            "created_at": dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC),
            "turns": 3, "duration_ms": 1000, "requests": 2, "error_requests": 0,
            "input_tokens": tokens, "output_tokens": 0, "cache_read_tokens": 0,
            "cache_write_tokens": 0, "prompt_tokens": tokens, "total_tokens": tokens,
            "cost_usd": cost, "unpriced_requests": 0, "small_requests": 0,
            "small_requests_cost_usd": 0.0, "top_model": "m"}


def pull(number: int, state: str, day: dt.date, branch: str = "copilot/fix",
         repo: str = "acme/api") -> dict:
    t = dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC)
    return {"day": day, "source": "github", "repo": repo, "number": number, "state": state,
            "created_at": t, "updated_at": t, "merged_at": t if state == "merged" else None,
            "closed_at": t if state != "open" else None, "head_ref": branch, "author": "Copilot",
            "title": "t", "url": None, "_source": "x", "_line": None}


def runs(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=RUN_SCHEMA)


def pulls(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=PR_SCHEMA)


def test_a_task_is_a_run_with_its_attempts_and_its_pull_requests_latest_state():
    later = DAY + dt.timedelta(days=7)
    out = run_outcomes(
        runs([attempt(1, 1, "failure", 4000, 0.4), attempt(1, 2, "failure", 3000, 0.3),
              attempt(1, 3, "success", 1000, 0.1),
              attempt(2, 1, "success", 500, 0.05, branch="main", workflow="Report")]),
        pulls([pull(7, "open", DAY), pull(7, "merged", later)]),
        days=DAYS, config=FileConfig()).to_dicts()
    task, report = out
    assert (task["attempts"], task["retries"], task["completed"]) == (3, 2, True)
    assert (task["pr_number"], task["pr_state"], task["accepted_pr"]) == (7, "merged", True)
    assert task["total_tokens"] == 8000 and task["cost_usd"] == pytest.approx(0.8)
    assert task["failed_attempts_cost_usd"] == pytest.approx(0.7)
    # 8000 tokens > T_high and 2 retries: the seed's prompt-or-context issue
    assert task["classification"] == "prompt_or_context_issue"
    # a run linked to no pull request: its outcome is its completion, not a missing PR
    assert (report["prs"], report["accepted_pr"], report["classification"]) == (
        0, None, "healthy")


def test_classification_counts_per_workflow():
    out = run_outcomes(
        runs([attempt(1, 1, "success", 4000, 0.4, branch="copilot/a"),
              attempt(2, 1, "failure", 3500, 0.3, branch="copilot/b"),
              attempt(3, 1, "success", 100, 0.01, branch="copilot/c")]),
        pulls([pull(1, "rejected", DAY, "copilot/a"), pull(3, "merged", DAY, "copilot/c")]),
        days=DAYS, config=FileConfig())
    assert out["classification"].to_list() == ["low_quality_spend", "low_quality_spend",
                                               "healthy"]
    per_workflow = workflow_outcomes_daily(out, days=DAYS, config=FileConfig()).to_dicts()[0]
    assert {k: per_workflow[k] for k in ("tasks", "completed_tasks", "failed_tasks", "prs",
                                         "accepted_prs", "healthy", "low_quality_spend",
                                         "prompt_or_context_issue")} == {
        "tasks": 3, "completed_tasks": 2, "failed_tasks": 1, "prs": 2, "accepted_prs": 1,
        "healthy": 1, "low_quality_spend": 2, "prompt_or_context_issue": 0}
    assert per_workflow["wasted_cost_usd"] == pytest.approx(0.3)


def empty(table_name: str) -> pl.DataFrame:
    from finops_pipeline.warehouse.tables import table
    return pl.DataFrame(schema=table(table_name).schema)


def test_seed_governance_flags_are_anomalies():
    from finops_pipeline.transforms.anomalies import anomalies
    rows = outcome_rows(SEED_EVENTS).with_columns(team=pl.Series(
        [e["team"] for e in SEED_EVENTS]))
    showback = showback_daily(rows, days=DAYS, config=SEED_CONFIG)
    flags = anomalies(empty("kpi_workflow_daily"), empty("kpi_model_daily"),
                      empty("kpi_run_daily"), showback, empty("trend_daily"),
                      empty("kpi_agent_daily"), empty("kpi_user_daily"),
                      empty("kpi_session_daily"), empty("reconciliation_daily"),
                      days=DAYS, config=SEED_CONFIG)
    flagged = {(r["key"], r["rule"]) for r in flags.to_dicts()}
    governance = seed_governance()
    # the notebook's Anomaly column: TokensPerTask > 3000 or RetryRate > 0.25
    assert {k for k, _ in flagged if _ in ("tokens_per_task_high", "retry_rate_high")} == {
        repo for repo, g in governance.items() if g["anomaly"]}
    assert flagged >= {("api", "tokens_per_task_high"), ("api", "retry_rate_high"),
                       ("data", "tokens_per_task_high"), ("data", "retry_rate_high")}
    # and its end-to-end rule "accepted_prs == 0": data merged nothing
    assert ("data", "no_accepted_prs") in flagged and ("web", "no_accepted_prs") not in flagged
    # the seed's repo budgets on the first of a month (month to date = the day): api and
    # data are over, web is not
    first = dt.date(2026, 3, 1)
    on_first = showback_daily(rows.with_columns(day=pl.lit(first)), days=(first, first),
                              config=SEED_CONFIG)
    flags = anomalies(empty("kpi_workflow_daily"), empty("kpi_model_daily"),
                      empty("kpi_run_daily"), on_first, empty("trend_daily"),
                      empty("kpi_agent_daily"), empty("kpi_user_daily"),
                      empty("kpi_session_daily"), empty("reconciliation_daily"),
                      days=(first, first), config=SEED_CONFIG)
    over = {r["key"]: r for r in flags.to_dicts() if r["rule"] == "budget_overrun"}
    assert set(over) == {"api", "data"}
    assert over["api"]["observed"] == pytest.approx(1.46)
    assert over["api"]["expected"] == pytest.approx(1.00)


def test_the_freshest_observation_of_a_pull_request_wins_whatever_the_day_order():
    later = DAY + dt.timedelta(days=7)
    # the day it was opened re-loaded from an old landing (open), after the merge was seen
    for order in ([pull(7, "merged", later), pull(7, "open", DAY)],
                  [pull(7, "open", DAY), pull(7, "merged", later)]):
        out = run_outcomes(runs([attempt(1, 1, "success", 100, 0.01)]), pulls(order),
                           days=DAYS, config=FileConfig())
        assert out["pr_state"].to_list() == ["merged"]


def test_attempts_come_from_the_latest_attempt_number():
    # GitHub lists a run once, as its latest attempt
    out = run_outcomes(runs([attempt(1, 3, "success", 6000, 0.6)]), pulls([]), days=DAYS,
                       config=FileConfig()).to_dicts()[0]
    assert (out["attempts"], out["retries"]) == (3, 2)
    assert out["classification"] == "prompt_or_context_issue"


def test_an_accepted_pull_request_counts_once_however_many_runs_worked_on_it():
    rows = [attempt(i, 1, "success", 1000, 0.1, workflow=wf)
            for i, wf in ((1, "Copilot"), (2, "Copilot"), (3, "Copilot"), (4, "CI"), (5, "CI"))]
    out = run_outcomes(runs(rows), pulls([pull(7, "merged", DAY)]), days=DAYS,
                       config=FileConfig())
    assert out["accepted_pr"].to_list() == [True] * 5
    showback = showback_daily(out, days=DAYS, config=FileConfig())
    total = showback.filter(pl.col("level") == "total").to_dicts()[0]
    assert (total["tasks"], total["prs"], total["accepted_prs"]) == (5, 1, 1)
    assert total["tokens_per_accepted_pr"] == 5000


def test_pull_request_rows_count_in_a_window_around_the_run():
    def state_of(pr_rows: list[dict]) -> tuple:
        out = run_outcomes(runs([attempt(1, 1, "success", 100, 0.01)]), pulls(pr_rows),
                           days=DAYS, config=FileConfig()).to_dicts()[0]
        return out["prs"], out["pr_state"]
    before = DAY - dt.timedelta(days=1)
    # opened the day before the run (the agent opens a draft first): linked
    assert state_of([pull(7, "open", before)]) == (1, "open")
    # a branch's PR of two weeks before: not this run's
    assert state_of([pull(7, "open", DAY - dt.timedelta(days=14))]) == (0, None)
    # merged 40 days later, even if the row of its opening day already says so: not within
    # the 28 days followed
    late = pull(7, "merged", DAY)
    late["merged_at"] = late["closed_at"] = late["updated_at"] = dt.datetime(
        2026, 3, 22, tzinfo=dt.UTC)
    assert state_of([late]) == (1, "open")
    merged_in_time = dict(late, merged_at=dt.datetime(2026, 3, 10, tzinfo=dt.UTC),
                          closed_at=dt.datetime(2026, 3, 10, tzinfo=dt.UTC))
    assert state_of([merged_in_time]) == (1, "merged")
