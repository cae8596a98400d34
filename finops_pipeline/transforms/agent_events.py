"""Raw agent events and pipeline results -> the `agent_calls` and `workflow_executions` rows
of one day (schemas/agent_calls.py for the formats).

Every raw row ends valid, quarantined with a reason naming the field, or a counted duplicate:

* an event line that is not a JSON object, of an unknown `type`, without a field its type
  requires, or with a field of the wrong form (a negative token count, a bad timestamp) is
  quarantined with its file and line;
* a call id seen twice in the day (the same event in two files) is a duplicate: the copy of
  the first file (by path, then line) is kept;
* a `workflow_start` or `workflow_end` seen twice likewise;
* a workflow that started but never ended is kept with status `open` and counted.

Pipeline results (seed 004: `metadata.token_usage.agents[]`) give one call per agent, the
result's `run_id` as the workflow and its `timestamp_utc` as the time; the cost the result
reported is kept as `reported_cost_usd`, never mixed into `cost_usd`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import polars as pl

from finops_pipeline.schemas.agent_calls import (
    AGENT_CALLS_SCHEMA,
    EVENT_FIELDS,
    REQUIRED_BY_TYPE,
    WORKFLOW_EXECUTIONS_SCHEMA,
    AgentCalls,
    RawAgentEvent,
    WorkflowExecutions,
)
from finops_pipeline.schemas.json_engine import int_from_text
from finops_pipeline.schemas.otlp import parse_otlp
from finops_pipeline.schemas.timeparse import parse_utc_timestamp
from finops_pipeline.schemas.token_rules import EXCLUSIVE
from finops_pipeline.transforms.accounting import Normalized, dedupe, to_quarantine
from finops_pipeline.transforms.json_extract import extract_fields
from finops_pipeline.transforms.otel_traces import AGGREGATE_SPAN, resolve_traces
from finops_pipeline.transforms.validation import split_valid

#: An event's input_tokens excludes the cache buckets it reports beside it.
EVENT_TOKEN_RULE = EXCLUSIVE
c = pl.col

PIPELINE_AGENTS = pl.List(pl.Struct({
    "agent_name": pl.String,
    "usage": pl.Struct({"input_tokens": pl.Int64, "output_tokens": pl.Int64,
                        "total_tokens": pl.Int64, "model_name": pl.String,
                        "estimated_cost_usd": pl.Float64}),
}))


def _json_reason() -> pl.Expr:
    return (
        pl.when(c("_decode_error").is_not_null()).then(c("_decode_error"))
        .when(~c("_json_ok")).then(pl.lit("invalid JSON"))
        .when(c("_json_type") != "OBJECT")
        .then(pl.lit("not a JSON object but a ") + c("_json_type").str.to_lowercase())
    )


def _missing_reason() -> pl.Expr:
    """`missing field(s) a, b for a <type> event`, or null."""
    parts = []
    for kind, fields in REQUIRED_BY_TYPE.items():
        missing = pl.concat_str(
            [pl.when(c(f).is_null()).then(pl.lit(f)) for f in fields], separator=", ",
            ignore_nulls=True)
        parts.append(pl.when(c("type") == kind).then(missing))
    text = pl.coalesce(parts)
    return pl.when(text.is_not_null() & (text != "")).then(
        pl.lit("missing ") + text + pl.lit(" (required for a ") + c("type")
        + pl.lit(" event)"))


def parse_events(lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(typed events, rejected lines with _reason) of event JSONL lines."""
    fields = extract_fields(lines, "_raw", {f: (f"$.{f}",) for f in EVENT_FIELDS})
    fields = fields.with_columns(_json_reason().alias("_reason"))
    not_json = fields.filter(c("_reason").is_not_null())
    valid, bad_field = split_valid(fields.filter(c("_reason").is_null()).drop("_reason"),
                                   RawAgentEvent)
    valid = valid.with_columns(_missing_reason().alias("_reason"))
    missing = valid.filter(c("_reason").is_not_null())
    valid = valid.filter(c("_reason").is_null())
    typed = valid.with_columns(
        parse_utc_timestamp(c("timestamp")).alias("timestamp"),
        *[int_from_text(c(f)).alias(f) for f in ("input_tokens", "output_tokens",
                                                 "cache_read_tokens", "cache_write_tokens",
                                                 "reasoning_tokens", "latency_ms")],
        pl.when(c("success").is_not_null()).then(c("success") == "true").alias("success"),
    )
    rejected = pl.concat([not_json, bad_field, missing], how="diagonal_relaxed")
    return typed, rejected


