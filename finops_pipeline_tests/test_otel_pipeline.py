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
    materialize(root, D1, D2)

    calls = sql(root, "SELECT day, workflow_id, agent_name, provider, input_tokens, "
                      "cache_read_tokens, token_rule, cost_usd FROM fact_agent_calls "
                      "WHERE source = 'otel' ORDER BY day, workflow_id, call_id")
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
    assert (log[1]["rows_in"], log[1]["rows_valid"]) == (1, 1)
