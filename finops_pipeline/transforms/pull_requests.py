"""Raw pull-request rows -> the canonical `pull_requests` dataset (Copilot agent outcomes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import polars as pl

from finops_pipeline.schemas.datasets import PULL_REQUESTS
from finops_pipeline.schemas.json_engine import int_from_text
from finops_pipeline.schemas.pull_requests import (
    PULL_REQUESTS_SCHEMA,
    PullRequests,
    RawPullRequest,
)
from finops_pipeline.schemas.timeparse import parse_utc_timestamp
from finops_pipeline.transforms.accounting import Normalized, dedupe, to_quarantine
from finops_pipeline.transforms.json_extract import extract_fields
from finops_pipeline.transforms.validation import split_valid

PR_FIELDS = ("repo", "number", "state", "created_at", "updated_at", "merged_at", "closed_at",
             "head_ref",
             "author", "title", "url")


def parse_pull_requests(raw: pl.DataFrame, day: dt.date,
                        source: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(valid pull requests, rejected rows with _reason) of one source's day."""
    fields = extract_fields(raw, "_raw", {f: (f"$.{f}",) for f in PR_FIELDS})
    not_object = fields.filter(pl.col("_json_type").is_null() | (pl.col("_json_type") != "OBJECT"))
    valid, rejected = split_valid(fields.filter(pl.col("_json_type") == "OBJECT"), RawPullRequest)
    rejected = pl.concat([not_object.with_columns(pl.lit("not a JSON object").alias("_reason")),
                          rejected], how="diagonal_relaxed")
    typed = valid.select(
        pl.lit(day).alias("day"), pl.lit(source).alias("source"), "repo",
        int_from_text(pl.col("number")).alias("number"),
        "state",
        *[parse_utc_timestamp(pl.col(c)).alias(c) for c in ("created_at", "updated_at",
                                                             "merged_at", "closed_at")],
        "head_ref", "author", "title", "url", "_source", "_line", "_raw",
    )
    typed, wrong_day = split_valid(typed, PullRequests)
    rejected = pl.concat([rejected, wrong_day], how="diagonal_relaxed")
    return typed.select(list(PULL_REQUESTS_SCHEMA)), rejected


def normalize_pull_requests(raw: Mapping[str, pl.DataFrame], day: dt.date,
                            source: str) -> dict[str, Normalized]:
    """The `pull_requests` dataset of one source's day, de-duplicated by (repo, number)."""
    raw_pulls = raw["pull_requests"]
    pulls, rejected = parse_pull_requests(raw_pulls, day, source)
    pulls, duplicates = dedupe(pulls, PULL_REQUESTS.key, ["_source"])
    # files = 0: pull requests come from API listings, not files.
    return {PULL_REQUESTS.name: Normalized(
        pulls.sort(PULL_REQUESTS.key), to_quarantine(rejected, day, source), raw_pulls.height,
        duplicates, 0)}