def _calls_from_events(events: pl.DataFrame, starts: pl.DataFrame) -> pl.DataFrame:
    calls = events.filter(c("type") == "call")
    cache_read = c("cache_read_tokens").fill_null(0)
    cache_write = c("cache_write_tokens").fill_null(0)
    return calls.join(starts.select("workflow_id", "workflow_name", "user_id", "session_id",
                                    "organization_id"),
                      on="workflow_id", how="left", suffix="_start").select(
        "workflow_id", "call_id",
        pl.when(c("parent_call_id").str.strip_chars() != "").then(c("parent_call_id"))
        .alias("parent_call_id"),
        "agent_name",
        c("provider").str.to_lowercase().fill_null("unknown").alias("provider"),
        "model",
        *[c(f"{f}_start").alias(f) for f in ("workflow_name", "user_id", "session_id",
                                             "organization_id")],
        "timestamp", "latency_ms", "success",
        "input_tokens", "output_tokens", cache_read.alias("cache_read_tokens"),
        cache_write.alias("cache_write_tokens"), "reasoning_tokens",
        pl.lit(EVENT_TOKEN_RULE).alias("token_rule"),
        pl.lit(None, pl.String).alias("request_id"),
        pl.lit(None, pl.Float64).alias("reported_cost_usd"),
        pl.lit(None, pl.Float64).alias("reported_ai_credits"),
        "_source", "_line",
    )


def _executions(events: pl.DataFrame) -> tuple[pl.DataFrame, int, int, pl.DataFrame]:
    """One row per workflow_id from its first start and first end event.

    Returns (rows, duplicate starts, duplicate ends, ends without a start). The source routes
    a workflow's events to the day it started, so an end without a start means the start never
    arrived: the caller quarantines it.
    """
    order = ["_source", "_line"]
    starts, dup_starts = dedupe(events.filter(c("type") == "workflow_start"), ["workflow_id"],
                                order)
    ends, dup_ends = dedupe(events.filter(c("type") == "workflow_end"), ["workflow_id"], order)
    out = starts.join(ends.select("workflow_id", c("timestamp").alias("ended_at"),
                                  c("success").alias("end_success")),
                      on="workflow_id", how="left").select(
        "workflow_id", "workflow_name", "user_id", "session_id", "organization_id",
        c("timestamp").alias("started_at"), "ended_at",
        (c("ended_at") - c("timestamp")).dt.total_milliseconds().alias("duration_ms"),
        c("end_success").alias("success"),
        pl.when(c("ended_at").is_null()).then(pl.lit("open"))
        .when(c("end_success").fill_null(True)).then(pl.lit("succeeded"))
        .otherwise(pl.lit("failed")).alias("status"),
        "_source", "_line",
    )
    orphans = ends.join(starts.select("workflow_id"), on="workflow_id", how="anti")
    return out, dup_starts, dup_ends, orphans


