"""Agent-call events and pipeline results -> agent_calls and workflow_executions of a day."""

from __future__ import annotations

import datetime as dt
import json
import random

import polars as pl
import pytest

from finops_pipeline.schemas.raw import RAW_KINDS
from finops_pipeline.transforms.agent_events import normalize_agent_events

DAY = dt.date(2026, 3, 1)
SCHEMA = RAW_KINDS["agent_events"].schema


def lines(events: list[dict | str], source: str = "a.jsonl") -> list[dict]:
    return [{"_source": source, "_line": i, "_format": "events",
             "_raw": e if isinstance(e, str) else json.dumps(e), "_decode_error": None}
            for i, e in enumerate(events, start=1)]


def run(rows: list[dict]):
    out = normalize_agent_events({"agent_events": pl.DataFrame(rows, schema=SCHEMA)}, DAY,
                                 "agent_calls")
    for n in out.values():  # the books always balance
        assert n.rows_in == n.rows.height + n.rejected.height + n.duplicates
    return out["agent_calls"], out["workflow_executions"]


def start(wid: str = "w1", **kw) -> dict:
    return {"type": "workflow_start", "workflow_id": wid, "workflow_name": "Generate Report",
            "user_id": "user_123", "session_id": "session_456",
            "organization_id": "org_789", "timestamp": "2026-03-01T10:00:00Z", **kw}


def call(cid: str, parent: str | None = None, wid: str = "w1", **kw) -> dict:
    return {"type": "call", "call_id": cid, "parent_call_id": parent, "workflow_id": wid,
            "agent_name": "DataAnalyzer", "model": "gpt-4o", "input_tokens": 1000,
            "output_tokens": 500, "latency_ms": 2340, "success": True,
            "timestamp": "2026-03-01T10:00:01Z", **kw}


def end(wid: str = "w1", success: bool = True) -> dict:
    return {"type": "workflow_end", "workflow_id": wid, "success": success,
            "timestamp": "2026-03-01T10:00:45Z"}


def test_events_in_any_order_make_calls_and_an_execution():
    events = [call("c2", "c1", cache_read_tokens=300), end(), call("c1"), start()]
    calls, execs = run(lines(events))
    c1, c2 = calls.rows.to_dicts()
    assert (c1["call_id"], c1["parent_call_id"], c2["parent_call_id"]) == ("c1", None, "c1")
    # the workflow's user, session and organization are on every call
    assert (c2["user_id"], c2["session_id"], c2["workflow_name"]) == (
        "user_123", "session_456", "Generate Report")
    assert (c2["input_tokens"], c2["cache_read_tokens"], c2["total_tokens"]) == (1000, 300, 1800)
    assert c2["provider"] == "unknown"  # priced from the model name
    ex = execs.rows.to_dicts()[0]
    assert (ex["status"], ex["success"], ex["duration_ms"]) == ("succeeded", True, 45_000)
    shuffled = events[:]
    random.Random(3).shuffle(shuffled)
    again, _ = run(lines(shuffled))
    assert again.rows.drop("_line").sort("call_id").equals(
        calls.rows.drop("_line").sort("call_id"))


def test_bad_events_are_quarantined_naming_the_field():
    events = [start(), call("c1", input_tokens=-5), call("c2", model=None),
              call("c3", timestamp="yesterday"), {"type": "bogus"}, "{not json", "[1, 2]",
              end("w9"), start("w1")]
    calls, execs = run(lines(events))
    reasons = dict(calls.rejected.select("_line", "_reason").rows())
    assert "input_tokens: a non-negative integer" in reasons[2]
    assert reasons[3] == "missing model (required for a call event)"
    assert "timestamp: an ISO 8601 timestamp" in reasons[4]
    assert "type" in reasons[5]
    assert reasons[6] == "invalid JSON"
    assert reasons[7] == "not a JSON object but a array"
    exec_reasons = dict(execs.rejected.select("_line", "_reason").rows())
    assert exec_reasons == {8: "workflow_end of a workflow whose workflow_start never arrived"}
    assert execs.duplicates == 1  # the second start of w1
    assert execs.rows["status"].to_list() == ["open"]  # never ended


def test_a_call_in_two_files_is_one_call_and_a_counted_duplicate():
    rows = lines([start(), call("c1")], "a.jsonl") + lines([call("c1")], "b.jsonl")
    calls, _ = run(rows)
    assert calls.rows.height == 1 and calls.duplicates == 1
    assert calls.rows["_source"].to_list() == ["a.jsonl"]


