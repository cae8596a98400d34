"""Agent calls end to end: event files and a pipeline result landed in `landing/agent-calls/`,
materialized through Dagster into the lake and the warehouse."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from finops_pipeline_tests.test_agent_events import SEED_004, call, end, start
from finops_pipeline_tests.test_pipeline_e2e import materialize, sql

D1, D2 = dt.date(2026, 3, 1), dt.date(2026, 3, 2)
PRICES = """
prices:
  - {provider: unknown, model: gpt-4o, effective_from: 2026-01-01, input_mtok: 100,
     output_mtok: 100}
  - {provider: unknown, model: gpt-4o-mini, effective_from: 2026-01-01, input_mtok: 20,
     output_mtok: 25}
"""


def write_jsonl(path: Path, events: list[dict | str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(e if isinstance(e, str) else json.dumps(e) for e in events))


def chain_call(cid: str, parent: str | None, agent: str, model: str, tokens: int) -> dict:
    # the seed-002 chain; 10:00 Mar 1 unless said
    return call(cid, parent, agent_name=agent, model=model, input_tokens=tokens * 2 // 3,
                output_tokens=tokens - tokens * 2 // 3)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    landing = root / "landing" / "agent-calls"
    # seed 002's chain, its events split over two files in no particular order; the
    # workflow starts 23:59 on Mar 1 and ends after midnight
    late = {"timestamp": "2026-03-02T00:00:30Z"}
    write_jsonl(landing / "app" / "part-2.jsonl", [
        chain_call("c4", "c3", "Summarizer", "gpt-4o-mini", 800) | late,
        end("w1") | {"timestamp": "2026-03-02T00:00:45Z"},
        chain_call("c2", "c1", "DataFetcher", "gpt-4o-mini", 500) | late,
    ])
    write_jsonl(landing / "app" / "part-1.jsonl", [
        chain_call("c3", "c1", "Analyzer", "gpt-4o", 2000) | late,
        start("w1", timestamp="2026-03-01T23:59:00Z"),
        chain_call("c1", None, "Orchestrator", "gpt-4o", 1500),
        chain_call("c1", None, "Orchestrator", "gpt-4o", 1500),  # the same event twice
        call("x1", "nope", wid="w2", input_tokens=-1),  # negative: quarantined
    ])
    (landing / "results").mkdir(parents=True)
    result = json.loads(json.dumps(SEED_004))
    result["metadata"]["timestamp_utc"] = "2026-03-02T12:00:00Z"
    (landing / "results" / "abc-123.json").write_text(json.dumps(result))
    (tmp_path / "finops.yaml").write_text(PRICES)
    return root


def test_agent_calls_reach_the_warehouse(data_dir: Path, monkeypatch):
    monkeypatch.setenv("FINOPS_CONFIG", str(data_dir.parent / "finops.yaml"))
    materialize(data_dir, D1, D2)
    calls = sql(data_dir, "SELECT day, workflow_id, call_id, agent_name, total_tokens, cost_usd "
                          "FROM fact_agent_calls ORDER BY workflow_id, call_id")
    # the workflow started on Mar 1: its calls after midnight belong to Mar 1 too
    w1 = calls.filter(pl.col("workflow_id") == "w1")
    assert w1["day"].unique().to_list() == [D1]
    assert w1["call_id"].to_list() == ["c1", "c2", "c3", "c4"]
    # the seed-004 result on Mar 2: its per-agent totals
    pm = calls.filter(pl.col("workflow_id") == "abc-123")
    assert pm["total_tokens"].to_list() == [3690, 6912, 3124]
    assert pm["day"].unique().to_list() == [D2]

    chain = sql(data_dir, "SELECT agent_name, depth, on_critical_path, critical_path_cost_usd "
                          "FROM call_chains WHERE workflow_id = 'w1' ORDER BY depth, call_id")
    path = chain.filter("on_critical_path")["agent_name"].to_list()
    assert path == ["Orchestrator", "Analyzer", "Summarizer"]
    assert chain["depth"].max() == 3
    costs = dict(sql(data_dir, "SELECT agent_name, cost_usd FROM fact_agent_calls "
                               "WHERE workflow_id = 'w1'").rows())
    assert chain["critical_path_cost_usd"][0] == pytest.approx(
        costs["Orchestrator"] + costs["Analyzer"] + costs["Summarizer"])
    assert costs["Orchestrator"] == pytest.approx(0.15) and costs["Analyzer"] == pytest.approx(0.20)

    ex = sql(data_dir, "SELECT day, workflow_id, status, duration_ms FROM "
                       "fact_workflow_executions ORDER BY workflow_id").rows()
    assert ex == [(D2, "abc-123", "succeeded", 45_230), (D1, "w1", "succeeded", 105_000)]

    agents = sql(data_dir, "SELECT agent_name, calls, models_used FROM kpi_agent_daily "
                           "WHERE day = '2026-03-01' ORDER BY agent_name").rows()
    assert agents == [("Analyzer", 1, "gpt-4o"), ("DataFetcher", 1, "gpt-4o-mini"),
                      ("Orchestrator", 1, "gpt-4o"), ("Summarizer", 1, "gpt-4o-mini")]

    log = sql(data_dir, "SELECT dataset, rows_in, rows_valid, rows_quarantined, "
                        "rows_duplicate FROM ingest_log WHERE source = 'agent_calls' "
                        "AND day = '2026-03-01' ORDER BY dataset").rows()
    assert log == [("agent_calls", 6, 4, 1, 1), ("workflow_executions", 1, 1, 0, 0)]
    q = pl.read_parquet(data_dir / "quarantine" / "agent_calls" / "day=2026-03-01" /
                        "data.parquet")
    assert q["_reason"].to_list() == ["input_tokens: a non-negative integer (got '-1')"]

    # the usual questions, as views
    top = sql(data_dir, "SELECT agent_name, calls FROM v_top_spending_agents").rows()
    assert top[0][0] in ("Dev", "Analyzer") and len(top) == 7  # 4 app agents + PM, Dev, QA
    users = sql(data_dir, "SELECT user_id, workflows, calls FROM v_top_spending_users").rows()
    assert users == [("user_123", 1, 4)]
    wf = sql(data_dir, "SELECT kind, workflow, runs, requests FROM v_expensive_workflows "
                       "ORDER BY workflow").rows()
    assert wf == [("app", "Generate Report", 1, 4), ("app", "pipeline", 1, 3)]
    attribution = sql(data_dir, "SELECT dimension, key, calls FROM v_cost_attribution "
                                "WHERE dimension IN ('agent', 'user', 'session') "
                                "AND day = '2026-03-01' ORDER BY dimension, key").rows()
    assert ("user", "user_123", 4) in attribution and ("session", "session_456", 4) in attribution
    session = sql(data_dir, "SELECT session_id, user_id, workflows, calls, classification "
                            "FROM kpi_session_daily").rows()
    assert session == [("session_456", "user_123", 1, 4, "healthy")]
    perf = sql(data_dir, "SELECT workflow_name, executions, succeeded, success_rate, calls, "
                         "avg_duration_seconds FROM kpi_app_workflow_daily ORDER BY day").rows()
    assert perf == [("Generate Report", 1, 1, 1.0, 4, 105.0), ("pipeline", 1, 1, 1.0, 3, 45.23)]
