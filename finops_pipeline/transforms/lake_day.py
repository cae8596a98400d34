"""One day of the lake from the sources' raw rows: valid, quarantined or a counted duplicate.

The accounting promise (DESIGN section 8) is made here: for every dataset, source and day,
rows_in = rows_valid + rows_quarantined + rows_duplicate, recorded as `ingest_log` rows.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from finops_pipeline.transforms.pull_requests import PULL_REQUESTS_SCHEMA, parse_pull_requests
from finops_pipeline.transforms.requests import LLM_REQUESTS_SCHEMA, parse_requests
from finops_pipeline.transforms.runs import WORKFLOW_RUNS_SCHEMA, parse_runs
from finops_pipeline.transforms.validation import QUARANTINE_SCHEMA

RUN_KEY = ["repo", "run_id", "run_attempt"]
REQUEST_KEY = ["repo", "run_id", "request_id"]
PULL_KEY = ["repo", "number"]
# A run seen in a run folder and in a --json listing is kept from the richer run folder.
SHAPE_PRIORITY = {"github_api": 0, "run_summary": 1, "logs_json": 2, "logs_json_legacy": 3}
# When two sources deliver the same run or request, the API's copy wins over local files.
SOURCE_PRIORITY = {"github": 0, "gh_aw_logs": 1}
DATASETS = ("workflow_runs", "llm_requests", "pull_requests")
SCHEMAS = {"workflow_runs": WORKFLOW_RUNS_SCHEMA, "llm_requests": LLM_REQUESTS_SCHEMA,
           "pull_requests": PULL_REQUESTS_SCHEMA}
KEYS = {"workflow_runs": ["run_id", "run_attempt"], "llm_requests": REQUEST_KEY,
        "pull_requests": PULL_KEY}

INGEST_LOG_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(), "dataset": pl.String(), "source": pl.String(), "rows_in": pl.Int64(),
    "rows_valid": pl.Int64(), "rows_quarantined": pl.Int64(), "rows_duplicate": pl.Int64(),
    "files": pl.Int64(), "runs_skipped": pl.Int64(), "skip_reasons": pl.String(),
}


@dataclass(frozen=True)
class LakeDay:
    """A day's lake content: one frame per dataset, its quarantine, and the accounting."""

    data: dict[str, pl.DataFrame]
    quarantine: dict[str, pl.DataFrame]
    ingest_log: pl.DataFrame

    @property
    def workflow_runs(self) -> pl.DataFrame:
        return self.data["workflow_runs"]

    @property
    def llm_requests(self) -> pl.DataFrame:
        return self.data["llm_requests"]

    @property
    def pull_requests(self) -> pl.DataFrame:
        return self.data["pull_requests"]


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
    ).sort("_source", "_line", nulls_last=True)


def _dedupe(df: pl.DataFrame, key: list[str], order: list[str]) -> tuple[pl.DataFrame, int]:
    kept = df.sort(order, nulls_last=True).unique(subset=key, keep="first", maintain_order=True)
    return kept, df.height - kept.height


def _ingest_row(day: dt.date, dataset: str, source: str, rows_in: int, valid: int,
                quarantined: int, duplicate: int, files: int, skipped: int = 0,
                reasons: Mapping[str, int] | None = None) -> dict:
    return {"day": day, "dataset": dataset, "source": source, "rows_in": rows_in,
            "rows_valid": valid, "rows_quarantined": quarantined, "rows_duplicate": duplicate,
            "files": files, "runs_skipped": skipped,
            "skip_reasons": json.dumps(dict(reasons or {}), sort_keys=True)}


