"""OTLP JSON trace lines (OpenTelemetry Collector file exporter) -> agent calls."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finops_pipeline.schemas.otlp import (
    EXCLUSIVE,
    INCLUSIVE_CACHE_READ,
    INCLUSIVE_CACHE_READ_WRITE,
    OTLP_CALLS_SCHEMA,
    OTLP_REJECTED_SCHEMA,
    OTLP_SPAN_COUNTS_SCHEMA,
    OTLP_SPANS_SCHEMA,
    otlp_calls,
    otlp_span_counts,
    parse_otlp,
)
from finops_pipeline.sources.jsontext import jsonl_frame

FIXTURE = Path(__file__).parent / "data" / "otlp" / "collector_traces.jsonl"
TRACE = "0af7651916cd43dd8448eb211c80319c"
START = 1_764_766_800_123_456_789  # 2025-12-03T13:00:00.123456789Z


def _lines(*texts: str, source: str = "traces.jsonl") -> pl.DataFrame:
    return pl.DataFrame(
        {"_source": [source] * len(texts), "_line": list(range(1, len(texts) + 1)),
         "_raw": list(texts)},
        schema={"_source": pl.String, "_line": pl.Int64, "_raw": pl.String})


def _value(v: Any) -> dict[str, Any]:
    if isinstance(v, dict):
        return v  # already an OTLP AnyValue
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    return {"stringValue": v}


def _attrs(d: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": _value(v)} for k, v in d.items()]


def _span(span_id: str = "b7ad6b7169203331", attributes: dict[str, Any] | None = None,
          **fields: Any) -> dict[str, Any]:
    span = {"traceId": TRACE, "spanId": span_id, "name": "chat", "kind": 3,
            "startTimeUnixNano": str(START), "endTimeUnixNano": str(START + 1_500_000_000),
            "attributes": _attrs(attributes or {}), "status": {}}
    span.update(fields)
    return {k: v for k, v in span.items() if v is not None}


def _export(*spans: dict[str, Any], service: str = "support-bot") -> str:
    return json.dumps({"resourceSpans": [{
        "resource": {"attributes": _attrs({"service.name": service})},
        "scopeSpans": [{"scope": {"name": "test"}, "spans": list(spans)}],
    }]})


USAGE = {"gen_ai.provider.name": "openai", "gen_ai.response.model": "gpt-4.1",
         "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 10}


def _one(*spans: dict[str, Any], **kw: Any) -> dict[str, Any]:
    calls, rejected = otlp_calls(_lines(_export(*spans, **kw)))
    assert rejected.height == 0, rejected["_reason"].to_list()
    assert calls.height == 1
    return calls.row(0, named=True)


def test_collector_file_disjoint_buckets_and_skipped_span() -> None:
    lines = jsonl_frame(FIXTURE.read_bytes()).with_columns(pl.lit("f.jsonl").alias("_source"))
    calls, rejected = otlp_calls(lines)
    assert rejected.height == 0
    assert calls.schema == pl.Schema(OTLP_CALLS_SCHEMA)
    app = calls.filter(pl.col("_line") == 1).to_dicts()
    assert len(app) == 1  # the HTTP span of the same line carries no usage: not a call
    call = app[0]
    # OTel: 1,200 input include 800 cache reads and 100 cache writes -> 300 uncached.
    assert (call["input_tokens"], call["cache_read_tokens"], call["cache_write_tokens"],
            call["output_tokens"], call["reasoning_tokens"]) == (300, 800, 100, 300, 120)
    assert call["token_rule"] == INCLUSIVE_CACHE_READ_WRITE
    assert call["call_id"] == "eee19b7ec3c1b174"
    assert call["parent_call_id"] == "eee19b7ec3c1b173"
    assert call["workflow_id"] == "5b8efff798038103d269b633813fc60c"
    assert call["agent_name"] == "triage"
    assert call["provider"] == "openai"
    assert call["model"] == "gpt-4.1-2025-04-14"  # the response model wins
    assert call["session_id"] == "conv-42"
    assert call["timestamp"] == dt.datetime(2025, 12, 3, 13, 0, 0, 123456, tzinfo=dt.UTC)
    assert call["latency_ms"] == 2500
    assert call["success"] is True
    assert call["request_id"] is None and call["reported_ai_credits"] is None
    assert call["span_name"] == "chat gpt-4.1"

    counts = otlp_span_counts(lines)
    assert counts.schema == pl.Schema(OTLP_SPAN_COUNTS_SCHEMA)
    assert counts.to_dicts() == [
        {"_source": "f.jsonl", "spans": 4, "calls": 3, "spans_without_usage": 1}]


def test_api_proxy_spans_follow_the_provider_convention() -> None:
    lines = jsonl_frame(FIXTURE.read_bytes()).with_columns(pl.lit("f.jsonl").alias("_source"))
    calls, _ = otlp_calls(lines)
    proxy = {r["request_id"]: r for r in calls.filter(pl.col("_line") == 2).to_dicts()}
    anthropic, copilot = proxy["req-a1"], proxy["req-c1"]
    # Anthropic's input excludes the cache: kept as is; the awf.* strings are the cache buckets.
    assert (anthropic["input_tokens"], anthropic["cache_read_tokens"],
            anthropic["cache_write_tokens"], anthropic["output_tokens"]) == (40, 15000, 2000, 900)
    assert anthropic["token_rule"] == EXCLUSIVE
    assert anthropic["reported_ai_credits"] == pytest.approx(4.2)
    assert anthropic["agent_name"] == "awf-api-proxy"  # no gen_ai.agent.name: service.name
    assert anthropic["success"] is True and anthropic["latency_ms"] == 4250
    # Copilot's input includes cache reads (even for a Claude model): 1,000 - 800.
    assert (copilot["input_tokens"], copilot["cache_read_tokens"]) == (200, 800)
    assert copilot["token_rule"] == INCLUSIVE_CACHE_READ
    assert copilot["success"] is False  # status ERROR


@pytest.mark.parametrize(("provider", "model", "rule", "uncached"), [
    ("openai", "gpt-5", INCLUSIVE_CACHE_READ, 70),
    ("github", "claude-sonnet-4.5", INCLUSIVE_CACHE_READ, 70),  # OTel name of Copilot
    ("gcp.gemini", "gemini-2.5-pro", INCLUSIVE_CACHE_READ, 70),
    ("Anthropic", "claude-opus-4-1", EXCLUSIVE, 100),
    ("opencode", "claude-sonnet-4-5", EXCLUSIVE, 100),  # several vendors: the model decides
])
def test_api_proxy_rule_by_provider(provider: str, model: str, rule: str,
                                    uncached: int) -> None:
    call = _one(_span(attributes={
        "gen_ai.provider.name": provider, "gen_ai.response.model": model,
        "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 5,
        "awf.cached_read": "30", "awf.cached_write": "0", "awf.reasoning": "2",
        "awf.request_id": "r1"}))
    assert (call["token_rule"], call["input_tokens"], call["cache_read_tokens"],
            call["reasoning_tokens"]) == (rule, uncached, 30, 2)
    assert call["provider"] == provider.lower()


def test_fallback_attributes() -> None:
    call = _one(_span(attributes={
        "gen_ai.system": "anthropic", "gen_ai.request.model": "claude-3-5-haiku",
        "gen_ai.usage.prompt_tokens": 50, "gen_ai.usage.completion_tokens": 7,
    }), service="billing-agent")
    assert call["provider"] == "anthropic"
    assert call["model"] == "claude-3-5-haiku"
    assert call["agent_name"] == "billing-agent"
    assert (call["input_tokens"], call["output_tokens"], call["cache_read_tokens"]) == (50, 7, 0)
    assert call["session_id"] is None


@pytest.mark.parametrize("parent", [None, "", "0000000000000000"])
def test_root_span_has_no_parent(parent: str | None) -> None:
    assert _one(_span(attributes=USAGE, parentSpanId=parent))["parent_call_id"] is None


@pytest.mark.parametrize(("status", "success"), [
    ({"code": 2, "message": "boom"}, False), ({"code": "STATUS_CODE_ERROR"}, False),
    ({"code": 1}, True), ({}, True), (None, True),
])
def test_status(status: dict[str, Any] | None, success: bool) -> None:
    assert _one(_span(attributes=USAGE, status=status))["success"] is success


def test_times_from_nanoseconds() -> None:
    call = _one(_span(attributes=USAGE, startTimeUnixNano=START,  # a JSON number works too
                      endTimeUnixNano=str(START + 1_234_600_000)))
    assert call["timestamp"] == dt.datetime(2025, 12, 3, 13, 0, 0, 123456, tzinfo=dt.UTC)
    assert call["latency_ms"] == 1235
    no_end = _one(_span(attributes=USAGE, endTimeUnixNano="0"))
    assert no_end["latency_ms"] is None and no_end["timestamp"] is not None


@pytest.mark.parametrize("value", [
    {"intValue": "1234"}, {"intValue": 1234}, {"doubleValue": 1234.0}, {"stringValue": "1234"},
])
def test_integer_encodings(value: dict[str, Any]) -> None:
    call = _one(_span(attributes={**USAGE, "gen_ai.usage.input_tokens": value}))
    assert call["input_tokens"] == 1234


def test_bad_lines_are_rejected_with_reasons() -> None:
    good = _export(_span(attributes=USAGE))
    lines = _lines(
        good,
        '{"resourceSpans": [',
        "[1, 2]",
        '{"hello": "world"}',
        '{"resourceMetrics": []}',
        '{"resourceSpans": 5}',
        '{"resourceSpans": []}',  # an empty export: nothing to report, nothing wrong
    )
    calls, rejected = otlp_calls(lines)
    assert calls["_line"].to_list() == [1]
    assert rejected.schema == pl.Schema(OTLP_REJECTED_SCHEMA)
    reasons = dict(zip(rejected["_line"], rejected["_reason"], strict=True))
    assert reasons == {
        2: "invalid JSON",
        3: "record is a JSON array, not an object",
        4: "not an OTLP trace export (no resourceSpans)",
        5: "an OTLP metrics or logs export, not traces (no resourceSpans)",
        6: "resourceSpans is a JSON number, not an array",
    }
    assert rejected.filter(pl.col("_line") == 2)["_raw"].item() == '{"resourceSpans": ['


def test_bad_spans_do_not_cost_the_good_spans_of_their_line() -> None:
    line = _export(
        _span("0000000000000001", attributes=USAGE),
        _span("0000000000000002", attributes={**USAGE, "gen_ai.usage.cache_read.input_tokens": 90,
                                              "gen_ai.usage.cache_creation.input_tokens": 20}),
        _span("0000000000000003", attributes={**USAGE, "gen_ai.usage.output_tokens": -4}),
        _span("0000000000000004", attributes={**USAGE, "gen_ai.usage.input_tokens": 12.5}),
        _span(None, attributes=USAGE),
        _span("0000000000000006", attributes=USAGE, startTimeUnixNano=None),
        _span("0000000000000007", attributes=USAGE, traceId=""),
        _span("0000000000000008", attributes={
            **USAGE, "gen_ai.provider.name": "copilot", "awf.cached_read": "150",
            "awf.ai_credits": "lots"}),
        _span("0000000000000009", attributes={"http.request.method": "GET"}),  # no usage
        _span("000000000000000a", attributes={
            **USAGE, "gen_ai.provider.name": "anthropic", "awf.cached_read": "5000"}),
        "not a span",
    )
    calls, rejected = otlp_calls(_lines(line))
    assert calls["call_id"].to_list() == ["0000000000000001", "000000000000000a"]
    assert calls["cache_read_tokens"].to_list() == [0, 5000]  # Anthropic: cache beside input
    assert rejected["_line"].to_list() == [1] * 8
    reasons = rejected["_reason"].to_list()
    assert reasons == [
        "cannot make token buckets disjoint: OpenTelemetry's input_tokens include cache reads "
        "and writes, yet cache_read (90) + cache_creation (20) > input_tokens (100)",
        "gen_ai.usage.output_tokens: negative (got '-4')",
        "gen_ai.usage.input_tokens: not an integer (got '12.5')",
        "span has no spanId",
        "span has no startTimeUnixNano",
        "span has no traceId",
        "awf.ai_credits: not a number (got 'lots'); cannot make token buckets disjoint: "
        "provider copilot counts cache reads inside input_tokens, yet awf.cached_read (150) > "
        "gen_ai.usage.input_tokens (100)",
        "span is a JSON string, not an object",
    ]
    # A rejected span's _raw is the span's own JSON.
    raw = json.loads(rejected["_raw"][0])
    assert raw["spanId"] == "0000000000000002"
    counts = otlp_span_counts(_lines(line)).row(0, named=True)
    assert (counts["spans"], counts["calls"], counts["spans_without_usage"]) == (11, 2, 1)


def test_values_of_the_wrong_shape_do_not_fail_the_frame() -> None:
    odd = json.dumps({"resourceSpans": [
        7,
        {"resource": "x", "scopeSpans": "x"},
        {"scopeSpans": [{"spans": {"not": "a list"}}, {"spans": [_span(
            "00000000000000bb", attributes=USAGE) | {"status": "ok"}]}]},
        {"scopeSpans": [{"spans": [{"traceId": TRACE, "spanId": "00000000000000cc",
                                    "attributes": {"gen_ai.usage.input_tokens": 5}}]}]},
        {"scopeSpans": [{"spans": [_span("00000000000000dd", attributes={}) | {
            "attributes": [{"key": "gen_ai.usage.input_tokens", "value": "12"},
                           {"key": "gen_ai.usage.output_tokens", "value": {"intValue": {}}}]}]}]},
    ]})
    calls, rejected = otlp_calls(_lines(odd, _export(_span(attributes=USAGE))))
    assert calls["call_id"].to_list() == ["00000000000000bb", "b7ad6b7169203331"]
    assert calls["success"].to_list() == [True, True]
    # A value that is an object where a number belongs is rejected, not crashed on.
    assert rejected["_reason"].to_list() == [
        "gen_ai.usage.output_tokens: not an integer (got '{}')"]


def test_decode_error_and_truncated_last_line() -> None:
    data = (_export(_span(attributes=USAGE)) + "\n" + '{"resourceSpans": [{"sco').encode()
    lines = jsonl_frame(data).with_columns(
        pl.lit("f").alias("_source"), (pl.col("_line") == 2).alias("_is_last_line"))
    calls, rejected = otlp_calls(lines)
    assert calls.height == 1
    assert rejected["_reason"].to_list() == [
        "invalid JSON (truncated last line: the writer was interrupted)"]
    bad_utf8 = jsonl_frame(b'{"resourceSpans": []}\n\xff\xfe\n').with_columns(
        pl.lit("g").alias("_source"))
    _, rejected = otlp_calls(bad_utf8)
    assert rejected.height == 1 and rejected["_reason"][0] != "invalid JSON"


def test_counts_list_every_source() -> None:
    lines = pl.concat([
        _lines(_export(_span(attributes=USAGE), _span("00000000000000ff")), source="a"),
        _lines("garbage", source="b"),
    ])
    assert otlp_span_counts(lines).to_dicts() == [
        {"_source": "a", "spans": 2, "calls": 1, "spans_without_usage": 1},
        {"_source": "b", "spans": 0, "calls": 0, "spans_without_usage": 0},
    ]


def test_empty_input() -> None:
    calls, rejected = otlp_calls(_lines())
    assert calls.height == 0 and calls.schema == pl.Schema(OTLP_CALLS_SCHEMA)
    assert rejected.height == 0 and rejected.schema == pl.Schema(OTLP_REJECTED_SCHEMA)
    counts = otlp_span_counts(_lines())
    assert counts.height == 0 and counts.schema == pl.Schema(OTLP_SPAN_COUNTS_SCHEMA)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.one_of(
    st.text(max_size=40),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                 lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(st.sampled_from(
                     ["resourceSpans", "scopeSpans", "spans", "attributes", "key", "value",
                      "intValue", "spanId", "traceId", "startTimeUnixNano"]), inner, max_size=3),
                 max_leaves=12).map(json.dumps),
), max_size=6))
def test_any_text_is_accounted_for_without_raising(texts: list[str]) -> None:
    lines = _lines(*texts)
    calls, rejected = otlp_calls(lines)
    assert calls.schema == pl.Schema(OTLP_CALLS_SCHEMA)
    counts = otlp_span_counts(lines)
    assert counts["calls"].sum() == calls.height
    # Every line is rejected, or decoded (into zero or more spans).
    assert set(rejected["_line"]) <= set(lines["_line"])


def test_rejections_in_input_order() -> None:
    bad_span = _span("00000000000000ee", attributes={**USAGE, "gen_ai.usage.input_tokens": -1})
    lines = _lines("oops", _export(bad_span), "[]")
    _, rejected = otlp_calls(lines)
    assert rejected["_line"].to_list() == [1, 2, 3]


def test_older_cache_attribute_names() -> None:
    call = _one(_span(attributes={
        **USAGE, "gen_ai.usage.cache_read_input_tokens": 60,
        "gen_ai.usage.cache_creation_input_tokens": 15}))
    assert (call["input_tokens"], call["cache_read_tokens"], call["cache_write_tokens"]) == (
        25, 60, 15)


def test_parse_otlp_gives_everything_from_one_decode() -> None:
    lines = _lines(_export(_span(attributes=USAGE), _span("00000000000000ff")), "nope")
    parsed = parse_otlp(lines)
    calls, rejected = otlp_calls(lines)
    assert parsed.calls.equals(calls) and parsed.rejected.equals(rejected)
    assert parsed.span_counts.equals(otlp_span_counts(lines))


def _fallback_record(**fields: Any) -> str:
    """A line of the api-proxy's /var/log/api-proxy/otel.jsonl (its FileSpanExporter)."""
    record = {
        "_schema": "otel-span/v0.25.0", "timestamp": "2025-12-03T13:00:02.000Z",
        "event": "otel_span", "traceId": TRACE, "spanId": "b7ad6b7169203331",
        "parentSpanId": None, "name": "api_proxy.anthropic.request", "kind": 2,
        "startTimeMs": 1_764_766_800_123, "endTimeMs": 1_764_766_801_623,
        "attributes": {
            "http.request.method": "POST", "gen_ai.provider.name": "anthropic",
            "gen_ai.operation.name": "chat", "gen_ai.request.stream": True,
            "awf.request_id": "req-1", "gen_ai.response.model": "claude-sonnet-4-5",
            "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 30,
            "awf.cached_read": "4000", "awf.cached_write": "500", "awf.reasoning": "0",
            "awf.ai_credits": "1.25", "http.response.status_code": 200},
        "events": [{"name": "gen_ai.usage", "attributes": {}}],
        "status": {"code": 1},
    }
    record.update(fields)
    return json.dumps(record)


