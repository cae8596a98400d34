"""An OpenTelemetry-instrumented service for the demo: OTLP JSON trace lines, as the
OpenTelemetry Collector's `file` exporter writes them (GenAI semantic conventions).

`generate_otel_traces(landing_dir, days, end_day, seed)` writes `<day>.jsonl` per UTC day for
`triage-service`, a help-desk triage API. Each request is one trace:

    POST /triage                      SERVER span: user.id, gen_ai.conversation.id, no usage
      invoke_agent Classifier         gen_ai.operation.name invoke_agent, WITH usage summing
        chat claude-haiku-4-5           the chat spans beneath (what agent frameworks do; the
        execute_tool lookup_customer    pipeline counts the children, not the sum twice)
        chat claude-haiku-4-5
      invoke_agent Responder          no usage of its own
        chat gpt-4.1                  older `gen_ai.system` and `prompt_tokens` names

Input tokens follow OpenTelemetry (`input_tokens` includes cache reads and writes). A line is
one export batch of a few traces; the last batch of a day may hold a trace of the next day
(the source delivers it on both days). About 3% of requests fail (root span status error).
Deterministic for its arguments; re-runs replace what they wrote.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finops_pipeline.demo.writer import replace_files

SERVICE = "triage-service"
USERS = [f"user_{n}" for n in range(201, 209)]
BATCH = 4  # traces per export line


@dataclass(frozen=True)
class OtelSummary:
    days: int
    traces: int
    calls: int


def _attrs(values: dict[str, Any]) -> list[dict[str, Any]]:
    def value(v: Any) -> dict[str, Any]:
        if isinstance(v, bool):
            return {"boolValue": v}
        if isinstance(v, int):
            return {"intValue": str(v)}  # OTLP/JSON writes 64-bit integers as strings
        return {"stringValue": str(v)}
    return [{"key": k, "value": value(v)} for k, v in values.items()]


class _Ids:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def trace(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def span(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"


def _span(trace: str, span_id: str, parent: str | None, name: str, start_ns: int,
          end_ns: int, attrs: dict[str, Any], *, kind: int = 1, error: bool = False) -> dict:
    span = {"traceId": trace, "spanId": span_id, "name": name, "kind": kind,
            "startTimeUnixNano": str(start_ns), "endTimeUnixNano": str(end_ns),
            "attributes": _attrs(attrs), "status": {"code": 2} if error else {}}
    if parent:
        span["parentSpanId"] = parent
    return span


def _anthropic_chat(rng: random.Random, ids: _Ids, trace: str, parent: str, start: int,
                    prompt: int, out: int) -> tuple[dict, int, dict[str, int]]:
    uncached = int(prompt * rng.lognormvariate(0, 0.3))
    cache_read = 2_400  # the classifier's stable system prompt, cached
    output = max(5, int(out * rng.lognormvariate(0, 0.3)))
    end = start + int(rng.lognormvariate(20.3, 0.3))  # ~650 ms
    usage = {"input": uncached + cache_read, "output": output, "cache_read": cache_read}
    span = _span(trace, ids.span(), parent, "chat claude-haiku-4-5", start, end, {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-haiku-4-5", "gen_ai.response.model": "claude-haiku-4-5",
        "gen_ai.usage.input_tokens": usage["input"],
        "gen_ai.usage.output_tokens": output,
        "gen_ai.usage.cache_read.input_tokens": cache_read,
    }, kind=3)
    return span, end, usage


def _trace(rng: random.Random, ids: _Ids, start_ns: int, user: str,
           conversation: str) -> tuple[list[dict], int]:
    trace, root = ids.trace(), ids.span()
    spans: list[dict] = []
    t = start_ns + 2_000_000
    # Classifier: two chats around a tool call; its invoke_agent span sums their usage.
    classifier = ids.span()
    first, t, u1 = _anthropic_chat(rng, ids, trace, classifier, t, 900, 60)
    tool_end = t + int(rng.lognormvariate(18.4, 0.3))  # ~100 ms
    tool = _span(trace, ids.span(), classifier, "execute_tool lookup_customer", t, tool_end,
                 {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup_customer"})
    second, t, u2 = _anthropic_chat(rng, ids, trace, classifier, tool_end, 1_300, 40)
    spans += [_span(trace, classifier, root, "invoke_agent Classifier", start_ns + 1_000_000,
                    t, {
                        "gen_ai.operation.name": "invoke_agent",
                        "gen_ai.agent.name": "Classifier", "gen_ai.provider.name": "anthropic",
                        "gen_ai.request.model": "claude-haiku-4-5",
                        "gen_ai.usage.input_tokens": u1["input"] + u2["input"],
                        "gen_ai.usage.output_tokens": u1["output"] + u2["output"],
                        "gen_ai.usage.cache_read.input_tokens":
                            u1["cache_read"] + u2["cache_read"],
                    }), first, tool, second]
    # Responder: one or two chats on gpt-4.1, recorded with the older attribute names.
    responder = ids.span()
    responder_start = t
    chats = 1 + (rng.random() < 0.3)
    for _ in range(chats):
        prompt = int(5_500 * rng.lognormvariate(0, 0.35))
        output = int(700 * rng.lognormvariate(0, 0.3))
        end = t + int(rng.lognormvariate(21.6, 0.3))  # ~2.4 s
        spans.append(_span(trace, ids.span(), responder, "chat gpt-4.1", t, end, {
            "gen_ai.operation.name": "chat", "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4.1", "gen_ai.response.model": "gpt-4.1-2025-04-14",
            "gen_ai.usage.prompt_tokens": prompt, "gen_ai.usage.completion_tokens": output,
        }, kind=3))
        t = end
    spans.append(_span(trace, responder, root, "invoke_agent Responder", responder_start, t,
                       {"gen_ai.operation.name": "invoke_agent",
                        "gen_ai.agent.name": "Responder"}))
    failed = rng.random() < 0.03
    spans.insert(0, _span(trace, root, None, "POST /triage", start_ns, t + 3_000_000, {
        "http.request.method": "POST", "http.route": "/triage", "user.id": user,
        "gen_ai.conversation.id": conversation,
        "http.response.status_code": 500 if failed else 200}, kind=2, error=failed))
    return spans, 2 + chats  # the calls: the chats (the invoke_agent sum is not one)


def _line(spans: list[dict]) -> str:
    return json.dumps({"resourceSpans": [{
        "resource": {"attributes": _attrs({"service.name": SERVICE,
                                           "deployment.environment.name": "demo"})},
        "scopeSpans": [{"scope": {"name": "opentelemetry.instrumentation.genai"},
                        "spans": spans}],
    }]}, separators=(",", ":"))


def generate_otel_traces(landing_dir: Path, days: int, end_day: dt.date,
                         seed: int = 7) -> OtelSummary:
    """Write the service's traces for the `days` days ending at `end_day`."""
    rng = random.Random(seed * 104_729 + 3)
    ids = _Ids(rng)
    first = end_day - dt.timedelta(days=days - 1)
    files: dict[Path, bytes] = {}
    traces = calls = 0
    carry: list[dict] = []  # a trace started late on the previous day, exported with today's
    for n in range(days):
        day = first + dt.timedelta(days=n)
        midnight = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()
                       * 1e9)
        starts = sorted(rng.randint(7 * 3600, 86_399) for _ in range(rng.randint(18, 30)))
        batches: list[list[dict]] = []
        current, carry = carry, []  # yesterday's late trace shares today's first line
        for i, second in enumerate(starts):
            user = rng.choice(USERS)
            conversation = f"conv-{day:%Y%m%d}-{user}"
            spans, trace_calls = _trace(rng, ids, midnight + second * 1_000_000_000, user,
                                        conversation)
            traces += 1
            calls += trace_calls
            current += spans
            if (i + 1) % BATCH == 0:
                batches.append(current)
                current = []
        if current:
            batches.append(current)
        if n + 1 < days:  # a trace just before midnight, exported in the next day's first batch
            late = midnight + 86_399 * 1_000_000_000 + 500_000_000
            spans, trace_calls = _trace(rng, ids, late, rng.choice(USERS),
                                        f"conv-{day:%Y%m%d}-late")
            traces += 1
            calls += trace_calls
            carry = spans
        text = "".join(_line(b) + "\n" for b in batches if b)
        files[Path(f"{day}.jsonl")] = text.encode()
    replace_files(Path(landing_dir), files)
    return OtelSummary(days, traces, calls)