def parse_pipeline_results(files: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(calls, executions, rejected) of seed-004 pipeline result files (one row per file)."""
    meta = extract_fields(files, "_raw", {
        "run_id": ("$.metadata.run_id", "$.run_id"),
        "timestamp": ("$.metadata.timestamp_utc", "$.timestamp_utc"),
        "duration_seconds": ("$.metadata.duration_seconds",),
    }).with_columns(
        c("_raw").str.json_path_match("$.metadata.token_usage.agents").alias("_agents"))
    reason = (
        _json_reason()
        .when(c("run_id").is_null()).then(pl.lit("missing run_id (metadata.run_id)"))
        .when(c("timestamp").is_null())
        .then(pl.lit("missing timestamp_utc (metadata.timestamp_utc)"))
        .when(parse_utc_timestamp(c("timestamp")).is_null())
        .then(pl.lit("timestamp_utc: not an ISO 8601 timestamp"))
        .when(c("_agents").is_null())
        .then(pl.lit("missing metadata.token_usage.agents"))
    )
    meta = meta.with_columns(reason.alias("_reason"))
    rejected = meta.filter(c("_reason").is_not_null())
    ok = meta.filter(c("_reason").is_null()).with_columns(
        c("_agents").str.json_decode(PIPELINE_AGENTS).alias("_agents"),
        parse_utc_timestamp(c("timestamp")).alias("timestamp"))
    agents = (ok.with_columns(pl.int_ranges(c("_agents").list.len()).alias("i"))
              .explode("_agents", "i").rename({"_agents": "agent"}))
    agents = agents.filter(c("agent").is_not_null()).unnest("agent").unnest("usage")
    bad_agent = (
        pl.when(c("agent_name").is_null()).then(pl.lit("an agent without agent_name"))
        .when(c("model_name").is_null()).then(pl.lit("usage.model_name missing"))
        .when(c("input_tokens").is_null() | (c("input_tokens") < 0))
        .then(pl.lit("usage.input_tokens: a non-negative integer is required"))
        .when(c("output_tokens").is_null() | (c("output_tokens") < 0))
        .then(pl.lit("usage.output_tokens: a non-negative integer is required"))
    )
    agents = agents.with_columns(bad_agent.alias("_reason"))
    rejected = pl.concat([rejected, agents.filter(c("_reason").is_not_null()).with_columns(
        (pl.lit("agent ") + (c("i") + 1).cast(pl.String) + pl.lit(": ") + c("_reason"))
        .alias("_reason"))], how="diagonal_relaxed")
    agents = agents.filter(c("_reason").is_null())
    calls = agents.select(
        c("run_id").alias("workflow_id"),
        pl.format("{}:{}", c("run_id"), c("i") + 1).alias("call_id"),
        pl.lit(None, pl.String).alias("parent_call_id"), "agent_name",
        pl.lit("unknown").alias("provider"), c("model_name").alias("model"),
        pl.lit("pipeline").alias("workflow_name"),
        *[pl.lit(None, pl.String).alias(f) for f in ("user_id", "session_id",
                                                     "organization_id")],
        "timestamp", pl.lit(None, pl.Int64).alias("latency_ms"),
        pl.lit(None, pl.Boolean).alias("success"), "input_tokens", "output_tokens",
        pl.lit(0, pl.Int64).alias("cache_read_tokens"),
        pl.lit(0, pl.Int64).alias("cache_write_tokens"),
        pl.lit(None, pl.Int64).alias("reasoning_tokens"),
        pl.lit(EVENT_TOKEN_RULE).alias("token_rule"), pl.lit(None, pl.String).alias("request_id"),
        c("estimated_cost_usd").alias("reported_cost_usd"),
        pl.lit(None, pl.Float64).alias("reported_ai_credits"), "_source", "_line",
    )
    duration = (c("duration_seconds").cast(pl.Float64, strict=False) * 1000).round(0) \
        .cast(pl.Int64)
    executions = ok.select(
        c("run_id").alias("workflow_id"), pl.lit("pipeline").alias("workflow_name"),
        *[pl.lit(None, pl.String).alias(f) for f in ("user_id", "session_id",
                                                     "organization_id")],
        c("timestamp").alias("started_at"),
        (c("timestamp") + pl.duration(milliseconds=duration)).alias("ended_at"),
        duration.alias("duration_ms"), pl.lit(None, pl.Boolean).alias("success"),
        pl.when(duration.is_null()).then(pl.lit("open")).otherwise(pl.lit("succeeded"))
        .alias("status"), "_source", "_line")
    return calls, executions, rejected


SPAN_WITHOUT_USAGE = "span without gen_ai.usage attributes (not a call)"


def parse_otlp_lines(lines: pl.DataFrame
                     ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, dict[str, int]]:
    """(calls, executions, rejected, skipped spans by reason) of the day's OTLP lines.

    A line contributes the calls and spans of the traces it keeps this day; its rejected and
    skipped spans count on its primary day only. Each line is decoded once: its primary copy
    with its books, another day's for its traces. Traces become call trees and executions in
    `otel_traces.resolve_traces`.
    """
    text = ["_source", "_line", "_raw", "_decode_error"]
    is_primary = c("_primary").fill_null(True)
    primary = parse_otlp(lines.filter(is_primary).select(text))
    other = parse_otlp(lines.filter(~is_primary).select(text))
    keep = (lines.filter(c("_keep_traces").is_not_null())
            .select("_source", "_line",
                    c("_keep_traces").str.json_decode(pl.List(pl.String)).alias("workflow_id"))
            .explode("workflow_id"))
    on = ["_source", "_line", "workflow_id"]
    calls = pl.concat([primary.calls, other.calls]).join(keep, on=on, how="semi")
    spans = pl.concat([primary.spans, other.spans]).join(keep, on=on, how="semi")
    calls, executions, aggregates = resolve_traces(calls, spans)
    skipped = {SPAN_WITHOUT_USAGE: int(primary.span_counts["spans_without_usage"].sum()),
               AGGREGATE_SPAN: aggregates}
    mapped = calls.join(executions.select("workflow_id", "workflow_name",
                                          c("user_id").alias("_trace_user"),
                                          c("session_id").alias("_trace_session")),
                        on="workflow_id", how="left").select(
        "workflow_id", "call_id", "parent_call_id", "agent_name",
        c("provider").fill_null("unknown"), "model", "workflow_name",
        pl.coalesce("user_id", "_trace_user").alias("user_id"),
        pl.lit(None, pl.String).alias("organization_id"),
        pl.coalesce("session_id", "_trace_session").alias("session_id"),
        "timestamp", "latency_ms", "success", "input_tokens",
        "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens",
        "token_rule", "request_id", pl.lit(None, pl.Float64).alias("reported_cost_usd"),
        "reported_ai_credits", "_source", "_line")
    return mapped, executions, primary.rejected, {k: v for k, v in skipped.items() if v}


def _finish(rows: pl.DataFrame, schema: Mapping[str, pl.DataType], day: dt.date,
            source: str) -> pl.DataFrame:
    out = rows.with_columns(pl.lit(day).alias("day"), pl.lit(source).alias("source"))
    if "input_tokens" in schema:
        out = out.with_columns(
            (c("input_tokens") + c("cache_read_tokens") + c("cache_write_tokens"))
            .alias("prompt_tokens"),
        ).with_columns((c("prompt_tokens") + c("output_tokens")).alias("total_tokens"),
                       pl.lit(None, pl.Float64).alias("cost_usd"),
                       pl.lit(None, pl.String).alias("price_basis"))
    return out.select([c(k).cast(v) for k, v in schema.items()])


def normalize_agent_events(raw: Mapping[str, pl.DataFrame], day: dt.date,
                           source: str) -> dict[str, Normalized]:
    """The `agent_calls` and `workflow_executions` of one source's day (the source routed
    every event of a workflow to the day the workflow started).

    The books: a call line (or a line whose type is unknown), a pipeline result's agent, or
    a result file that cannot be read is one raw row of `agent_calls`; a workflow_start line,
    a result file, and an end line that is a duplicate or has no start are raw rows of
    `workflow_executions` (an end merged into its workflow's row is part of that row).
    """
    lines = raw["agent_events"]
    events, rejected_events = parse_events(lines.filter(c("_format") == "events"))
    results = lines.filter(c("_format") == "pipeline_result")
    result_calls, result_execs, rejected_results = parse_pipeline_results(results)
    executions, dup_starts, dup_ends, orphan_ends = _executions(events)
    orphan_ends = orphan_ends.with_columns(pl.lit(
        "workflow_end of a workflow whose workflow_start never arrived").alias("_reason"))
    call_events = _calls_from_events(events, executions)
    otlp_calls, otlp_execs, otlp_rejected, spans_skipped = parse_otlp_lines(
        lines.filter(c("_format") == "otlp"))
    call_events = pl.concat([call_events, otlp_calls], how="diagonal_relaxed")
    raw_text = lines.select("_source", "_line", "_raw")

    is_exec_type = c("type").is_in(["workflow_start", "workflow_end"]).fill_null(False)
    call_rejected = pl.concat([rejected_events.filter(~is_exec_type), rejected_results,
                               otlp_rejected], how="diagonal_relaxed")
    calls = _finish(pl.concat([call_events, result_calls], how="diagonal_relaxed"),
                    AGENT_CALLS_SCHEMA, day, source)
    calls, inconsistent = split_valid(calls, AgentCalls)
    calls, dup_calls = dedupe(calls, ["workflow_id", "call_id"], ["_source", "_line"])
    call_quarantine = pl.concat(
        [call_rejected, inconsistent.join(raw_text, on=["_source", "_line"], how="left")],
        how="diagonal_relaxed")

    exec_rejected = rejected_events.filter(is_exec_type)
    execs = _finish(pl.concat([executions, result_execs, otlp_execs], how="diagonal_relaxed"),
                    WORKFLOW_EXECUTIONS_SCHEMA, day, source)
    execs, bad_execs = split_valid(execs, WorkflowExecutions)
    execs, dup_execs = dedupe(execs, ["workflow_id"], ["_source", "_line"])
    exec_quarantine = pl.concat(
        [exec_rejected, orphan_ends,
         bad_execs.join(raw_text, on=["_source", "_line"], how="left")], how="diagonal_relaxed")

    files = lines.select(c("_source").n_unique()).item()
    calls_in = call_events.height + result_calls.height + call_rejected.height
    starts_in = events.filter(c("type") == "workflow_start").height
    execs_in = (starts_in + result_execs.height + otlp_execs.height + exec_rejected.height
                + orphan_ends.height + dup_ends)
    return {
        "agent_calls": Normalized(calls.sort("workflow_id", "call_id"),
                                  to_quarantine(call_quarantine, day, source), calls_in,
                                  dup_calls, files,
                                  runs_skipped=sum(spans_skipped.values()),
                                  skip_reasons=spans_skipped),
        "workflow_executions": Normalized(execs.sort("workflow_id"),
                                          to_quarantine(exec_quarantine, day, source),
                                          execs_in, dup_starts + dup_ends + dup_execs, files),
    }
