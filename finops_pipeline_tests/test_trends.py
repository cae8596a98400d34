"""trend_daily: trailing 7/28-day windows per scope, key and metric (pure polars)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from finops_pipeline.config import FileConfig
from finops_pipeline.schemas.datasets import LAKE_DATASETS
from finops_pipeline.schemas.token_usage import LLM_REQUESTS_SCHEMA
from finops_pipeline.transforms.agent_kpis import kpi_agent_daily, kpi_user_daily
from finops_pipeline.transforms.kpis import kpi_model_daily, kpi_workflow_daily
from finops_pipeline.transforms.trends import (
    TREND_DAILY_SCHEMA,
    TREND_METRICS,
    TREND_SCOPES,
    trend_daily,
)

WF_SCHEMA = kpi_workflow_daily(LAKE_DATASETS["workflow_runs"].empty(),
                               LAKE_DATASETS["llm_requests"].empty()).schema
MODEL_SCHEMA = kpi_model_daily(LAKE_DATASETS["llm_requests"].empty()).schema
NO_AGENTS = kpi_agent_daily(LAKE_DATASETS["agent_calls"].empty())
NO_USERS = kpi_user_daily(LAKE_DATASETS["agent_calls"].empty())
B = dt.date(2024, 3, 1)  # first output day
NO_CONFIG = FileConfig()


def d(offset: int) -> dt.date:
    return B + dt.timedelta(days=offset)


def _tokens(row: dict[str, Any], kw: dict[str, Any]) -> None:
    row.update(kw)
    row.setdefault("prompt_tokens",
                   row["input_tokens"] + row["cache_read_tokens"] + row["cache_write_tokens"])
    row.setdefault("total_tokens", row["prompt_tokens"] + row["output_tokens"])


def wf(day: dt.date, repo: str = "acme/api", workflow: str = "build", **kw: Any) -> dict:
    """A kpi_workflow_daily row; total and prompt tokens follow the buckets unless given."""
    row: dict[str, Any] = {"day": day, "repo": repo, "workflow": workflow, "runs": 1,
                           "instrumented_runs": 1, "requests": 10, "error_requests": 0,
                           "input_tokens": 100, "output_tokens": 10, "cache_read_tokens": 0,
                           "cache_write_tokens": 0, "cost_usd": 1.0}
    _tokens(row, kw)
    return row


def md(day: dt.date, provider: str = "anthropic", model: str = "claude", **kw: Any) -> dict:
    row: dict[str, Any] = {"day": day, "provider": provider, "model": model, "requests": 10,
                           "error_requests": 0, "input_tokens": 100, "output_tokens": 10,
                           "cache_read_tokens": 0, "cache_write_tokens": 0, "cost_usd": 1.0}
    _tokens(row, kw)
    return row


def wf_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=WF_SCHEMA)


def model_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=MODEL_SCHEMA)


def trends(workflow_rows: list[dict] = (), model_rows: list[dict] = (), *, first: int = 0,
           last: int = 0, config: FileConfig = NO_CONFIG) -> pl.DataFrame:
    return trend_daily(wf_frame(list(workflow_rows)), model_frame(list(model_rows)),
                       NO_AGENTS, NO_USERS, days=(d(first), d(last)), config=config)


def one(out: pl.DataFrame, day: dt.date, scope: str, key: str, metric: str) -> dict:
    rows = out.filter(day=day, scope=scope, key=key, metric=metric).to_dicts()
    assert len(rows) == 1, rows
    return rows[0]


def test_hand_computed_windows_with_gaps():
    rows = [wf(d(o), input_tokens=t, output_tokens=0)
            for o, t in [(-30, 1000), (-10, 200), (-3, 50), (0, 10), (2, 5)]]
    out = trends(rows, first=0, last=1)

    day0 = one(out, d(0), "workflow", "acme/api:build", "total_tokens")
    assert day0 == {
        "day": d(0), "scope": "workflow", "key": "acme/api:build", "metric": "total_tokens",
        "value": 10.0,
        "value_7d": 60.0,  # d-3 + d0
        "prev_7d": 200.0,  # d-10
        "change_pct_7d": pytest.approx(-70.0),
        "value_28d": 260.0,  # d-10 + d-3 + d0
        "prev_28d": 1000.0,  # d-30
        "change_pct_28d": pytest.approx(-74.0),
    }
    # An idle day inside the window still has a row: 0 for sums, null for rates.
    day1 = one(out, d(1), "workflow", "acme/api:build", "total_tokens")
    assert (day1["value"], day1["value_7d"], day1["prev_7d"]) == (0.0, 60.0, 200.0)
    assert one(out, d(1), "workflow", "acme/api:build", "error_rate")["value"] is None
    # d+2 is after the output range: not in any window of d0..d1.
    assert one(out, d(1), "workflow", "acme/api:build", "runs")["value_28d"] == 3.0


def test_change_pct_null_when_previous_window_is_zero():
    out = trends([wf(d(-2), input_tokens=40, output_tokens=0)])
    row = one(out, d(0), "repo", "acme/api", "total_tokens")
    assert (row["value_7d"], row["prev_7d"], row["change_pct_7d"]) == (40.0, 0.0, None)
    assert (row["value_28d"], row["prev_28d"], row["change_pct_28d"]) == (40.0, 0.0, None)
    # A rate with an undefined previous window (no requests) has a null prev and change.
    rate = one(out, d(0), "repo", "acme/api", "error_rate")
    assert (rate["prev_7d"], rate["change_pct_7d"]) == (None, None)


def test_rates_are_recomputed_from_window_sums_not_averaged():
    rows = [
        # 90% cache hits, every request failed, io 10, 100 tokens per run
        wf(d(-1), input_tokens=10, cache_read_tokens=90, output_tokens=10, requests=1,
           error_requests=1, instrumented_runs=1),
        # no cache hits, 1 of 99 failed, io 1, 1000 tokens per run
        wf(d(0), input_tokens=500, cache_read_tokens=0, output_tokens=500, requests=99,
           error_requests=0, instrumented_runs=9, total_tokens=9000),
    ]
    out = trends(rows)
    key = ("workflow", "acme/api:build")

    def w7(metric: str) -> float:
        return one(out, d(0), *key, metric)["value_7d"]

    assert w7("cache_hit_rate") == pytest.approx(90 / 600)  # mean of days: 0.45
    assert w7("error_rate") == pytest.approx(1 / 100)  # mean of days: 0.5
    assert w7("io_ratio") == pytest.approx((100 + 500) / (10 + 500))  # mean: 5.5
    assert w7("avg_tokens_per_run") == pytest.approx((110 + 9000) / 10)  # mean: 555
    assert one(out, d(0), *key, "cache_hit_rate")["value"] == 0.0  # the day's own rate
    assert one(out, d(0), *key, "error_rate")["value"] == 0.0
    assert one(out, d(0), *key, "avg_tokens_per_run")["value"] == 1000.0


def test_key_disappears_once_its_28_day_window_is_empty():
    rows = [wf(d(-27), repo="acme/old"), wf(d(-28), repo="acme/gone"),
            wf(d(-40), repo="acme/new"), wf(d(2), repo="acme/new")]
    out = trends(rows, first=0, last=3)
    repo = out.filter(scope="repo")
    days_of = {k: sorted(set(repo.filter(key=k)["day"])) for k in ("acme/old", "acme/gone",
                                                                    "acme/new")}
    assert days_of["acme/old"] == [d(0)]  # d-27 is the oldest day of d0's window
    assert days_of["acme/gone"] == []
    # Idle d0 and d1 (d-40 is only in prev_28d), then active from d2 on.
    assert days_of["acme/new"] == [d(2), d(3)]
    old = one(out, d(0), "repo", "acme/old", "requests")
    assert (old["value"], old["value_7d"], old["value_28d"]) == (0.0, 0.0, 10.0)
    new = one(out, d(2), "repo", "acme/new", "requests")
    # d-40 still counts in d2's previous 28 days (d-53..d-26), not in its window.
    assert (new["value_28d"], new["prev_28d"], new["change_pct_28d"]) == (10.0, 10.0, 0.0)


def _estate() -> list[dict]:
    rows = []
    repos = {"acme/api": ("build", "review"), "acme/web": ("build",), "beta/svc": ("triage",)}
    for offset in range(-55, 10):
        for i, (repo, flows) in enumerate(repos.items()):
            for j, flow in enumerate(flows):
                if (offset + i + j) % 3 == 0:  # gaps, different per workflow
                    continue
                n = abs(offset) + 3 * i + j
                rows.append(wf(d(offset), repo, flow, runs=1 + n % 2, instrumented_runs=1,
                               requests=n + 1, error_requests=n % 2, input_tokens=10 * n,
                               output_tokens=n, cache_read_tokens=5 * n,
                               cost_usd=0.25 * (n + 1)))
    return rows


@pytest.mark.parametrize("scope", ["org", "repo", "team", "workflow"])
def test_scope_totals_equal_the_input_rows_of_each_day(scope):
    rows = _estate()
    config = FileConfig(teams={"platform": ["acme/api", "beta/svc"]})
    out = trends(rows, first=0, last=9, config=config)
    inputs = wf_frame(rows).with_columns(pl.col("cost_usd").alias("cost"))
    for metric, column in [("total_tokens", "total_tokens"), ("cost_usd", "cost"),
                           ("requests", "requests"), ("runs", "runs")]:
        got = (out.filter(scope=scope, metric=metric).group_by("day")
               .agg(pl.col("value").sum(), pl.col("value_7d").sum()).sort("day"))
        daily = inputs.group_by("day").agg(pl.col(column).sum().cast(pl.Float64))
        expected = (pl.DataFrame({"day": [d(o) for o in range(10)]})
                    .join(daily, on="day", how="left")
                    .with_columns(pl.col(column).fill_null(0.0)))
        # the 7-day sums reach into the 6 days before the first output day
        w7 = [daily.filter(pl.col("day").is_between(d(o - 6), d(o)))[column].sum()
              for o in range(10)]
        assert got["day"].to_list() == expected["day"].to_list()
        assert got["value"].to_list() == pytest.approx(expected[column].to_list())
        assert got["value_7d"].to_list() == pytest.approx(w7)
    teams = set(out.filter(scope="team")["key"])
    assert teams == {"platform", "acme"}  # acme/web falls back to its owner
    assert set(out.filter(scope="org")["key"]) == {"acme", "beta"}
    assert set(out.filter(scope="workflow")["key"]) == {
        "acme/api:build", "acme/api:review", "acme/web:build", "beta/svc:triage"}


def _request(day: dt.date, provider: str, model: str, **kw: Any) -> dict:
    row: dict[str, Any] = {"day": day, "source": "test", "repo": "acme/api",
                           "workflow": "build", "run_id": 1, "run_attempt": 1,
                           "provider": provider, "model": model, "status": 200,
                           "input_tokens": 100, "output_tokens": 10, "cache_read_tokens": 0,
                           "cache_write_tokens": 0, "duration_ms": 100, "cost_usd": 0.5}
    _tokens(row, kw)
    return row


def test_model_scope_matches_kpi_model_daily():
    requests = pl.DataFrame([
        _request(d(0), "anthropic", "claude", cache_read_tokens=300),
        _request(d(0), "anthropic", "claude", status=500, output_tokens=0),
        _request(d(0), "openai", "gpt", input_tokens=7, cost_usd=None),
        _request(d(1), "openai", "gpt", output_tokens=3),
        _request(d(-3), "openai", "gpt"),
    ], schema=LLM_REQUESTS_SCHEMA)
    kpi = kpi_model_daily(requests)
    out = trend_daily(wf_frame([]), kpi, NO_AGENTS, NO_USERS, days=(d(0), d(1)),
                      config=NO_CONFIG)
    model = out.filter(scope="model")
    assert set(model["metric"]) == set(TREND_METRICS) - {"runs", "avg_tokens_per_run"}
    assert set(out["scope"]) == {"model"}
    for row in kpi.filter(pl.col("day") >= d(0)).to_dicts():
        key = f"{row['provider']}:{row['model']}"
        for metric in ("total_tokens", "cost_usd", "requests", "cache_hit_rate", "io_ratio",
                       "error_rate"):
            got = one(out, row["day"], "model", key, metric)["value"]
            assert got == pytest.approx(row[metric]), (key, metric)
    # claude is idle on d1 but still within its window
    assert one(out, d(1), "model", "anthropic:claude", "requests")["value"] == 0.0
    assert one(out, d(1), "model", "openai:gpt", "requests")["value_7d"] == 3.0


def test_empty_inputs_return_an_empty_frame_with_the_schema():
    out = trends([], [], first=0, last=6)
    assert out.is_empty()
    assert out.schema == pl.Schema(TREND_DAILY_SCHEMA)
    assert out.columns == ["day", "scope", "key", "metric", "value", "value_7d", "prev_7d",
                           "change_pct_7d", "value_28d", "prev_28d", "change_pct_28d"]


def test_output_covers_only_the_requested_days_and_uses_the_full_lookback():
    rows = [wf(d(o), input_tokens=o + 100, output_tokens=0) for o in range(-55, 6)]
    out = trends(rows, [md(d(o)) for o in range(-55, 6)], first=0, last=2)
    assert sorted(set(out["day"])) == [d(0), d(1), d(2)]
    assert set(out["scope"]) == set(TREND_SCOPES) - {"agent", "user"}  # no agent calls
    row = one(out, d(0), "repo", "acme/api", "total_tokens")
    assert row["prev_28d"] == sum(o + 100 for o in range(-55, -27))  # d-55..d-28
    assert row["value_28d"] == sum(o + 100 for o in range(-27, 1))
    assert row["prev_7d"] == sum(o + 100 for o in range(-13, -6))
    # one row per metric, sorted by day, scope, key, metric
    assert out.height == 3 * (4 * 9 + 7)  # 4 run scopes x 9 metrics, the model scope 7
    assert out.equals(out.sort("day", "scope", "key", "metric"))
    assert out.schema == pl.Schema(TREND_DAILY_SCHEMA)


def test_null_cost_is_unknown_that_day_but_zero_in_window_sums():
    rows = [wf(d(-1), cost_usd=2.0), wf(d(0), cost_usd=None),
            wf(d(-20), repo="acme/web", cost_usd=None)]
    out = trends(rows)
    api = one(out, d(0), "repo", "acme/api", "cost_usd")
    assert api["value"] is None
    assert (api["value_7d"], api["value_28d"]) == (2.0, 2.0)
    # An all-unpriced window sums to 0; an idle day costs 0, not unknown.
    web = one(out, d(0), "repo", "acme/web", "cost_usd")
    assert (web["value"], web["value_7d"], web["value_28d"]) == (0.0, 0.0, 0.0)
    # Across a key's rows one priced workflow makes the day's cost known.
    mixed = trends([wf(d(0), workflow="a", cost_usd=None), wf(d(0), workflow="b", cost_usd=3.0)])
    assert one(mixed, d(0), "repo", "acme/api", "cost_usd")["value"] == 3.0
    assert one(mixed, d(0), "workflow", "acme/api:a", "cost_usd")["value"] is None


def test_float_costs_leave_no_residue_in_empty_windows():
    rows = [wf(d(-20), cost_usd=0.1), wf(d(-19), cost_usd=0.2), wf(d(-18), cost_usd=0.3)]
    out = trends(rows)
    row = one(out, d(0), "repo", "acme/api", "cost_usd")
    assert row["value_7d"] == 0.0 and row["prev_7d"] == 0.0
    assert row["change_pct_7d"] is None
    assert row["value_28d"] == pytest.approx(0.6)


def _call(day: dt.date, agent: str, user: str | None, tokens: int, cost: float | None,
          success: bool = True) -> dict[str, Any]:
    schema = LAKE_DATASETS["agent_calls"].schema
    row: dict[str, Any] = dict.fromkeys(schema)
    row.update(day=day, workflow_id=f"w-{day}-{user}", call_id=f"{agent}-{tokens}",
               agent_name=agent, provider="openai", model="gpt-4.1", user_id=user,
               input_tokens=tokens, output_tokens=10, cache_read_tokens=0,
               cache_write_tokens=0, prompt_tokens=tokens, total_tokens=tokens + 10,
               cost_usd=cost, success=success)
    return row


def test_agent_and_user_scopes_follow_their_kpis():
    calls = pl.DataFrame([
        _call(d(-10), "Triage", "ana", 1000, 0.5),
        _call(d(0), "Triage", "ana", 2000, 1.0),
        _call(d(0), "Triage", "bob", 3000, 1.5, success=False),
        _call(d(0), "Writer", None, 500, None),
        _call(d(1), "Writer", "bob", 700, 0.25),
    ], schema=LAKE_DATASETS["agent_calls"].schema)
    agents, users = kpi_agent_daily(calls), kpi_user_daily(calls)
    out = trend_daily(wf_frame([]), model_frame([]), agents, users, days=(d(0), d(1)),
                      config=NO_CONFIG)
    assert set(out["scope"]) == {"agent", "user"}
    assert set(out.filter(scope="agent")["metric"]) == set(TREND_METRICS) - {
        "runs", "avg_tokens_per_run", "billed_usd"}  # agent calls carry no billed credits
    triage = one(out, d(0), "agent", "Triage", "total_tokens")
    assert (triage["value"], triage["value_7d"], triage["value_28d"]) == (5020, 5020, 6030)
    assert one(out, d(0), "agent", "Triage", "requests")["value"] == 2
    assert one(out, d(0), "agent", "Triage", "error_rate")["value"] == 0.5
    assert one(out, d(0), "agent", "Writer", "cost_usd")["value"] is None  # unpriced, unknown
    assert one(out, d(1), "agent", "Writer", "cost_usd")["value_7d"] == 0.25
    assert one(out, d(0), "user", "bob", "cost_usd")["value"] == 1.5
    assert one(out, d(1), "user", "bob", "cost_usd")["value_7d"] == 1.75
    ana = one(out, d(0), "user", "ana", "cost_usd")
    assert (ana["value_7d"], ana["prev_7d"], ana["change_pct_7d"]) == (1.0, 0.5, 100.0)
    # calls without a user have no user row, and a user's day equals kpi_user_daily
    assert set(out.filter(scope="user")["key"]) == {"ana", "bob"}
    for row in users.filter(pl.col("day") >= d(0)).to_dicts():
        got = one(out, row["day"], "user", row["user_id"], "total_tokens")["value"]
        assert got == row["total_tokens"]


def test_billed_usd_sums_like_cost_and_stays_unknown_without_credits():
    rows = [wf(d(-8), billed_usd=2.0), wf(d(-1), billed_usd=1.5), wf(d(0), billed_usd=None)]
    out = trends(rows, first=0, last=0)
    billed = one(out, d(0), "workflow", "acme/api:build", "billed_usd")
    assert billed["value"] is None  # no request of the day reported credits: unknown
    assert (billed["value_7d"], billed["prev_7d"]) == (1.5, 2.0)
    assert billed["change_pct_7d"] == pytest.approx(-25.0)
    assert one(out, d(0), "org", "acme", "billed_usd")["value_28d"] == 3.5
