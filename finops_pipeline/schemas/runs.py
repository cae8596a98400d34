"""Workflow runs: the raw run object of any shape, and the canonical `workflow_runs` dataset."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData
from pandera.engines.polars_engine import DateTime

from finops_pipeline.schemas import checks

# A run whose latest attempt concluded so is failed (and its spend wasted).
FAILED_CONCLUSIONS = ("failure", "timed_out", "cancelled", "startup_failure")
RAW_RUN_INT_FIELDS = ("run_number", "token_usage", "turns", "error_count", "warning_count",
                      "duration_ns", "summary_input_tokens", "summary_output_tokens",
                      "summary_cache_read_tokens", "summary_cache_write_tokens",
                      "summary_requests")


# The `workflow_runs` lake dataset; `_shape` orders copies of one run (internal).
WORKFLOW_RUNS_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(), "source": pl.String(), "repo": pl.String(), "run_id": pl.Int64(),
    "run_attempt": pl.Int32(), "run_number": pl.Int64(), "workflow": pl.String(),
    "workflow_path": pl.String(), "event": pl.String(), "head_branch": pl.String(),
    "head_sha": pl.String(), "status": pl.String(), "conclusion": pl.String(),
    "is_failed": pl.Boolean(), "actor": pl.String(), "engine": pl.String(),
    "primary_model": pl.String(), "url": pl.String(),
    "created_at": pl.Datetime("us", "UTC"), "started_at": pl.Datetime("us", "UTC"),
    "updated_at": pl.Datetime("us", "UTC"), "duration_ms": pl.Int64(), "turns": pl.Int64(),
    "error_count": pl.Int64(), "warning_count": pl.Int64(), "reported_tokens": pl.Int64(),
    "reported_cost_usd": pl.Float64(), "reported_ai_credits": pl.Float64(),
    "reported_by_model": pl.String(), "summary_input_tokens": pl.Int64(),
    "summary_output_tokens": pl.Int64(),
    "summary_cache_read_tokens": pl.Int64(), "summary_cache_write_tokens": pl.Int64(),
    "summary_requests": pl.Int64(), "token_files": pl.Int32(), "has_token_data": pl.Boolean(),
    "requests": pl.Int64(), "_shape": pl.String(), "_source": pl.String(), "_line": pl.Int64(),
}
# Run references of valid runs: what token-usage lines join on to learn their run.
RUN_REFS_SCHEMA = {"_run_ref": pl.String, "repo": pl.String, "run_id": pl.Int64,
                   "run_attempt": pl.Int32, "workflow": pl.String}


class RawRun(pa.DataFrameModel):
    """A run as extracted text; only an id and a creation time are indispensable."""

    run_id: str = pa.Field(nullable=False)
    created_at: str = pa.Field(nullable=False)
    run_attempt: str = pa.Field(nullable=True)
    started_at: str = pa.Field(nullable=True)
    updated_at: str = pa.Field(nullable=True)
    duration_text: str = pa.Field(nullable=True)
    reported_cost_usd: str = pa.Field(nullable=True)
    reported_ai_credits: str = pa.Field(nullable=True)
    run_number: str = pa.Field(nullable=True)
    token_usage: str = pa.Field(nullable=True)
    turns: str = pa.Field(nullable=True)
    error_count: str = pa.Field(nullable=True)
    warning_count: str = pa.Field(nullable=True)
    duration_ns: str = pa.Field(nullable=True)
    summary_input_tokens: str = pa.Field(nullable=True)
    summary_output_tokens: str = pa.Field(nullable=True)
    summary_cache_read_tokens: str = pa.Field(nullable=True)
    summary_cache_write_tokens: str = pa.Field(nullable=True)
    summary_requests: str = pa.Field(nullable=True)

    @pa.check("run_id", "run_attempt", name="a positive integer")
    def _positive(cls, data: PolarsData) -> pl.LazyFrame:
        return checks.matches(data, checks.POSITIVE_INT)

    @pa.check("created_at", "started_at", "updated_at", name="an ISO 8601 timestamp")
    def _timestamp(cls, data: PolarsData) -> pl.LazyFrame:
        return checks.is_timestamp(data)

    @pa.check(*RAW_RUN_INT_FIELDS, name="a non-negative integer")
    def _non_negative(cls, data: PolarsData) -> pl.LazyFrame:
        return checks.matches(data, checks.NON_NEGATIVE_INT)

    @pa.check("reported_cost_usd", "reported_ai_credits", name="a non-negative number")
    def _money(cls, data: PolarsData) -> pl.LazyFrame:
        return checks.matches(data, checks.NON_NEGATIVE_NUMBER)

    @pa.check("duration_text", name="a Go duration such as 4m12.5s")
    def _go_duration(cls, data: PolarsData) -> pl.LazyFrame:
        return checks.matches(data, checks.GO_DURATION)

    class Config:
        strict = False


class WorkflowRuns(pa.DataFrameModel):
    """The `workflow_runs` lake dataset: one row per (repo, run_id, run_attempt)."""

    day: pl.Date = pa.Field(nullable=False)
    source: str = pa.Field(nullable=False)
    repo: str = pa.Field(nullable=False)
    run_id: pl.Int64 = pa.Field(nullable=False, ge=1)
    run_attempt: pl.Int32 = pa.Field(nullable=False, ge=1)
    workflow: str = pa.Field(nullable=False)
    created_at: DateTime(time_zone="UTC", time_unit="us") = pa.Field(nullable=False)  # type: ignore[valid-type]
    duration_ms: pl.Int64 = pa.Field(nullable=True, ge=0)
    has_token_data: pl.Boolean = pa.Field(nullable=False)

    @pa.dataframe_check(name="created on the partition day (UTC)")
    def _created_on_day(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("created_at").dt.date() == pl.col("day"))

    class Config:
        strict = False
