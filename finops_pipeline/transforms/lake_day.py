"""One day of the lake from the sources' raw rows: valid, quarantined or a counted duplicate.

The accounting promise (DESIGN section 8) is made here: for every dataset, source and day,
rows_in = rows_valid + rows_quarantined + rows_duplicate, recorded as `ingest_log` rows.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import polars as pl

from finops_pipeline.transforms.requests import LLM_REQUESTS_SCHEMA, parse_requests
from finops_pipeline.transforms.runs import WORKFLOW_RUNS_SCHEMA, parse_runs
from finops_pipeline.transforms.validation import QUARANTINE_SCHEMA

RUN_KEY = ["repo", "run_id", "run_attempt"]
REQUEST_KEY = ["repo", "run_id", "request_id"]
# A run seen in a run folder and in a --json listing is kept from the richer run folder.
SHAPE_PRIORITY = {"run_summary": 0, "logs_json": 1, "logs_json_legacy": 2}

INGEST_LOG_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(), "dataset": pl.String(), "source": pl.String(), "rows_in": pl.Int64(),
    "rows_valid": pl.Int64(), "rows_quarantined": pl.Int64(), "rows_duplicate": pl.Int64(),
    "files": pl.Int64(), "runs_skipped": pl.Int64(), "skip_reasons": pl.String(),
}


@dataclass(frozen=True)
class LakeDay:
    """A day's lake content for the datasets a source feeds."""

    workflow_runs: pl.DataFrame
    llm_requests: pl.DataFrame
    quarantine: dict[str, pl.DataFrame]
    ingest_log: pl.DataFrame


def _to_quarantine(rejected: pl.DataFrame, day: dt.date, source: str) -> pl.DataFrame:
    if rejected.height == 0:
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    return rejected.select(
        pl.lit(day).alias("day"),
        pl.lit(source).alias("source"),
        pl.col("_source").cast(pl.String),
        pl.col("_line").cast(pl.Int64),
        pl.col("_reason").cast(pl.String),
        pl.col("_raw").cast(pl.String),
    ).sort("_source", "_line")


def _dedupe(df: pl.DataFrame, key: list[str], order: list[str]) -> tuple[pl.DataFrame, int]:
    kept = df.sort(order).unique(subset=key, keep="first", maintain_order=True)
    return kept, df.height - kept.height


def _ingest_row(day: dt.date, dataset: str, source: str, rows_in: int, valid: int,
                quarantined: int, duplicate: int, files: int, skipped: int = 0,
                reasons: dict[str, int] | None = None) -> dict:
    return {"day": day, "dataset": dataset, "source": source, "rows_in": rows_in,
            "rows_valid": valid, "rows_quarantined": quarantined, "rows_duplicate": duplicate,
            "files": files, "runs_skipped": skipped,
            "skip_reasons": json.dumps(reasons or {}, sort_keys=True)}


def build_source_day(raw_runs: pl.DataFrame, raw_lines: pl.DataFrame, day: dt.date,
                     source: str) -> LakeDay:
    """Parse, validate, normalize and de-duplicate one source's raw rows of one day."""
    parsed_runs = parse_runs(raw_runs, day, source)
    runs = parsed_runs.runs.with_columns(
        pl.col("_shape").replace_strict(SHAPE_PRIORITY, default=9).alias("_priority"),
        (pl.col("repo") == "unknown").alias("_repo_unknown"),
    )
    # Run ids are global on GitHub, so a listing that does not name the repo still matches
    # the run's folder; the copy that knows the repo (and the richer shape) is kept.
    runs, dup_runs = _dedupe(runs, ["run_id", "run_attempt"],
                             ["_priority", "_repo_unknown", "_source", "_line"])

    parsed_requests = parse_requests(raw_lines, parsed_runs.refs, day, source)
    requests, dup_requests = _dedupe(
        parsed_requests.requests, REQUEST_KEY, ["_file_rank", "_source", "_line"]
    )
    per_run = requests.group_by(RUN_KEY).agg(pl.len().cast(pl.Int64).alias("requests"))
    runs = (
        runs.drop("requests")
        .join(per_run, on=RUN_KEY, how="left")
        .with_columns(pl.col("requests").fill_null(0))
        .select(list(WORKFLOW_RUNS_SCHEMA))
        .sort(RUN_KEY)
    )
    requests = requests.select(list(LLM_REQUESTS_SCHEMA)).sort(REQUEST_KEY)

    q_runs = _to_quarantine(parsed_runs.rejected, day, source)
    q_requests = _to_quarantine(parsed_requests.rejected, day, source)
    without_tokens = runs.filter(~pl.col("has_token_data")).height
    ingest = pl.DataFrame(
        [
            _ingest_row(day, "workflow_runs", source, raw_runs.height, runs.height,
                        q_runs.height, dup_runs, raw_runs["_source"].n_unique()),
            _ingest_row(day, "llm_requests", source, raw_lines.height, requests.height,
                        q_requests.height, dup_requests, raw_lines["_source"].n_unique(),
                        without_tokens,
                        {"no token-usage.jsonl in the run": without_tokens}
                        if without_tokens else {}),
        ],
        schema=INGEST_LOG_SCHEMA,
    )
    return LakeDay(runs, requests, {"workflow_runs": q_runs, "llm_requests": q_requests}, ingest)


def combine(days: list[LakeDay], day: dt.date) -> LakeDay:
    """Union the sources of one day into the day's lake files (sorted, so re-runs match)."""
    if not days:
        return LakeDay(
            pl.DataFrame(schema=WORKFLOW_RUNS_SCHEMA),
            pl.DataFrame(schema=LLM_REQUESTS_SCHEMA),
            {"workflow_runs": pl.DataFrame(schema=QUARANTINE_SCHEMA),
             "llm_requests": pl.DataFrame(schema=QUARANTINE_SCHEMA)},
            pl.DataFrame(schema=INGEST_LOG_SCHEMA),
        )
    datasets = days[0].quarantine.keys()
    return LakeDay(
        pl.concat([d.workflow_runs for d in days]).sort("source", *RUN_KEY),
        pl.concat([d.llm_requests for d in days]).sort("source", *REQUEST_KEY),
        {k: pl.concat([d.quarantine[k] for d in days]).sort("source", "_source", "_line")
         for k in datasets},
        pl.concat([d.ingest_log for d in days]).sort("dataset", "source"),
    )
