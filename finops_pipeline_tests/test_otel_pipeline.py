"""OpenTelemetry GenAI spans end to end: OTLP JSON lines in `landing/otel/` through Dagster."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import polars as pl

from finops_pipeline_tests.test_pipeline_e2e import materialize, sql

FIXTURE = Path(__file__).parent / "data" / "otlp" / "collector_traces.jsonl"
D1, D2 = dt.date(2025, 12, 3), dt.date(2025, 12, 4)


def span(trace: str, span_id: str, start: dt.datetime, tokens: int) -> dict:
    ns = int(start.timestamp() * 1e9)
    return {"traceId": trace, "spanId": span_id, "name": "chat gpt-4o",
            "startTimeUnixNano": str(ns), "endTimeUnixNano": str(ns + 2_000_000_000),
            "attributes": [
                {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
                {"key": "gen_ai.response.model", "value": {"stringValue": "gpt-4o"}},
                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": str(tokens)}},
                {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "10"}}]}


def test_otel_spans_become_agent_calls_on_their_trace_start_day(tmp_path: Path):
    root = tmp_path / "data"
    landing = root / "landing" / "otel"
    landing.mkdir(parents=True)
    shutil.copy(FIXTURE, landing / "collector.jsonl")
    # one export request holding a trace of Dec 3 (23:59) and one of Dec 4: each trace's
    # spans belong to the day it started, the Dec 3 trace's later span included
    late = dt.datetime(2025, 12, 3, 23, 59, tzinfo=dt.UTC)
    a, b = "a" * 32, "b" * 32
    spans = [span(a, "1" * 16, late, 100), span(a, "2" * 16, late + dt.timedelta(minutes=2), 200),
             span(b, "3" * 16, dt.datetime(2025, 12, 4, 1, tzinfo=dt.UTC), 300)]
    line = {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "night-agent"}}]},
        "scopeSpans": [{"spans": spans}]}]}
    (landing / "night.jsonl").write_text(json.dumps(line) + "\n{broken\n")
    # the api-proxy's own file fallback (/var/log/api-proxy/otel.jsonl): one span per line
    proxy = {"_schema": "otel-span/v0.25.0", "event": "otel_span", "traceId": "c" * 32,
             "spanId": "4" * 16, "parentSpanId": None, "name": "api_proxy.copilot.request",
             "startTimeMs": int(dt.datetime(2025, 12, 4, 9, tzinfo=dt.UTC).timestamp() * 1000),
             "endTimeMs": int(dt.datetime(2025, 12, 4, 9, 0, 3, tzinfo=dt.UTC).timestamp()
                              * 1000),
             "attributes": {"gen_ai.provider.name": "copilot", "awf.request_id": "r-1",
                            "gen_ai.response.model": "gpt-4.1",
                            "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 50,
                            "awf.cached_read": "600", "awf.cached_write": "0",
                            "awf.ai_credits": "0.5"},
             "status": {"code": 1}}
    (landing / "otel.jsonl").write_text(json.dumps(proxy) + "\n")
    materialize(root, D1, D2)

    calls = sql(root, "SELECT day, workflow_id, agent_name, provider, input_tokens, "
                      "cache_read_tokens, token_rule, cost_usd FROM fact_agent_calls "
                      "WHERE source = 'otel' ORDER BY day, workflow_id, call_id")
    is_proxy_file = pl.col("workflow_id") == "c" * 32
    assert calls.filter(is_proxy_file).select(
        "day", "agent_name", "input_tokens", "cache_read_tokens", "token_rule").rows() == [
        (D2, "awf-api-proxy", 400, 600, "inclusive_cache_read")]
    calls = calls.filter(~is_proxy_file)
    night = calls.filter(pl.col("agent_name") == "night-agent")
    assert night.select("day", "workflow_id", "input_tokens").rows() == [
        (D1, a, 100), (D1, a, 200), (D2, b, 300)]
    # the fixture: OpenTelemetry's inclusive input (1,100 with 800 cache reads) made disjoint,
    # and the agent firewall's spans by their provider's rule
    fixture = calls.filter(pl.col("agent_name") != "night-agent")
    assert sorted(fixture.select("input_tokens", "cache_read_tokens", "token_rule").rows()) == [
        (40, 15_000, "exclusive"), (200, 800, "inclusive_cache_read"),
        (300, 800, "inclusive_cache_read_write")]
    assert fixture["cost_usd"].null_count() == 0
    chains = sql(root, f"SELECT count(*) FROM call_chains WHERE workflow_id = '{a}'")
    assert chains.item() == 2
    log = sql(root, "SELECT day, rows_in, rows_valid, rows_quarantined, runs_skipped, "
                    "skip_reasons FROM ingest_log WHERE source = 'otel' "
                    "AND dataset = 'agent_calls' ORDER BY day").to_dicts()
    first = log[0]
    # 3 fixture calls + 2 night calls + the broken line; the fixture's span without usage
    assert (first["rows_in"], first["rows_valid"], first["rows_quarantined"]) == (6, 5, 1)
    assert first["runs_skipped"] == 1 and "without gen_ai.usage" in first["skip_reasons"]
    assert (log[1]["rows_in"], log[1]["rows_valid"]) == (2, 2)  # trace b, the proxy file

    # each trace with a call is a workflow execution on the day it started
    executions = sql(root, "SELECT day, workflow_id, workflow_name, status, duration_ms "
                           "FROM fact_workflow_executions WHERE source = 'otel' "
                           "ORDER BY day, workflow_id")
    assert executions.filter(pl.col("workflow_id").is_in([a, b, "c" * 32])).rows() == [
        (D1, a, "chat gpt-4o", "succeeded", 122_000),
        (D2, b, "chat gpt-4o", "succeeded", 2_000),
        (D2, "c" * 32, "api_proxy.copilot.request", "succeeded", 3_000)]
    fixture_traces = fixture.select("workflow_id").n_unique()
    assert executions.height == 3 + fixture_traces