def test_api_proxy_file_fallback_records_are_calls() -> None:
    """The api-proxy writes one span per line when no OTLP endpoint is set; its spans map like
    the OTLP export of the same span (Anthropic's input excludes the cache)."""
    parsed = parse_otlp(_lines(
        _fallback_record(),
        _fallback_record(spanId="c7ad6b7169203332", parentSpanId="b7ad6b7169203331",
                         status={"code": 2, "message": "HTTP 529"}),
        _fallback_record(spanId="d7ad6b7169203333", attributes={"http.request.method": "GET"}),
        _fallback_record(spanId="e7ad6b7169203334",
                         attributes={"gen_ai.usage.input_tokens": "many"}),
    ))
    calls = parsed.calls
    assert calls["call_id"].to_list() == ["b7ad6b7169203331", "c7ad6b7169203332"]
    first = calls.row(0, named=True)
    assert (first["input_tokens"], first["output_tokens"], first["cache_read_tokens"],
            first["cache_write_tokens"]) == (120, 30, 4000, 500)
    assert first["token_rule"] == EXCLUSIVE
    assert first["agent_name"] == "awf-api-proxy"  # the api-proxy's default service.name
    assert first["provider"] == "anthropic" and first["model"] == "claude-sonnet-4-5"
    assert first["reported_ai_credits"] == 1.25 and first["request_id"] == "req-1"
    assert first["timestamp"] == dt.datetime(2025, 12, 3, 13, 0, 0, 123000, tzinfo=dt.UTC)
    assert first["latency_ms"] == 1500 and first["success"] is True
    assert first["parent_call_id"] is None and first["operation"] == "chat"
    assert calls.row(1, named=True)["success"] is False
    assert calls.row(1, named=True)["parent_call_id"] == "b7ad6b7169203331"
    assert parsed.rejected["_line"].to_list() == [4]
    assert parsed.rejected["_reason"].item() == (
        "gen_ai.usage.input_tokens: not an integer (got 'many')")
    assert parsed.rejected["_raw"].item().startswith('{"_schema": "otel-span/')
    assert parsed.span_counts.row(0, named=True) == {
        "_source": "traces.jsonl", "spans": 4, "calls": 2, "spans_without_usage": 1}
    assert parsed.spans.height == 3  # the rejected span is not part of the structure


