"""Agent-call telemetry of multi-agent apps outside GitHub Actions (seed 002, seed 004).

Reads `landing/agent-calls/` plus `sources.agent_calls.paths` (folders, files or globs such
as `/srv/agents/**/*.jsonl`): `*.jsonl` files of events (`{"type": "workflow_start" | "call"
| "workflow_end", ...}`) and `*.json` pipeline results (`metadata.token_usage.agents[]`).

Events arrive in any order, across files and days, and a call may come before its workflow's
start; a workflow whose events span midnight belongs to the day it started. So the source
reads every file, learns each workflow's start day, and routes every line to it: a line of a
workflow without a start goes to the day of its workflow's earliest event, a line without a
workflow to its own timestamp's day, an unreadable line to the first day of its file's other
lines (else the file's modification day), where the lake quarantines it with its reason.
Fields are only peeked at for routing; validation is the lake's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl

from finops_pipeline.config import Settings
from finops_pipeline.schemas.raw import AGENT_EVENTS
from finops_pipeline.schemas.timeparse import parse_utc_timestamp
from finops_pipeline.sources.base import SourceContext, SourceDay, deliver_routed
from finops_pipeline.sources.jsontext import jsonl_frame
from finops_pipeline.sources.paths import find_files, mtime_day

SOURCE = "agent_calls"
#: Event JSONL and pipeline-result documents.
SUFFIXES = (".jsonl", ".json")
LANDING_NAME = "agent-calls"
c = pl.col


def read_file(path: Path) -> pl.DataFrame:
    """One file as raw rows (AGENT_EVENTS) plus `_file_day` (its modification day)."""
    data = path.read_bytes()
    if path.suffix == ".jsonl":
        rows = jsonl_frame(data).with_columns(pl.lit("events").alias("_format"))
    else:
        text = data.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace")
        rows = pl.DataFrame({"_line": [None], "_raw": [text], "_decode_error": [None],
                             "_format": ["pipeline_result"]},
                            schema={"_line": pl.Int64, "_raw": pl.String,
                                    "_decode_error": pl.String, "_format": pl.String})
    return rows.with_columns(pl.lit(str(path)).alias("_source"),
                             pl.lit(mtime_day(path)).alias("_file_day"),
                             pl.lit(None, pl.String).alias("_keep_traces"),
                             pl.lit(True).alias("_primary"))


def route_to_days(rows: pl.DataFrame) -> pl.DataFrame:
    """Every raw row with `_day`: its workflow's start day (see the module docstring)."""
    peek = rows.with_columns(
        c("_raw").str.json_path_match("$.type").alias("_type"),
        pl.coalesce(c("_raw").str.json_path_match("$.workflow_id"),
                    c("_raw").str.json_path_match("$.metadata.run_id"),
                    c("_raw").str.json_path_match("$.run_id")).alias("_wid"),
        parse_utc_timestamp(pl.coalesce(
            c("_raw").str.json_path_match("$.timestamp"),
            c("_raw").str.json_path_match("$.metadata.timestamp_utc"),
            c("_raw").str.json_path_match("$.timestamp_utc"))).dt.date().alias("_own_day"),
    )
    started = (peek.filter(c("_type") == "workflow_start", c("_own_day").is_not_null())
               .group_by("_wid").agg(c("_own_day").min().alias("_start_day")))
    earliest = (peek.filter(c("_wid").is_not_null(), c("_own_day").is_not_null())
                .group_by("_wid").agg(c("_own_day").min().alias("_first_day")))
    routed = peek.join(started, on="_wid", how="left").join(earliest, on="_wid", how="left")
    day = pl.coalesce("_start_day", "_first_day", "_own_day")
    return routed.with_columns(
        pl.coalesce(day, day.min().over("_source"), "_file_day").alias("_day"))


class AgentCallsSource:
    """Agent calls and workflow executions of multi-agent apps: event JSONL and pipeline
    results from `landing/agent-calls/` and `sources.agent_calls.paths`, each workflow on the
    UTC day it started. Output: raw/agent_calls/."""

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
        files = find_files(roots, SUFFIXES)
        frames = [read_file(p) for p in files]
        rows = (route_to_days(pl.concat(frames, how="diagonal_relaxed")) if frames
                else pl.DataFrame(schema={**AGENT_EVENTS.schema, "_day": pl.Date}))
        ctx.say(f"agent_calls: {len(files)} files, {rows.height} lines or documents under "
                f"{len(roots)} roots")
        yield from deliver_routed(rows, days, "agent_events", list(AGENT_EVENTS.schema))
