"""OpenTelemetry traces -> call trees and executions (transforms/otel_traces.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from finops_pipeline.schemas.otlp import parse_otlp
from finops_pipeline.transforms.call_chains import call_chains
from finops_pipeline.transforms.otel_traces import MAX_LEVELS, ancestors, resolve_traces
from finops_pipeline_tests.test_otlp import START, TRACE, USAGE, _export, _lines, _span

SECOND = 1_000_000_000


def _usage(inp: int, out: int, **more: Any) -> dict[str, Any]:
    return {**USAGE, "gen_ai.usage.input_tokens": inp, "gen_ai.usage.output_tokens": out,
            **more}


def _resolve(*spans: dict[str, Any], service: str = "support-bot"):
    parsed = parse_otlp(_lines(_export(*spans, service=service)))
    assert parsed.rejected.height == 0, parsed.rejected["_reason"].to_list()
    return resolve_traces(parsed.calls, parsed.spans)


def _agent_trace(agent_usage: dict[str, Any] | None) -> list[dict[str, Any]]:
    """handle_ticket -> invoke_agent Triage -> (chat, execute_tool -> chat)."""
    agent_attrs = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "Triage",
                   **(agent_usage or {})}
    return [
        _span("a0a0a0a0a0a0a0a0", name="handle_ticket", startTimeUnixNano=str(START),
              endTimeUnixNano=str(START + 9 * SECOND),
              attributes={"user.id": "u-7", "gen_ai.conversation.id": "conv-1"}),
        _span("b1b1b1b1b1b1b1b1", parentSpanId="a0a0a0a0a0a0a0a0", name="invoke_agent Triage",
              startTimeUnixNano=str(START + SECOND), attributes=agent_attrs),
        _span("c2c2c2c2c2c2c2c2", parentSpanId="b1b1b1b1b1b1b1b1",
              startTimeUnixNano=str(START + 2 * SECOND), attributes=_usage(100, 10)),
        _span("d3d3d3d3d3d3d3d3", parentSpanId="b1b1b1b1b1b1b1b1", name="execute_tool search",
              startTimeUnixNano=str(START + 3 * SECOND),
              attributes={"gen_ai.operation.name": "execute_tool"}),
        _span("e4e4e4e4e4e4e4e4", parentSpanId="d3d3d3d3d3d3d3d3",
              startTimeUnixNano=str(START + 4 * SECOND),
              attributes=_usage(200, 20, **{"gen_ai.agent.name": "Searcher"})),
    ]


def test_invoke_agent_usage_summing_its_children_is_not_counted_twice() -> None:
    calls, executions, aggregates = _resolve(*_agent_trace(_usage(300, 30)))
    assert aggregates == 1
    assert sorted(calls["call_id"]) == ["c2c2c2c2c2c2c2c2", "e4e4e4e4e4e4e4e4"]
    assert calls["input_tokens"].sum() == 300  # the children's, once
    by_id = {r["call_id"]: r for r in calls.iter_rows(named=True)}
    # Both calls are roots: their only call ancestor was the aggregate.
    assert by_id["c2c2c2c2c2c2c2c2"]["parent_call_id"] is None
    assert by_id["e4e4e4e4e4e4e4e4"]["parent_call_id"] is None
    # A call without an agent name runs in its invoke_agent span's agent; its own name wins.
    assert by_id["c2c2c2c2c2c2c2c2"]["agent_name"] == "Triage"
    assert by_id["e4e4e4e4e4e4e4e4"]["agent_name"] == "Searcher"
    assert executions.height == 1


def test_invoke_agent_with_usage_and_nothing_below_is_the_call() -> None:
    spans = _agent_trace(_usage(300, 30))[:2]  # the root and the agent span only
    calls, _, aggregates = _resolve(*spans)
    assert aggregates == 0
    assert calls["call_id"].to_list() == ["b1b1b1b1b1b1b1b1"]
    assert calls["agent_name"].item() == "Triage"


def test_parent_call_is_the_nearest_call_ancestor_through_other_spans() -> None:
    # Without usage on the agent span: it is a plain span. The chat under the tool span is a
    # child of the chat that ran the tool when that chat is its ancestor.
    spans = _agent_trace(None)
    spans[3]["parentSpanId"] = "c2c2c2c2c2c2c2c2"  # the tool runs under the first chat
    calls, _, _ = _resolve(*spans)
    by_id = {r["call_id"]: r for r in calls.iter_rows(named=True)}
    assert by_id["c2c2c2c2c2c2c2c2"]["parent_call_id"] is None
    assert by_id["e4e4e4e4e4e4e4e4"]["parent_call_id"] == "c2c2c2c2c2c2c2c2"
    chains = call_chains(calls.with_columns(pl.lit(dt.date(2025, 12, 3)).alias("day"),
                                            pl.col("input_tokens").alias("total_tokens"),
                                            pl.lit(None, pl.Float64).alias("cost_usd")))
    assert chains.sort("call_id")["depth"].to_list() == [1, 2]
    assert chains["chain_problem"].null_count() == 2


def test_trace_is_an_execution_named_by_its_root() -> None:
    spans = _agent_trace(None)
    spans[0]["status"] = {"code": 2, "message": "ticket failed"}
    calls, executions, _ = _resolve(*spans)
    row = executions.row(0, named=True)
    assert row["workflow_id"] == TRACE
    assert row["workflow_name"] == "handle_ticket"
    assert (row["user_id"], row["session_id"]) == ("u-7", "conv-1")
    assert row["started_at"] == dt.datetime(2025, 12, 3, 13, 0, 0, 123456, tzinfo=dt.UTC)
    assert row["duration_ms"] == 9000
    assert (row["status"], row["success"]) == ("failed", False)
    assert row["_line"] == 1


def test_remote_parent_makes_a_root_and_the_earliest_root_names_the_trace() -> None:
    # api-proxy spans hang from the GitHub Actions job span, which is not in the file.
    first = _span("b1b1b1b1b1b1b1b1", parentSpanId="ffffffffffffffff", name="api_proxy.a",
                  attributes=_usage(10, 1))
    second = _span("c2c2c2c2c2c2c2c2", parentSpanId="ffffffffffffffff", name="api_proxy.b",
                   startTimeUnixNano=str(START + SECOND), attributes=_usage(20, 2))
    calls, executions, _ = _resolve(second, first, service="awf-api-proxy")
    assert calls["parent_call_id"].to_list() == [None, None]
    assert calls["agent_name"].to_list() == ["awf-api-proxy"] * 2
    assert executions["workflow_name"].item() == "api_proxy.a"
    assert executions["status"].item() == "succeeded"


def test_a_trace_without_calls_is_no_execution() -> None:
    calls, executions, _ = _resolve(_span("a0a0a0a0a0a0a0a0", name="healthcheck"))
    assert calls.height == 0 and executions.height == 0


def test_cycles_end_the_walk() -> None:
    spans = pl.DataFrame({
        "workflow_id": ["t"] * 3, "span_id": ["a", "b", "c"], "parent_span_id": ["b", "c", "a"]})
    found = ancestors(spans)
    assert found.height == 6  # each span reaches the other two, then the walk stops at itself
    assert found["level"].max() == 2
    deep = pl.DataFrame({"workflow_id": ["t"] * 100, "span_id": [str(i) for i in range(100)],
                         "parent_span_id": [None] + [str(i) for i in range(99)]})
    assert ancestors(deep)["level"].max() == MAX_LEVELS
