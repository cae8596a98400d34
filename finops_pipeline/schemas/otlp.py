"""OpenTelemetry Collector file-exporter lines (OTLP JSON traces) -> canonical agent-call rows.

Input: one `ExportTraceServiceRequest` per line, as the Collector's `file` exporter writes it
(OTLP/JSON: lowerCamelCase keys, hex `traceId`/`spanId`, 64-bit integers such as
`startTimeUnixNano` and `intValue` as JSON strings, though numbers are accepted too)::

    {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name",
                                                      "value": {"stringValue": "bot"}}]},
                        "scopeSpans": [{"scope": {...}, "spans": [{"traceId": ..., "spanId": ...,
                            "parentSpanId": ..., "name": ..., "startTimeUnixNano": "17...",
                            "endTimeUnixNano": "17...", "attributes": [...],
                            "status": {"code": 2}}]}]}]}

A span is an agent call when it carries any `gen_ai.usage.*` attribute; other spans (HTTP,
tool, framework spans) are skipped and counted by `otlp_span_counts` (`parse_otlp` gives calls,
rejections and counts from one decode). Mapping of a call:

==================  ===================================================================
call_id             `spanId` (lower-cased)
parent_call_id      `parentSpanId`; null when absent, empty or all zeros
workflow_id         `traceId` (lower-cased)
agent_name          `gen_ai.agent.name`, else the resource's `service.name`
provider            `gen_ai.provider.name`, else the older `gen_ai.system` (lower-cased)
model               `gen_ai.response.model`, else `gen_ai.request.model`
session_id          `gen_ai.conversation.id`
timestamp           `startTimeUnixNano` (UTC, microseconds)
latency_ms          `endTimeUnixNano - startTimeUnixNano`, rounded; null without a valid end
success             `status.code` is not 2 / `STATUS_CODE_ERROR` (unset and OK succeed)
request_id          `awf.request_id` (agent firewall api-proxy spans)
reported_ai_credits `awf.ai_credits` (a string attribute on api-proxy spans)
span_name           `name`
==================  ===================================================================

Token buckets are disjoint (DESIGN section 5); two conventions, recorded in `token_rule`:

* OpenTelemetry GenAI semantic conventions (`token_rule` = `inclusive_cache_read_write`):
  `gen_ai.usage.input_tokens` (older: `gen_ai.usage.prompt_tokens`) INCLUDES
  `gen_ai.usage.cache_read.input_tokens` and `gen_ai.usage.cache_creation.input_tokens`
  (older: `gen_ai.usage.cache_read_input_tokens`, `gen_ai.usage.cache_creation_input_tokens`),
  so input_tokens = input - cache_read - cache_creation. `gen_ai.usage.output_tokens` (older:
  `gen_ai.usage.completion_tokens`) includes `gen_ai.usage.reasoning.output_tokens`.
* The agent firewall's api-proxy (gh-aw-firewall; any `awf.*` attribute on the span): it sets
  `gen_ai.provider.name`, `gen_ai.response.model`, `gen_ai.usage.input_tokens` and
  `gen_ai.usage.output_tokens` as the provider reported them, and the cache and reasoning
  counts as STRING attributes `awf.cached_read`, `awf.cached_write`, `awf.reasoning`, beside
  `awf.ai_credits` and `awf.request_id`. Its input count follows the provider's own
  convention, exactly as its token-usage.jsonl does, so the rule of `token_rules.token_rule` is
  applied: Anthropic's input excludes the cache (`exclusive`, kept as is); OpenAI's, Copilot's
  and Gemini's include cache reads (`inclusive_cache_read`: input - awf.cached_read).
  OTel-style provider names are folded first (`github` -> copilot, `google`/`gcp.gemini` ->
  gemini, `azure`/`azure.ai.openai` -> openai); an unknown provider is decided by its model.

The api-proxy's own file fallback (`/var/log/api-proxy/otel.jsonl`, written when no OTLP
endpoint is configured) holds one span per line (`{"event": "otel_span", traceId, spanId,
parentSpanId, name, startTimeMs, endTimeMs, attributes: {key: value}, status}`) and no
resource: such a line is read as that one span, with `service.name` `awf-api-proxy` (the
api-proxy's default).

`ParsedOtlp.spans` keeps every readable span, calls or not (`OTLP_SPANS_SCHEMA`): the shape of
each trace, which `transforms/otel_traces.py` turns into call trees and executions.

Rejected, with `_reason` (a bad span never costs the good spans of its line; a rejected span's
`_raw` is the span's JSON): a line that is not JSON, not an object, or not an OTLP trace export
(no `resourceSpans` array: metrics/logs exports are named as such); a span element that is not
an object; a usage span without `traceId`, `spanId` or start time; a token count that is not a
non-negative integer; an `awf.ai_credits` that is not a number; numbers that cannot be made
disjoint (cache larger than an inclusive input).

JSON is decoded by DuckDB's `json_transform`, which turns a value of the wrong shape into a
null instead of failing the whole frame as polars' `json_decode` does (a single
`"attributes": {}` would otherwise lose the file); the rest is polars expressions, with no
Python loop over lines or spans.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import polars as pl

from finops_pipeline.schemas.json_engine import duckdb_columns, int_from_text
from finops_pipeline.schemas.token_rules import EXCLUSIVE, INCLUSIVE_CACHE_READ, token_rule

#: OpenTelemetry's convention: input_tokens includes cache reads and cache writes.
INCLUSIVE_CACHE_READ_WRITE = "inclusive_cache_read_write"

OTLP_CALLS_SCHEMA: dict[str, pl.DataType] = {
    "_source": pl.String(), "_line": pl.Int64(), "call_id": pl.String(),
    "parent_call_id": pl.String(), "workflow_id": pl.String(), "agent_name": pl.String(),
    "provider": pl.String(), "model": pl.String(), "session_id": pl.String(),
    "input_tokens": pl.Int64(), "output_tokens": pl.Int64(), "cache_read_tokens": pl.Int64(),
    "cache_write_tokens": pl.Int64(), "reasoning_tokens": pl.Int64(),
    "token_rule": pl.String(), "latency_ms": pl.Int64(),
    "timestamp": pl.Datetime("us", "UTC"), "success": pl.Boolean(),
    "request_id": pl.String(), "reported_ai_credits": pl.Float64(), "span_name": pl.String(),
    "operation": pl.String(), "user_id": pl.String(),
}
#: Every span that is not rejected (calls and spans without usage): the trace's structure.
OTLP_SPANS_SCHEMA: dict[str, pl.DataType] = {
    "_source": pl.String(), "_line": pl.Int64(), "workflow_id": pl.String(),
    "span_id": pl.String(), "parent_span_id": pl.String(), "span_name": pl.String(),
    "is_call": pl.Boolean(), "operation": pl.String(), "agent_attr": pl.String(),
    "service_name": pl.String(), "user_id": pl.String(), "session_id": pl.String(),
    "start_ns": pl.Int64(), "end_ns": pl.Int64(), "error": pl.Boolean(),
}
OTLP_REJECTED_SCHEMA: dict[str, pl.DataType] = {
    "_source": pl.String(), "_line": pl.Int64(), "_reason": pl.String(), "_raw": pl.String(),
}
OTLP_SPAN_COUNTS_SCHEMA: dict[str, pl.DataType] = {
    "_source": pl.String(), "spans": pl.Int64(), "calls": pl.Int64(),
    "spans_without_usage": pl.Int64(),
}

USAGE_PREFIX = "gen_ai.usage."
AWF_PREFIX = "awf."
# OpenTelemetry GenAI semantic conventions.
INPUT = "gen_ai.usage.input_tokens"
OUTPUT = "gen_ai.usage.output_tokens"
CACHE_READ = "gen_ai.usage.cache_read.input_tokens"
CACHE_CREATION = "gen_ai.usage.cache_creation.input_tokens"
REASONING = "gen_ai.usage.reasoning.output_tokens"
OLD_INPUT = "gen_ai.usage.prompt_tokens"  # before semconv 1.27
OLD_OUTPUT = "gen_ai.usage.completion_tokens"
OLD_CACHE_READ = "gen_ai.usage.cache_read_input_tokens"  # OpenLLMetry, older Sentry
OLD_CACHE_CREATION = "gen_ai.usage.cache_creation_input_tokens"
# The agent firewall's api-proxy (all string attributes).
AWF_CACHED_READ = "awf.cached_read"
AWF_CACHED_WRITE = "awf.cached_write"
AWF_REASONING = "awf.reasoning"
AWF_AI_CREDITS = "awf.ai_credits"
AWF_REQUEST_ID = "awf.request_id"
OPERATION = "gen_ai.operation.name"  # chat, invoke_agent, execute_tool, ...
USER_ID = "user.id"
OLD_USER_ID = "enduser.id"  # deprecated in favour of user.id
#: Service name of the api-proxy's otel.jsonl records, which carry no resource.
API_PROXY_SERVICE = "awf-api-proxy"
#: Token bucket -> (OpenTelemetry attributes, newest first; the api-proxy's attributes).
BUCKETS = {
    "input": ((INPUT, OLD_INPUT), (INPUT, OLD_INPUT)),
    "output": ((OUTPUT, OLD_OUTPUT), (OUTPUT, OLD_OUTPUT)),
    "cache_read": ((CACHE_READ, OLD_CACHE_READ), (AWF_CACHED_READ,)),
    "cache_write": ((CACHE_CREATION, OLD_CACHE_CREATION), (AWF_CACHED_WRITE,)),
    "reasoning": ((REASONING,), (AWF_REASONING,)),
}
SPAN_ATTRIBUTES = (
    INPUT, OUTPUT, CACHE_READ, CACHE_CREATION, REASONING, OLD_INPUT, OLD_OUTPUT,
    OLD_CACHE_READ, OLD_CACHE_CREATION,
    AWF_CACHED_READ, AWF_CACHED_WRITE, AWF_REASONING, AWF_AI_CREDITS, AWF_REQUEST_ID,
    "gen_ai.agent.name", "gen_ai.provider.name", "gen_ai.system", "gen_ai.response.model",
    "gen_ai.request.model", "gen_ai.conversation.id", OPERATION, USER_ID, OLD_USER_ID,
)
#: OTel-style provider names -> the api-proxy provider whose input convention they share.
PROVIDER_ALIASES = {
    "github": "copilot", "github_copilot": "copilot", "google": "gemini",
    "gcp.gemini": "gemini", "gcp.gen_ai": "gemini", "azure": "openai",
    "azure.ai.openai": "openai",
}
ERROR_STATUS_CODES = ("2", "STATUS_CODE_ERROR")
_MAX_VALUE_CHARS = 80

# json_transform structures: a field of another shape becomes null, never an error; scalars
# into VARCHAR keep their text ({"intValue": 12} and {"intValue": "12"} both give "12").
_VALUE = {"stringValue": "VARCHAR", "intValue": "VARCHAR", "doubleValue": "VARCHAR",
          "boolValue": "VARCHAR"}
_ATTRIBUTES = [{"key": "VARCHAR", "value": _VALUE}]
_EXPORT_STRUCTURE = json.dumps({"resourceSpans": [{
    "resource": {"attributes": _ATTRIBUTES},
    "scopeSpans": [{"spans": ["JSON"]}],  # each span kept as its JSON text for the quarantine
}]})
_SPAN_STRUCTURE = json.dumps({
    "traceId": "VARCHAR", "spanId": "VARCHAR", "parentSpanId": "VARCHAR", "name": "VARCHAR",
    "startTimeUnixNano": "VARCHAR", "endTimeUnixNano": "VARCHAR", "attributes": _ATTRIBUTES,
    "status": {"code": "VARCHAR"},
})
# The api-proxy's file fallback (/var/log/api-proxy/otel.jsonl, no OTLP endpoint set): one
# span per line, {"event": "otel_span", traceId, spanId, parentSpanId, name, startTimeMs,
# endTimeMs, attributes: {key: value}, status: {code}}, rebuilt here as an OTLP span (times
# to nanoseconds, the attribute object to OTLP's key/value list, every value as text).
_FALLBACK_SPAN = """{
    'traceId': json_extract_string(_raw, '$.traceId'),
    'spanId': json_extract_string(_raw, '$.spanId'),
    'parentSpanId': json_extract_string(_raw, '$.parentSpanId'),
    'name': json_extract_string(_raw, '$.name'),
    'startTimeUnixNano': coalesce(
        CAST(TRY_CAST(json_extract_string(_raw, '$.startTimeMs') AS HUGEINT) * 1000000
             AS VARCHAR), json_extract_string(_raw, '$.startTimeMs')),
    'endTimeUnixNano': CAST(TRY_CAST(json_extract_string(_raw, '$.endTimeMs') AS HUGEINT)
                            * 1000000 AS VARCHAR),
    'attributes': list_transform(
        map_entries(json_transform(json_extract(_raw, '$.attributes'),
                                   '"MAP(VARCHAR, JSON)"')),
        lambda e: {'key': e.key, 'value': {'stringValue': json_extract_string(e.value, '$')}}),
    'status': {'code': json_extract_string(_raw, '$.status.code')}}"""
_JSON_TYPE_NAMES = {"VARCHAR": "string", "BIGINT": "number", "UBIGINT": "number",
                    "DOUBLE": "number", "BOOLEAN": "boolean", "OBJECT": "object",
                    "ARRAY": "array", "NULL": "null"}

c = pl.col


def _type_name(expr: pl.Expr) -> pl.Expr:
    return expr.replace(_JSON_TYPE_NAMES).str.to_lowercase()


def _blank_to_null(expr: pl.Expr) -> pl.Expr:
    text = expr.str.strip_chars()
    return pl.when(text != "").then(text)


def _attribute_texts(attributes: pl.Expr) -> pl.Expr:
    """OTLP `[{key, value: {stringValue|intValue|doubleValue|boolValue}}]` -> `[{key, text}]`."""
    value = pl.element().struct.field("value")
    return attributes.list.eval(pl.struct(
        pl.element().struct.field("key"),
        _blank_to_null(pl.coalesce(value.struct.field(f) for f in _VALUE)).alias("text"),
    ))


def _attribute(texts: str, key: str) -> pl.Expr:
    """The text of attribute `key` (the first, should a key repeat) of a `[{key, text}]` list."""
    element = pl.element()
    return (c(texts).list.eval(element.filter(element.struct.field("key") == key)
                               .struct.field("text"))
            .list.first())


def _any_key(texts: str, prefix: str) -> pl.Expr:
    return (c(texts).list.eval(pl.element().struct.field("key").str.starts_with(prefix))
            .list.any().fill_null(False))


def _line_reason(has_last_line: bool) -> pl.Expr:
    reason = pl.when(c("_decode_error").is_not_null()).then(c("_decode_error"))
    if has_last_line:
        reason = reason.when(~c("_json_ok") & c("_is_last_line")).then(
            pl.lit("invalid JSON (truncated last line: the writer was interrupted)"))
    return (
        reason.when(~c("_json_ok")).then(pl.lit("invalid JSON"))
        .when(c("_json_type") != "OBJECT")
        .then(pl.lit("record is a JSON ") + _type_name(c("_json_type"))
              + pl.lit(", not an object"))
        .when(c("_spans_type").is_null() & c("_other_signal"))
        .then(pl.lit("an OTLP metrics or logs export, not traces (no resourceSpans)"))
        # an api-proxy otel.jsonl record: one span, read as such
        .when(c("_fallback_span").is_not_null()).then(pl.lit(None, pl.String))
        .when(c("_spans_type").is_null())
        .then(pl.lit("not an OTLP trace export (no resourceSpans)"))
        .when(c("_spans_type") != "ARRAY")
        .then(pl.lit("resourceSpans is a JSON ") + _type_name(c("_spans_type"))
              + pl.lit(", not an array"))
    )


def _decode(lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(one row per span element with its decoded fields, rejected lines)."""
    extra = [n for n in ("_decode_error", "_is_last_line") if n in lines.columns]
    src = lines.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("_order"),
                       "_source", "_line", "_raw", *extra)
    # Each JSON function re-parses the text: the diagnostics run only where no array was found.
    decoded = duckdb_columns(src, "_raw", f"""
        WITH t AS (
            SELECT _i, _raw, coalesce(json_valid(_raw), false) AS _json_ok FROM src),
        d AS (
            SELECT *, CASE WHEN _json_ok
                           THEN json_transform(_raw, '{_EXPORT_STRUCTURE}') END AS _export
            FROM t),
        e AS (SELECT *, _json_ok AND d._export.resourceSpans IS NULL AS _odd FROM d)
        SELECT _i, _json_ok, _export,
               CASE WHEN _odd THEN json_type(_raw) WHEN _json_ok THEN 'OBJECT' END AS _json_type,
               CASE WHEN _odd THEN json_type(_raw, '$.resourceSpans')
                    WHEN _json_ok THEN 'ARRAY' END AS _spans_type,
               CASE WHEN _odd THEN json_exists(_raw, '$.resourceMetrics')
                                   OR json_exists(_raw, '$.resourceLogs') END AS _other_signal,
               CASE WHEN _odd AND json_extract_string(_raw, '$.event') = 'otel_span'
                    THEN json_transform(to_json({_FALLBACK_SPAN}), '{_SPAN_STRUCTURE}')
               END AS _fallback_span
        FROM e""")
    if "_decode_error" not in extra:
        decoded = decoded.with_columns(pl.lit(None, pl.String).alias("_decode_error"))
    decoded = decoded.with_columns(
        _line_reason("_is_last_line" in extra).alias("_reason"))
    rejected = decoded.filter(c("_reason").is_not_null()).select(
        "_order", "_source", "_line", "_reason", "_raw")

    resources = (
        decoded.filter(c("_reason").is_null())
        .select("_order", "_source", "_line", c("_export").struct.field("resourceSpans"))
        .explode("resourceSpans")
        .select("_order", "_source", "_line",
                _attribute_texts(c("resourceSpans").struct.field("resource")
                                 .struct.field("attributes")).alias("_resource"),
                c("resourceSpans").struct.field("scopeSpans"))
        .select("_order", "_source", "_line",
                _attribute("_resource", "service.name").alias("_service_name"),
                "scopeSpans")
    )
    spans = (
        resources.explode("scopeSpans")
        .select("_order", "_source", "_line", "_service_name",
                c("scopeSpans").struct.field("spans").alias("_span_json"))
        .explode("_span_json")
        .filter(c("_span_json").is_not_null())  # empty lists and JSON nulls: no span
    )
    spans = duckdb_columns(spans, "_span_json", f"""
        SELECT _i, json_type(_span_json) AS _span_type,
               CASE WHEN json_type(_span_json) = 'OBJECT'
                    THEN json_transform(_span_json, '{_SPAN_STRUCTURE}') END AS _span
        FROM src""")
    fallback = decoded.filter(c("_fallback_span").is_not_null()).select(
        "_order", "_source", "_line", pl.lit(API_PROXY_SERVICE).alias("_service_name"),
        c("_raw").alias("_span_json"), pl.lit("OBJECT").alias("_span_type"),
        c("_fallback_span").alias("_span"))
    spans = pl.concat([spans, fallback], how="vertical_relaxed").sort(
        "_order", maintain_order=True)
    return spans, rejected


