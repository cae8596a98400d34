"""The raw-record contract: what a source writes to `raw/<source>/<kind>/day=D/data.parquet`.

Sources only find and extract: every raw row keeps the text as it was read (`_raw`) with the
file (`_source`) and line (`_line`) it came from, so the lake stage can validate each field
and quarantine a bad row with its location. A source declares which of these kinds it writes
(`Source.raw_kinds`); a lake dataset declares which kinds feed it (`Dataset.raw_kinds`).
Adding a kind is one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import polars as pl

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


@dataclass(frozen=True)
class RawKind:
    """One kind of raw row: its name (the folder under `raw/<source>/`) and columns."""

    name: str
    schema: dict[str, pl.DataType]
    description: str
    # A kind whose day can be larger than memory should hold (a line per LLM request) is read
    # back lazily (`pl.LazyFrame`), so its reader takes it a chunk at a time.
    streamed: bool = False

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.schema)

    def conform(self, df: Frame) -> Frame:
        """A raw frame written by an older version, with columns added since as nulls."""
        return with_missing_columns(df, self.schema)


def with_missing_columns(df: Frame, schema: dict[str, pl.DataType]) -> Frame:
    """`df` with the columns of `schema` it lacks (a file written by an older version) as nulls."""
    present = df.collect_schema().names() if isinstance(df, pl.LazyFrame) else df.columns
    missing = [pl.lit(None, dtype).alias(c) for c, dtype in schema.items() if c not in present]
    return df.with_columns(missing) if missing else df


def raw_rows(frame: pl.DataFrame | pl.LazyFrame) -> int:
    """Rows of a raw frame, eager or lazy (a lazy scan counts from the file's metadata)."""
    if isinstance(frame, pl.LazyFrame):
        return frame.select(pl.len()).collect().item()
    return frame.height


RUNS = RawKind("runs", {
    "_source": pl.String(),  # file (or URL) the run came from
    "_line": pl.Int64(),  # line of the run object in that file
    "_shape": pl.String(),  # run_summary | logs_json | logs_json_legacy | github_api
    "_run_ref": pl.String(),  # links token-usage lines to their run
    "_raw": pl.String(),  # the run object as JSON text
    "_aw_info": pl.String(),  # aw_info.json of the run, when present
    "_agent_usage": pl.String(),  # agent_usage.json (run totals; a fallback without requests)
    "_token_files": pl.Int32(),  # token-usage.jsonl files found for the run
}, "workflow runs as JSON objects of any gh-aw or GitHub API shape")
TOKEN_USAGE = RawKind("token_usage", {
    "_run_ref": pl.String(),
    "_source": pl.String(),
    "_line": pl.Int64(),
    "_file_rank": pl.Int32(),  # 0 = canonical path; duplicates keep the lowest rank
    "_is_last_line": pl.Boolean(),  # a truncated last line is the writer's known failure mode
    "_raw": pl.String(),
    "_decode_error": pl.String(),
}, "api-proxy token-usage.jsonl lines, one row per non-blank line", streamed=True)
PULL_REQUESTS = RawKind("pull_requests", {
    "_source": pl.String(), "_line": pl.Int64(), "_raw": pl.String(),
}, "Copilot coding-agent pull requests as JSON objects")
AGENT_EVENTS = RawKind("agent_events", {
    "_source": pl.String(),  # the file
    "_line": pl.Int64(),  # its line (null for a whole-file JSON document)
    "_format": pl.String(),  # events (agent-call JSONL) | pipeline_result (seed 004) | otlp
    "_raw": pl.String(),  # the line, or the file's text for a whole-file document
    "_decode_error": pl.String(),  # the bytes were not UTF-8
    # OTLP lines carry spans of several traces, each belonging to the day its trace started:
    # a line is delivered on each such day with the traces to keep there (JSON array); its
    # rejected spans are reported once, on its `_primary` day.
    "_keep_traces": pl.String(),
    "_primary": pl.Boolean(),
}, "agent-call telemetry of multi-agent apps: event lines, pipeline results, OTLP lines")
BILLING_USAGE = RawKind("billing_usage", {
    "_source": pl.String(),  # the endpoint path asked (no query)
    "_line": pl.Int64(),  # the item's position in the answer (1-based)
    "_raw": pl.String(),  # one usageItems[] element as JSON text
    "_account_type": pl.String(),  # organization | enterprise | user
    "_account": pl.String(),
    "_endpoint": pl.String(),  # ai_credit | premium_request
    "_period": pl.String(),  # the answer's timePeriod as JSON text
}, "GitHub billing usage items (AI credits or premium requests) of one account and day")
SKIPS = RawKind("skips", {
    "reason": pl.String(), "count": pl.Int64(),
}, "runs a source saw but could not take token data from, counted by reason")

RAW_KINDS: dict[str, RawKind] = {k.name: k for k in (RUNS, TOKEN_USAGE, PULL_REQUESTS,
                                                     AGENT_EVENTS, BILLING_USAGE, SKIPS)}
# Column dicts for the frames sources build.
RAW_RUNS_SCHEMA = RUNS.schema
RAW_TOKEN_LINES_SCHEMA = TOKEN_USAGE.schema
