"""Raw gh-aw run objects (any of the three shapes) -> the canonical `workflow_runs` rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from finops_pipeline.schemas.gh_aw_layout import (
    AGENT_USAGE_FIELD_PATHS,
    AW_INFO_FIELD_PATHS,
    RUN_FIELD_PATHS,
)
from finops_pipeline.schemas.json_engine import duckdb_columns, int_from_text
from finops_pipeline.schemas.runs import (
    FAILED_CONCLUSIONS,
    RUN_REFS_SCHEMA,
    WORKFLOW_RUNS_SCHEMA,
    RawRun,
    WorkflowRuns,
)
from finops_pipeline.schemas.timeparse import parse_utc_timestamp
from finops_pipeline.transforms.json_extract import extract_fields
from finops_pipeline.transforms.validation import split_valid

_URL_REPO = r"^https?://[^/]+/(?:api/v3/)?(?:repos/)?([^/]+/[^/]+)/actions/runs/"
_GO_UNITS_MS = {"h": 3_600_000.0, "m": 60_000.0, "s": 1000.0, "ms": 1.0, "us": 1e-3,
                "µs": 1e-3, "ns": 1e-6}


@dataclass(frozen=True)
class ParsedRuns:
    runs: pl.DataFrame  # canonical rows (before de-duplication)
    rejected: pl.DataFrame  # raw rows with _reason
    refs: pl.DataFrame  # _run_ref -> run identity, for valid runs


def go_duration_ms(expr: pl.Expr) -> pl.Expr:
    """Milliseconds of a Go duration string such as `1h2m3.5s` or `350ms`."""
    parts = expr.str.extract_all(r"[0-9]*\.?[0-9]+(?:h|ms|m|s|us|µs|ns)")
    return parts.list.eval(
        pl.element().str.extract(r"^([0-9]*\.?[0-9]+)").cast(pl.Float64)
        * pl.element()
        .str.extract(r"([a-zµ]+)$")
        .replace_strict(_GO_UNITS_MS, return_dtype=pl.Float64)
    ).list.sum()


def _int(name: str) -> pl.Expr:
    return int_from_text(pl.col(name))


#: token_usage_summary.by_model fields -> the run totals they add up to.
_BY_MODEL_SUMS = {"input_tokens": "summary_input_tokens",
                  "output_tokens": "summary_output_tokens",
                  "cache_read_tokens": "summary_cache_read_tokens",
                  "cache_write_tokens": "summary_cache_write_tokens",
                  "requests": "summary_requests"}


def by_model_totals(runs: pl.DataFrame) -> pl.DataFrame:
    """`runs` with the sums over `reported_by_model` (current gh-aw: token_usage_summary.
    by_model{model: {input_tokens, ..., requests, aic}}) as `_by_model_<field>` columns.

    The object's keys are model names, so DuckDB reads it as a MAP; a value of the wrong form
    becomes null, never an error (the run totals it feeds are informational)."""
    def number(f: str) -> str:
        value = f"TRY_CAST(json_extract_string(v, '$.{f}') AS DOUBLE)"
        if f == "aic":
            return value
        # a count: a whole number only (TRY_CAST to BIGINT would round 1.5 to 2)
        return f"CASE WHEN {value} = floor({value}) THEN {value}::BIGINT END"

    sums = ", ".join(
        f"list_sum(list_transform(map_values(m), lambda v: {number(f)}))"
        f"::{'DOUBLE' if f == 'aic' else 'BIGINT'} AS _by_model_{f}"
        for f in (*_BY_MODEL_SUMS, "aic"))
    return duckdb_columns(runs, "reported_by_model", f"""
        SELECT _i, {sums} FROM (
            SELECT _i, CASE WHEN json_type(reported_by_model) = 'OBJECT' THEN
                json_transform(reported_by_model, '"MAP(VARCHAR, JSON)"') END AS m
            FROM src)""")


def parse_runs(raw: pl.DataFrame, day: dt.date, source: str) -> ParsedRuns:
    """Extract, validate and type the runs of one day from one source's raw run rows."""
    # The run object first; then aw_info.json; then agent_usage.json (run totals when the
    # summary carries none).
    fields = extract_fields(raw, "_raw", RUN_FIELD_PATHS,
                            [("_aw_info", AW_INFO_FIELD_PATHS),
                             ("_agent_usage", AGENT_USAGE_FIELD_PATHS)])
    unreadable = fields.select(
        pl.col("_raw").str.json_path_match("$._unreadable").alias("_reason"), pl.all()
    )
    pre_rejected = unreadable.filter(pl.col("_reason").is_not_null())
    candidates = unreadable.filter(pl.col("_reason").is_null()).drop("_reason")
    valid, rejected = split_valid(candidates, RawRun)
    rejected = pl.concat([pre_rejected, rejected], how="diagonal_relaxed")

    ts = {c: parse_utc_timestamp(pl.col(c)) for c in ("created_at", "started_at", "updated_at")}
    repo = pl.coalesce(
        pl.col("repository"),  # extract_fields already turned blanks into nulls
        pl.col("url").str.extract(_URL_REPO, 1),
        pl.lit("unknown"),
    )
    workflow = pl.coalesce(
        pl.col("workflow"),
        pl.col("workflow_path").str.extract(r"([^/]+?)(?:\.lock)?\.ya?ml$", 1),
        pl.lit("unknown"),
    )
    duration = pl.coalesce(
        _int("duration_ns") // 1_000_000,
        go_duration_ms(pl.col("duration_text")).round(0).cast(pl.Int64),
        ((ts["updated_at"] - ts["started_at"]).dt.total_milliseconds()).clip(lower_bound=0),
    )
    valid = by_model_totals(valid)
    runs = valid.select(
        pl.lit(day).alias("day"),
        pl.lit(source).alias("source"),
        repo.alias("repo"),
        _int("run_id").alias("run_id"),
        pl.coalesce(_int("run_attempt"), pl.lit(1)).cast(pl.Int32).alias("run_attempt"),
        _int("run_number").alias("run_number"),
        workflow.alias("workflow"),
        "workflow_path", "event", "head_branch", "head_sha", "status", "conclusion",
        pl.col("conclusion").is_in(FAILED_CONCLUSIONS).fill_null(False).alias("is_failed"),
        "actor", "engine", "primary_model", "url",
        ts["created_at"].alias("created_at"),
        ts["started_at"].alias("started_at"),
        ts["updated_at"].alias("updated_at"),
        duration.alias("duration_ms"),
        _int("turns").alias("turns"),
        _int("error_count").alias("error_count"),
        _int("warning_count").alias("warning_count"),
        _int("token_usage").alias("reported_tokens"),
        pl.col("reported_cost_usd").cast(pl.Float64, strict=False),
        pl.coalesce(pl.col("reported_ai_credits").cast(pl.Float64, strict=False),
                    "_by_model_aic").alias("reported_ai_credits"),
        "reported_by_model",
        # The summary's totals, else (current gh-aw, per model only) their sums.
        *[pl.coalesce(_int(total), f"_by_model_{field}").alias(total)
          for field, total in _BY_MODEL_SUMS.items()],
        pl.col("_token_files").cast(pl.Int32).alias("token_files"),
        (pl.col("_token_files") > 0).alias("has_token_data"),
        pl.lit(None, pl.Int64).alias("requests"),
        "_shape", "_source", "_line", "_run_ref",
    )
    runs, wrong_day = split_valid(runs, WorkflowRuns)
    if wrong_day.height:
        wrong_day = wrong_day.join(
            raw.select("_run_ref", "_raw"), on="_run_ref", how="left"
        )
        rejected = pl.concat([rejected, wrong_day], how="diagonal_relaxed")
    refs = runs.select(list(RUN_REFS_SCHEMA))
    return ParsedRuns(runs.select([pl.col(k).cast(v) for k, v in WORKFLOW_RUNS_SCHEMA.items()]),
                      rejected, refs)
