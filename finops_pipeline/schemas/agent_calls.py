"""Agent calls of multi-agent apps (seed 002, seed 004): the raw events as text, then the
`agent_calls` and `workflow_executions` lake datasets.

These requests have no GitHub run: a call belongs to an app *workflow execution*
(`workflow_id`: an execution of a workflow named `workflow_name`, started by a user in a
session of an organization), and may have a parent call (chains of agents).

Raw event lines (`{"type": ...}` JSONL, in any order, across files and days):

* `workflow_start`: workflow_id, workflow_name, user_id, session_id, organization_id,
  timestamp;
* `call`: call_id, parent_call_id, workflow_id, agent_name, model, input_tokens,
  output_tokens, optional cache_read_tokens / cache_write_tokens / reasoning_tokens,
  latency_ms, success, timestamp (optional provider);
* `workflow_end`: workflow_id, success, timestamp.

Token buckets are disjoint (DESIGN section 5): an event's `input_tokens` is taken as the
uncached input and its cache fields as separate buckets (the seed-002 API's convention).
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData
from pandera.engines.polars_engine import DateTime

from finops_pipeline.schemas import checks

EVENT_TYPES = ("workflow_start", "call", "workflow_end")
EVENT_INT_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
                    "reasoning_tokens", "latency_ms")
EVENT_FIELDS = ("type", "workflow_id", "workflow_name", "user_id", "session_id",
                "organization_id", "timestamp", "call_id", "parent_call_id", "agent_name",
                "provider", "model", *EVENT_INT_FIELDS, "success")
#: The fields each event type cannot do without.
REQUIRED_BY_TYPE = {
    "workflow_start": ("workflow_id", "timestamp"),
    "call": ("call_id", "workflow_id", "model", "input_tokens", "output_tokens", "timestamp"),
    "workflow_end": ("workflow_id", "timestamp"),
}

AGENT_CALLS_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(), "source": pl.String(), "workflow_id": pl.String(),
    "call_id": pl.String(), "parent_call_id": pl.String(), "agent_name": pl.String(),
    "provider": pl.String(), "model": pl.String(), "workflow_name": pl.String(),
    "user_id": pl.String(), "session_id": pl.String(), "organization_id": pl.String(),
    "timestamp": pl.Datetime("us", "UTC"), "latency_ms": pl.Int64(), "success": pl.Boolean(),
    "input_tokens": pl.Int64(), "output_tokens": pl.Int64(), "cache_read_tokens": pl.Int64(),
    "cache_write_tokens": pl.Int64(), "reasoning_tokens": pl.Int64(),
    "prompt_tokens": pl.Int64(), "total_tokens": pl.Int64(), "token_rule": pl.String(),
    "request_id": pl.String(), "reported_cost_usd": pl.Float64(),
    "reported_ai_credits": pl.Float64(), "cost_usd": pl.Float64(), "price_basis": pl.String(),
    "_source": pl.String(), "_line": pl.Int64(),
}

WORKFLOW_STATUSES = ("succeeded", "failed", "open")
WORKFLOW_EXECUTIONS_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(), "source": pl.String(), "workflow_id": pl.String(),
    "workflow_name": pl.String(), "user_id": pl.String(), "session_id": pl.String(),
    "organization_id": pl.String(), "started_at": pl.Datetime("us", "UTC"),
    "ended_at": pl.Datetime("us", "UTC"), "duration_ms": pl.Int64(), "success": pl.Boolean(),
    "status": pl.String(), "_source": pl.String(), "_line": pl.Int64(),
}


class RawAgentEvent(pa.DataFrameModel):
    """An event line as extracted text; what each type requires is checked beside it."""

    type: str = pa.Field(nullable=False, isin=list(EVENT_TYPES))
    workflow_id: str = pa.Field(nullable=True)
    timestamp: str = pa.Field(nullable=True)
    input_tokens: str = pa.Field(nullable=True)
    output_tokens: str = pa.Field(nullable=True)
    cache_read_tokens: str = pa.Field(nullable=True)
    cache_write_tokens: str = pa.Field(nullable=True)
    reasoning_tokens: str = pa.Field(nullable=True)
    latency_ms: str = pa.Field(nullable=True)
    success: str = pa.Field(nullable=True)

    @pa.check("timestamp", name="an ISO 8601 timestamp")
    def _timestamp(cls, data: PolarsData) -> pl.LazyFrame:
        return checks.is_timestamp(data)

    @pa.check(*EVENT_INT_FIELDS, name="a non-negative integer")
    def _non_negative_int(cls, data: PolarsData) -> pl.LazyFrame:
        return checks.matches(data, checks.NON_NEGATIVE_INT)

    @pa.check("success", name="true or false")
    def _success(cls, data: PolarsData) -> pl.LazyFrame:
        return checks.matches(data, checks.BOOLEAN)

    class Config:
        strict = False


class AgentCalls(pa.DataFrameModel):
    """The `agent_calls` lake dataset: one row per call (workflow_id, call_id)."""

    day: pl.Date = pa.Field(nullable=False)
    source: str = pa.Field(nullable=False)
    workflow_id: str = pa.Field(nullable=False)
    call_id: str = pa.Field(nullable=False)
    model: str = pa.Field(nullable=False)
    timestamp: DateTime(time_zone="UTC", time_unit="us") = pa.Field(nullable=False)  # type: ignore[valid-type]
    input_tokens: pl.Int64 = pa.Field(nullable=False, ge=0)
    output_tokens: pl.Int64 = pa.Field(nullable=False, ge=0)
    cache_read_tokens: pl.Int64 = pa.Field(nullable=False, ge=0)
    cache_write_tokens: pl.Int64 = pa.Field(nullable=False, ge=0)

    class Config:
        strict = False


class WorkflowExecutions(pa.DataFrameModel):
    """The `workflow_executions` lake dataset: one row per workflow_id, on its start day."""

    day: pl.Date = pa.Field(nullable=False)
    workflow_id: str = pa.Field(nullable=False)
    status: str = pa.Field(nullable=False, isin=list(WORKFLOW_STATUSES))

    @pa.dataframe_check(name="ends after it starts")
    def _ordered(cls, data: PolarsData) -> pl.LazyFrame:
        c = pl.col
        return data.lazyframe.select(c("ended_at").is_null() | c("started_at").is_null()
                                     | (c("ended_at") >= c("started_at")))

    class Config:
        strict = False