def build_source_day(raw: Mapping[str, pl.DataFrame], day: dt.date, source: str) -> LakeDay:
    """Parse, validate, normalize and de-duplicate one source's raw rows of one day.

    Args:
        raw: the source's raw frames: `runs` and `token_usage` always; `pull_requests` and
            `skips` (reason, count of runs whose data could not be fetched) when it has them.
        day: the partition day.
        source: the source name recorded on every row.
    """
    raw_runs, raw_lines = raw["runs"], raw["token_usage"]
    parsed_runs = parse_runs(raw_runs, day, source)
    runs = parsed_runs.runs.with_columns(
        pl.col("_shape").replace_strict(SHAPE_PRIORITY, default=9).alias("_priority"),
        (pl.col("repo") == "unknown").alias("_repo_unknown"),
    )
    # Run ids are global on GitHub, so a listing that does not name the repo still matches
    # the run's folder; the copy that knows the repo (and the richer shape) is kept.
    runs, dup_runs = _dedupe(runs, KEYS["workflow_runs"],
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

    without_tokens = runs.filter(~pl.col("has_token_data")).height
    reasons: dict[str, int] = {}
    skips = raw.get("skips")
    if skips is not None and skips.height:
        reasons.update(dict(skips.select("reason", "count").iter_rows()))
    elif without_tokens:
        reasons["no token-usage.jsonl in the run"] = without_tokens
    data = {"workflow_runs": runs, "llm_requests": requests}
    quarantine = {"workflow_runs": _to_quarantine(parsed_runs.rejected, day, source),
                  "llm_requests": _to_quarantine(parsed_requests.rejected, day, source)}
    ingest = [
        _ingest_row(day, "workflow_runs", source, raw_runs.height, runs.height,
                    quarantine["workflow_runs"].height, dup_runs,
                    raw_runs["_source"].n_unique()),
        _ingest_row(day, "llm_requests", source, raw_lines.height, requests.height,
                    quarantine["llm_requests"].height, dup_requests,
                    raw_lines["_source"].n_unique(), without_tokens, reasons),
    ]
    raw_pulls = raw.get("pull_requests")
    if raw_pulls is not None:
        pulls, rejected = parse_pull_requests(raw_pulls, day, source)
        pulls, dup_pulls = _dedupe(pulls, PULL_KEY, ["_source"])
        data["pull_requests"] = pulls.sort(PULL_KEY)
        quarantine["pull_requests"] = _to_quarantine(rejected, day, source)
        ingest.append(_ingest_row(day, "pull_requests", source, raw_pulls.height, pulls.height,
                                  quarantine["pull_requests"].height, dup_pulls, 0))
    return LakeDay(data, quarantine, pl.DataFrame(ingest, schema=INGEST_LOG_SCHEMA))


def combine(days: list[LakeDay]) -> LakeDay:
    """Union the sources of one day into the day's lake files (sorted, so re-runs match).

    A run, request or pull request delivered by two sources is kept once (SOURCE_PRIORITY)
    and counted as a duplicate of the source whose copy was dropped.
    """
    data, quarantine, lost = {}, {}, []
    ingest = (pl.concat([d.ingest_log for d in days]) if days
              else pl.DataFrame(schema=INGEST_LOG_SCHEMA))
    for name in DATASETS:
        frames = [d.data[name] for d in days if name in d.data]
        df = pl.concat(frames) if frames else pl.DataFrame(schema=SCHEMAS[name])
        df = df.with_columns(
            pl.col("source").replace_strict(SOURCE_PRIORITY, default=9).alias("_sp"))
        kept, dropped = _dedupe(df, KEYS[name], ["_sp", "source"])
        if dropped:
            lost.append(df.join(kept.select(*KEYS[name], "source"), on=[*KEYS[name], "source"],
                                how="anti").group_by("source").agg(pl.len().alias("_lost"))
                        .with_columns(pl.lit(name).alias("dataset")))
        sort = ["source", *KEYS[name]] if name != "workflow_runs" else ["source", *RUN_KEY]
        data[name] = kept.drop("_sp").sort(sort)
        qs = [d.quarantine[name] for d in days if name in d.quarantine]
        quarantine[name] = (pl.concat(qs).sort("source", "_source", "_line", nulls_last=True)
                            if qs else pl.DataFrame(schema=QUARANTINE_SCHEMA))
    if lost:  # a dropped copy moves from its source's valid rows to its duplicates
        ingest = ingest.join(pl.concat(lost), on=["dataset", "source"], how="left").with_columns(
            pl.col("rows_valid") - pl.col("_lost").fill_null(0),
            pl.col("rows_duplicate") + pl.col("_lost").fill_null(0),
        ).drop("_lost")
    return LakeDay(data, quarantine, ingest.sort("dataset", "source"))
