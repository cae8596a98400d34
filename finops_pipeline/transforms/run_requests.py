"""Workflow runs and their LLM requests, normalized together from one source's raw day.

The two datasets need each other: a token-usage line learns its repo, run and workflow from
the run it came with (`_run_ref`), and a run learns how many valid requests it had.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping

import polars as pl

from finops_pipeline.schemas.datasets import LLM_REQUESTS, WORKFLOW_RUNS
from finops_pipeline.schemas.raw import raw_rows
from finops_pipeline.transforms.accounting import Normalized, dedupe, to_quarantine
from finops_pipeline.transforms.requests import parse_requests
from finops_pipeline.transforms.runs import parse_runs

RUN_KEY = ["repo", "run_id", "run_attempt"]
# A run seen in a run folder and in a --json listing is kept from the richer run folder.
SHAPE_PRIORITY = {"github_api": 0, "run_summary": 1, "logs_json": 2, "logs_json_legacy": 3}
NO_TOKEN_FILE = "no token-usage.jsonl in the run"
CHUNK_LINES = 250_000


def _pack(df: pl.DataFrame) -> bytes:
    """`df` as compressed Parquet bytes (lossless: `_unpack` gives back the same frame)."""
    buffer = io.BytesIO()
    df.write_parquet(buffer, compression="lz4", statistics=False)
    return buffer.getvalue()


def _unpack(packed: list[bytes | pl.DataFrame]) -> pl.DataFrame:
    """The frames `_pack` packed (or frames), in order, as one frame (of many chunks:
    rechunking would hold the day twice)."""
    return pl.concat([pl.read_parquet(io.BytesIO(b)) if isinstance(b, bytes) else b
                      for b in packed])


def normalize_runs_and_requests(raw: Mapping[str, pl.DataFrame | pl.LazyFrame], day: dt.date,
                                source: str) -> dict[str, Normalized]:
    """Parse, validate, normalize and de-duplicate one source's runs and requests of a day.

    Args:
        raw: the source's `runs`, `token_usage` and `skips` frames (empty when it wrote none);
            `token_usage` may be a LazyFrame (a scan of the raw file), read a chunk at a time.
        day: the partition day.
        source: the source name recorded on every row.
    """
    raw_runs, skips = raw["runs"], raw["skips"]
    raw_lines = raw["token_usage"].lazy()
    lines_in = raw_rows(raw_lines)
    parsed_runs = parse_runs(raw_runs, day, source)
    runs = parsed_runs.runs.with_columns(
        pl.col("_shape").replace_strict(SHAPE_PRIORITY, default=9).alias("_priority"),
        (pl.col("repo") == "unknown").alias("_repo_unknown"),
    )
    # The copy that knows the repo (and the richer shape) is kept.
    runs, dup_runs = dedupe(runs, WORKFLOW_RUNS.key,
                            ["_priority", "_repo_unknown", "_source", "_line"])

    # Read and parsed a chunk at a time: a line's checks never look at another line, so the
    # day's text is never held at once (from a scan, a chunk reads only its row groups), and
    # the text fields extracted from a chunk (~30 string columns) are freed before the next.
    # Each chunk's typed requests wait compressed (~10 MB per 250k requests, against ~100 MB
    # as a frame plus what parsing the next chunks leaves behind in the heap) and are
    # decoded once, when every chunk is parsed.
    rejected, packed, files = [], [], []
    for start in range(0, max(lines_in, 1), CHUNK_LINES):
        lines = raw_lines.slice(start, CHUNK_LINES).collect()
        files.append(lines.get_column("_source").unique())
        chunk = parse_requests(lines, parsed_runs.refs, day, source)
        del lines
        rejected.append(chunk.rejected)
        # A day of one chunk has nothing to wait for: it stays a frame.
        packed.append(chunk.requests if lines_in <= CHUNK_LINES else _pack(chunk.requests))
        del chunk
    rejected_requests = pl.concat(rejected, how="diagonal_relaxed")
    requests, dup_requests = dedupe(_unpack(packed), LLM_REQUESTS.key,
                                    ["_file_rank", "_source", "_line"])
    del packed
    # The keys rechunked first: a group-by over many chunks is ~25x slower (2 s at 2M).
    per_run = (requests.select(RUN_KEY).rechunk().group_by(RUN_KEY)
               .agg(pl.len().cast(pl.Int64).alias("requests")))
    runs = (
        runs.drop("requests")
        .join(per_run, on=RUN_KEY, how="left")
        .with_columns(pl.col("requests").fill_null(0))
        .select(list(WORKFLOW_RUNS.schema))
        .sort(RUN_KEY)
    )
    # Not sorted here: `combine` sorts each dataset of the day once, for every source at once
    # (a sort copies every column: 2M requests are ~1 GB).
    requests = requests.select(list(LLM_REQUESTS.schema))

    without_tokens = runs.filter(~pl.col("has_token_data")).height
    # A source that knows why it got no token data for a run says so; otherwise the run
    # simply had no token-usage.jsonl.
    reasons = (dict(skips.select("reason", "count").iter_rows()) if skips.height
               else {NO_TOKEN_FILE: without_tokens} if without_tokens else {})
    return {
        WORKFLOW_RUNS.name: Normalized(
            runs, to_quarantine(parsed_runs.rejected, day, source), raw_runs.height, dup_runs,
            raw_runs["_source"].n_unique()),
        LLM_REQUESTS.name: Normalized(
            requests, to_quarantine(rejected_requests, day, source), lines_in, dup_requests,
            pl.concat(files).n_unique(), without_tokens,
            reasons),
    }