SEED_004 = {
    "run_id": "abc-123", "timestamp_utc": "2026-03-01T12:34:56Z",
    "metadata": {
        "run_id": "abc-123", "timestamp_utc": "2026-03-01T12:34:56Z", "duration_seconds": 45.23,
        "token_usage": {
            "agents": [
                {"agent_name": "PM", "usage": {
                    "input_tokens": 1234, "output_tokens": 2456, "total_tokens": 3690,
                    "model_name": "claude-3-5-sonnet-20241022", "estimated_cost_usd": 0.009270}},
                {"agent_name": "Dev", "usage": {
                    "input_tokens": 2345, "output_tokens": 4567, "total_tokens": 6912,
                    "model_name": "claude-3-5-sonnet-20241022", "estimated_cost_usd": 0.017355}},
                {"agent_name": "QA", "usage": {
                    "input_tokens": 1890, "output_tokens": 1234, "total_tokens": 3124,
                    "model_name": "claude-3-5-sonnet-20241022", "estimated_cost_usd": 0.007935}},
            ],
            "total_input_tokens": 5469, "total_output_tokens": 8257, "total_tokens": 13726,
            "estimated_total_cost_usd": 0.034560,
        },
    },
}


def result_row(doc: dict | str, source: str = "outgoing/abc-123.json") -> dict:
    return {"_source": source, "_line": None, "_format": "pipeline_result",
            "_raw": doc if isinstance(doc, str) else json.dumps(doc), "_decode_error": None}


def test_the_seed_004_result_reproduces_its_per_agent_totals():
    calls, execs = run([result_row(SEED_004)])
    rows = calls.rows.sort("call_id")
    assert rows.select("agent_name", "input_tokens", "output_tokens", "total_tokens").rows() == [
        ("PM", 1234, 2456, 3690), ("Dev", 2345, 4567, 6912), ("QA", 1890, 1234, 3124)]
    usage = SEED_004["metadata"]["token_usage"]
    assert rows["input_tokens"].sum() == usage["total_input_tokens"]
    assert rows["output_tokens"].sum() == usage["total_output_tokens"]
    assert rows["total_tokens"].sum() == usage["total_tokens"]
    assert rows["reported_cost_usd"].sum() == pytest.approx(usage["estimated_total_cost_usd"])
    assert rows["workflow_id"].unique().to_list() == ["abc-123"]
    ex = execs.rows.to_dicts()[0]
    assert (ex["workflow_id"], ex["duration_ms"]) == ("abc-123", 45_230)


def test_bad_pipeline_results_are_quarantined():
    no_agents = {"metadata": {"run_id": "x", "timestamp_utc": "2026-03-01T00:00:00Z"}}
    bad_agent = json.loads(json.dumps(SEED_004))
    bad_agent["metadata"]["token_usage"]["agents"][1]["usage"]["output_tokens"] = -1
    calls, _ = run([result_row(no_agents, "x.json"), result_row("{", "y.json"),
                    result_row(bad_agent, "z.json")])
    reasons = dict(calls.rejected.select("_source", "_reason").rows())
    assert reasons["x.json"] == "missing metadata.token_usage.agents"
    assert reasons["y.json"] == "invalid JSON"
    assert reasons["z.json"].startswith("agent 2: usage.output_tokens")
    assert calls.rows["agent_name"].to_list() == ["PM", "QA"]


def test_the_seed_004_efficiency_metrics_per_execution():
    from finops_pipeline.config import FileConfig
    from finops_pipeline.transforms.agent_kpis import execution_efficiency
    calls, _ = run([result_row(SEED_004)])
    got = execution_efficiency(calls.rows, config=FileConfig()).to_dicts()[0]
    # the seed's metadata.token_usage.efficiency_metrics
    assert round(got["avg_tokens_per_agent"], 2) == 4575.33
    assert got["max_agent_tokens"] == 6912
    assert round(got["context_window_use_pct"], 2) == 3.46  # of Claude 3.5 Sonnet's 200K
    assert round(got["io_ratio"], 3) == 0.662
    assert got["agent_calls"] == 3
    assert round(got["cost_per_agent_avg"], 6) == 0.01152
    # a window finops.yaml names wins over the catalog's
    small = execution_efficiency(calls.rows, config=FileConfig(
        context_windows={"claude-3-5-sonnet-20241022": 13_824})).to_dicts()[0]
    assert small["context_window_use_pct"] == 50.0
