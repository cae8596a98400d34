"""OpenTelemetry GenAI spans, as the OpenTelemetry Collector's file exporter writes them.

Reads `landing/otel/` plus `sources.otel.paths` (folders, files or globs): `*.jsonl` files,
one OTLP JSON export request per line. A span with `gen_ai.usage.*` attributes is an agent
call (schemas/otlp.py for the mapping and both input-token conventions); its trace is the
workflow, and a trace belongs to the UTC day its first call started. A line holds spans of
several traces, so it is delivered on every day one of its traces started, with the traces to
keep there; its rejected spans and spans without usage are reported once, on the day of its
earliest trace (a line without any call: the first day of its file's calls, else the file's
modification day).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl

from finops_pipeline.config import Settings
from finops_pipeline.schemas.otlp import parse_otlp
from finops_pipeline.schemas.raw import AGENT_EVENTS
from finops_pipeline.sources.base import SourceContext, SourceDay, deliver_routed
from finops_pipeline.sources.jsontext import jsonl_frame
from finops_pipeline.sources.paths import find_files, mtime_day

SOURCE = "otel"
LANDING_NAME = "otel"
c = pl.col


def read_lines(paths: Sequence[Path]) -> pl.DataFrame:
    frames = [jsonl_frame(p.read_bytes()).with_columns(
        pl.lit(str(p)).alias("_source"),
        pl.lit(mtime_day(p)).alias("_file_day")) for p in paths]
    schema = {"_line": pl.Int64, "_raw": pl.String, "_decode_error": pl.String,
              "_source": pl.String, "_file_day": pl.Date}
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)


def route_lines(lines: pl.DataFrame) -> pl.DataFrame:
    """One row per (line, day): `_day`, `_keep_traces` (JSON array), `_primary`."""
    calls = parse_otlp(lines).calls.select("_source", "_line", "workflow_id", "timestamp")
    trace_day = calls.group_by("workflow_id").agg(
        c("timestamp").min().dt.date().alias("_trace_day"))
    per_day = (calls.join(trace_day, on="workflow_id").group_by("_source", "_line", "_trace_day")
               .agg(c("workflow_id").unique().sort().alias("_traces")))
    routed = lines.join(per_day, on=["_source", "_line"], how="left").with_columns(
        # a line without a call (unreadable, or spans without usage): its file's first day
        pl.coalesce("_trace_day", c("_trace_day").min().over("_source"), "_file_day")
        .alias("_day"),
        pl.when(c("_traces").is_not_null())
        .then(c("_traces").list.eval(pl.format('"{}"', pl.element())).list.join(","))
        .alias("_keep"),
    ).with_columns(
        pl.when(c("_keep").is_not_null()).then(pl.format("[{}]", c("_keep")))
        .alias("_keep_traces"),
        (c("_day") == c("_day").min().over("_source", "_line")).alias("_primary"),
    )
    return routed.with_columns(pl.lit("otlp").alias("_format"))


class OtelSource:
    """OpenTelemetry GenAI spans (OTLP JSON, the Collector's file exporter) from
    `landing/otel/` and `sources.otel.paths`: each span with usage is an agent call, each trace
    a workflow on the UTC day it started. Output: raw/otel/."""

    name = SOURCE
    landing_name = LANDING_NAME
    raw_kinds = ("agent_events",)
    asset_kinds = frozenset({"python", "json"})
    resource_keys: frozenset[str] = frozenset()
    off_hint = ""

    def enabled(self, settings: Settings) -> bool:
        return True  # the landing folder is always read

    def extract(self, ctx: SourceContext, days: Sequence[dt.date]) -> Iterator[SourceDay]:
        roots = [p for p in (ctx.landing, *ctx.settings.source_paths(self.name)) if p]
        files = find_files(roots, (".jsonl",))
        routed = route_lines(read_lines(files))
        ctx.say(f"otel: {len(files)} files, {routed.select('_source', '_line').n_unique()} "
                f"lines under {len(roots)} roots")
        yield from deliver_routed(routed, days, "agent_events", list(AGENT_EVENTS.schema))