def test_spans_give_the_trace_structure() -> None:
    root = _span("a1a1a1a1a1a1a1a1", name="handle_ticket",
                 attributes={"user.id": "u-7", "gen_ai.conversation.id": "conv-1"},
                 status={"code": 2})
    agent = _span("b2b2b2b2b2b2b2b2", parentSpanId="a1a1a1a1a1a1a1a1",
                  name="invoke_agent Triage",
                  attributes={"gen_ai.operation.name": "invoke_agent",
                              "gen_ai.agent.name": "Triage"})
    chat = _span("c3c3c3c3c3c3c3c3", parentSpanId="b2b2b2b2b2b2b2b2",
                 attributes={**USAGE, "enduser.id": "u-8"})
    parsed = parse_otlp(_lines(_export(root, agent, chat)))
    spans = parsed.spans.sort("span_id")
    assert spans.schema == pl.Schema(OTLP_SPANS_SCHEMA)
    assert spans["is_call"].to_list() == [False, False, True]
    assert spans["operation"].to_list() == [None, "invoke_agent", None]
    assert spans["agent_attr"].to_list() == [None, "Triage", None]
    assert spans["user_id"].to_list() == ["u-7", None, "u-8"]
    assert spans["error"].to_list() == [True, False, False]
    assert spans["start_ns"][0] == START
    assert parsed.calls["user_id"].item() == "u-8"