def _int_reason(text: str, value: str, attr: pl.Expr) -> pl.Expr:
    got = pl.lit(" (got '") + c(text).str.slice(0, _MAX_VALUE_CHARS) + pl.lit("')")
    return (pl.when(c(text).is_not_null() & c(value).is_null())
            .then(attr + pl.lit(": not an integer") + got)
            .when(c(value) < 0).then(attr + pl.lit(": negative") + got))


def _id(expr: pl.Expr) -> pl.Expr:
    """A hex span/trace id, lower-cased; null when blank or all zeros (OTel's invalid id)."""
    text = _blank_to_null(expr).str.to_lowercase()
    return pl.when(~text.str.contains("^0+$")).then(text)


def _named_text(names: tuple[str, ...]) -> tuple[pl.Expr, pl.Expr]:
    """(the first present attribute of `names`, its name; the first name when none is)."""
    text = pl.coalesce([c(n) for n in names])
    attr = pl.coalesce([pl.when(c(n).is_not_null()).then(pl.lit(n)) for n in names])
    return text, attr.fill_null(pl.lit(names[0]))


def _bucket_text(otel: tuple[str, ...], awf_names: tuple[str, ...],
                 awf: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    otel_text, otel_attr = _named_text(otel)
    awf_text, awf_attr = _named_text(awf_names)
    return (pl.when(awf).then(awf_text).otherwise(otel_text),
            pl.when(awf).then(awf_attr).otherwise(otel_attr))


def _classify(lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(every span with `_kind` call/skip/reject, `_reason` and the call columns; bad lines)."""
    spans, rejected_lines = _decode(lines)
    span = c("_span")
    spans = spans.with_columns(
        _attribute_texts(span.struct.field("attributes")).alias("_attrs"),
    ).with_columns(
        *[_attribute("_attrs", a).alias(a) for a in SPAN_ATTRIBUTES],
        _any_key("_attrs", USAGE_PREFIX).alias("_has_usage"),
        _any_key("_attrs", AWF_PREFIX).alias("_awf"),
        _id(span.struct.field("traceId")).alias("workflow_id"),
        _id(span.struct.field("spanId")).alias("call_id"),
        _id(span.struct.field("parentSpanId")).alias("parent_call_id"),
        _blank_to_null(span.struct.field("startTimeUnixNano")).alias("_start_text"),
        int_from_text(_blank_to_null(span.struct.field("startTimeUnixNano"))).alias("_start"),
        int_from_text(_blank_to_null(span.struct.field("endTimeUnixNano"))).alias("_end"),
    )

    awf = c("_awf")
    texts = {  # bucket -> (the text its convention reads, the attribute it came from)
        bucket: _bucket_text(otel, awf_names, awf) for bucket, (otel, awf_names) in BUCKETS.items()
    }
    provider = _blank_to_null(pl.coalesce(c("gen_ai.provider.name"), c("gen_ai.system"))) \
        .str.to_lowercase()
    model = _blank_to_null(pl.coalesce(c("gen_ai.response.model"), c("gen_ai.request.model")))
    spans = spans.with_columns(
        *[t.alias(f"_{b}_text") for b, (t, _) in texts.items()],
        *[a.alias(f"_{b}_attr") for b, (_, a) in texts.items()],
        provider.alias("provider"),
        model.alias("model"),
    ).with_columns(
        *[int_from_text(c(f"_{b}_text")).alias(f"_{b}") for b in texts],
        c(AWF_AI_CREDITS).cast(pl.Float64, strict=False).alias("reported_ai_credits"),
        pl.when(~awf).then(pl.lit(INCLUSIVE_CACHE_READ_WRITE))
        .otherwise(token_rule(c("provider").replace(PROVIDER_ALIASES), c("model")))
        .alias("token_rule"),
    ).with_columns(
        # Absent counts are 0; present but unparsable ones stay null (and are rejected).
        *[pl.when(c(f"_{b}_text").is_null()).then(pl.lit(0, pl.Int64)).otherwise(c(f"_{b}"))
          .alias(f"_{b}") for b in texts],
    )

    def num(name: str) -> pl.Expr:
        return c(name).cast(pl.String)

    otel_overlap = ((c("token_rule") == INCLUSIVE_CACHE_READ_WRITE)
                    & (c("_input") < c("_cache_read") + c("_cache_write")))
    awf_overlap = (c("token_rule") == INCLUSIVE_CACHE_READ) & (c("_input") < c("_cache_read"))
    reasons = [
        pl.when(c("workflow_id").is_null()).then(pl.lit("span has no traceId")),
        pl.when(c("call_id").is_null()).then(pl.lit("span has no spanId")),
        pl.when(c("_start_text").is_null() | (c("_start") == 0))
        .then(pl.lit("span has no startTimeUnixNano"))
        .when(c("_start").is_null() | (c("_start") < 0))
        .then(pl.lit("startTimeUnixNano: not a non-negative integer (got '")
              + c("_start_text").str.slice(0, _MAX_VALUE_CHARS) + pl.lit("')")),
        *[_int_reason(f"_{b}_text", f"_{b}", c(f"_{b}_attr")) for b in texts],
        pl.when(c(AWF_AI_CREDITS).is_not_null() & c("reported_ai_credits").is_null())
        .then(pl.lit(f"{AWF_AI_CREDITS}: not a number (got '")
              + c(AWF_AI_CREDITS).str.slice(0, _MAX_VALUE_CHARS) + pl.lit("')")),
        pl.when(otel_overlap).then(
            pl.lit("cannot make token buckets disjoint: OpenTelemetry's input_tokens include "
                   "cache reads and writes, yet cache_read (") + num("_cache_read")
            + pl.lit(") + cache_creation (") + num("_cache_write")
            + pl.lit(") > input_tokens (") + num("_input") + pl.lit(")")),
        pl.when(awf_overlap).then(
            pl.lit("cannot make token buckets disjoint: provider ")
            + c("provider").fill_null("unknown")
            + pl.lit(" counts cache reads inside input_tokens, yet awf.cached_read (")
            + num("_cache_read") + pl.lit(") > gen_ai.usage.input_tokens (") + num("_input")
            + pl.lit(")")),
    ]
    reason = pl.concat_str(reasons, separator="; ", ignore_nulls=True)
    span_type = _type_name(c("_span_type"))
    spans = spans.with_columns(
        pl.when(c("_span").is_null())
        .then(pl.lit("span is a JSON ") + span_type + pl.lit(", not an object"))
        .when(c("_has_usage") & (reason != "")).then(reason)
        .alias("_reason"),
    ).with_columns(
        pl.when(c("_reason").is_not_null()).then(pl.lit("reject"))
        .when(c("_has_usage")).then(pl.lit("call"))
        .otherwise(pl.lit("skip")).alias("_kind"),
    )
    return spans, rejected_lines


def _calls(spans: pl.DataFrame) -> pl.DataFrame:
    span = c("_span")
    uncached = (
        pl.when(c("token_rule") == INCLUSIVE_CACHE_READ_WRITE)
        .then(c("_input") - c("_cache_read") - c("_cache_write"))
        .when(c("token_rule") == INCLUSIVE_CACHE_READ).then(c("_input") - c("_cache_read"))
        .otherwise(c("_input"))
    )
    duration = c("_end") - c("_start")
    return spans.filter(c("_kind") == "call").select(
        "_source", "_line", "call_id", "parent_call_id", "workflow_id",
        pl.coalesce(_blank_to_null(c("gen_ai.agent.name")), c("_service_name"))
        .alias("agent_name"),
        "provider", "model",
        _blank_to_null(c("gen_ai.conversation.id")).alias("session_id"),
        uncached.alias("input_tokens"),
        c("_output").alias("output_tokens"),
        c("_cache_read").alias("cache_read_tokens"),
        c("_cache_write").alias("cache_write_tokens"),
        c("_reasoning").alias("reasoning_tokens"),
        "token_rule",
        pl.when(duration >= 0).then((duration + 500_000) // 1_000_000).alias("latency_ms"),
        (c("_start") // 1_000).cast(pl.Datetime("us", "UTC")).alias("timestamp"),
        span.struct.field("status").struct.field("code").str.strip_chars()
        .is_in(ERROR_STATUS_CODES).fill_null(False).not_().alias("success"),
        _blank_to_null(c(AWF_REQUEST_ID)).alias("request_id"),
        "reported_ai_credits",
        span.struct.field("name").alias("span_name"),
        _blank_to_null(c(OPERATION)).alias("operation"),
        _user_id().alias("user_id"),
    )


def _user_id() -> pl.Expr:
    return _blank_to_null(pl.coalesce(c(USER_ID), c(OLD_USER_ID)))


def _structure(spans: pl.DataFrame) -> pl.DataFrame:
    """The spans that are not rejected, as `OTLP_SPANS_SCHEMA` (a trace's shape)."""
    span = c("_span")
    return spans.filter(c("_kind") != "reject").select(
        "_source", "_line", "workflow_id", c("call_id").alias("span_id"),
        c("parent_call_id").alias("parent_span_id"),
        span.struct.field("name").alias("span_name"),
        (c("_kind") == "call").alias("is_call"),
        _blank_to_null(c(OPERATION)).alias("operation"),
        _blank_to_null(c("gen_ai.agent.name")).alias("agent_attr"),
        c("_service_name").alias("service_name"),
        _user_id().alias("user_id"),
        _blank_to_null(c("gen_ai.conversation.id")).alias("session_id"),
        c("_start").alias("start_ns"), c("_end").alias("end_ns"),
        span.struct.field("status").struct.field("code").str.strip_chars()
        .is_in(ERROR_STATUS_CODES).fill_null(False).alias("error"),
    ).filter(c("workflow_id").is_not_null() & c("span_id").is_not_null())


@dataclass(frozen=True)
class ParsedOtlp:
    calls: pl.DataFrame  # OTLP_CALLS_SCHEMA
    rejected: pl.DataFrame  # OTLP_REJECTED_SCHEMA
    span_counts: pl.DataFrame  # OTLP_SPAN_COUNTS_SCHEMA
    spans: pl.DataFrame  # OTLP_SPANS_SCHEMA


def parse_otlp(lines: pl.DataFrame) -> ParsedOtlp:
    """`otlp_calls` and `otlp_span_counts` of `lines` from a single decode."""
    if lines.height == 0:  # nothing to decode: skip building and running the whole plan
        return ParsedOtlp(*(pl.DataFrame(schema=schema) for schema in (
            OTLP_CALLS_SCHEMA, OTLP_REJECTED_SCHEMA, OTLP_SPAN_COUNTS_SCHEMA,
            OTLP_SPANS_SCHEMA)))
    spans, rejected_lines = _classify(lines)
    calls = _calls(spans).select([c(n).cast(t) for n, t in OTLP_CALLS_SCHEMA.items()])
    rejected_spans = spans.filter(c("_kind") == "reject").select(
        "_order", "_source", "_line", "_reason", c("_span_json").alias("_raw"))
    rejected = pl.concat([rejected_lines, rejected_spans], how="diagonal_relaxed").sort(
        "_order", maintain_order=True)  # input order; a line's spans in their own order
    counts = spans.group_by("_source").agg(
        pl.len().alias("spans"),
        (c("_kind") == "call").sum().alias("calls"),
        (c("_kind") == "skip").sum().alias("spans_without_usage"),
    )
    sources = lines.select(c("_source").cast(pl.String)).unique(maintain_order=True)
    counts = sources.join(counts, on="_source", how="left", nulls_equal=True).select(
        "_source",
        *[c(n).fill_null(0).cast(pl.Int64) for n in ("spans", "calls", "spans_without_usage")],
    )
    return ParsedOtlp(
        calls,
        rejected.select([c(n).cast(t) for n, t in OTLP_REJECTED_SCHEMA.items()]),
        counts,
        _structure(spans).select([c(n).cast(t) for n, t in OTLP_SPANS_SCHEMA.items()]),
    )


def otlp_calls(lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Agent calls of OTLP JSON trace lines (module docstring for the mapping and conventions).

    Args:
        lines: `_source` (file), `_line` (1-based), `_raw` (the line's text); optional
            `_decode_error` and `_is_last_line` as `jsontext.jsonl_frame` gives them.

    Returns:
        (calls in `OTLP_CALLS_SCHEMA`, one per span with `gen_ai.usage.*` attributes, in input
        order; rejected lines and spans in `OTLP_REJECTED_SCHEMA`). Spans without usage are in
        neither: `otlp_span_counts` counts them.
    """
    parsed = parse_otlp(lines)
    return parsed.calls, parsed.rejected


def otlp_span_counts(lines: pl.DataFrame) -> pl.DataFrame:
    """Spans per `_source` (`OTLP_SPAN_COUNTS_SCHEMA`), every source of `lines` listed.

    `spans` counts every span element read; `calls` the spans `otlp_calls` returns;
    `spans_without_usage` the spans skipped for carrying no `gen_ai.usage.*` attribute. The
    rest (spans - calls - spans_without_usage) are the spans `otlp_calls` rejected.
    """
    return parse_otlp(lines).span_counts


__all__ = [
    "EXCLUSIVE", "INCLUSIVE_CACHE_READ", "INCLUSIVE_CACHE_READ_WRITE", "OTLP_CALLS_SCHEMA",
    "OTLP_REJECTED_SCHEMA", "OTLP_SPANS_SCHEMA", "OTLP_SPAN_COUNTS_SCHEMA", "ParsedOtlp",
    "otlp_calls", "otlp_span_counts", "parse_otlp",
]
