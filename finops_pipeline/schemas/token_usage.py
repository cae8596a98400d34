"""The api-proxy `token-usage.jsonl` record (DESIGN section 4) and the canonical request.

`RawTokenUsage` checks each field as extracted text; `LlmRequests` is the lake contract of the
`llm_requests` dataset, with the disjoint token buckets of DESIGN section 5.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData
from pandera.engines.polars_engine import DateTime

from finops_pipeline.schemas import checks

PROVIDERS = ("anthropic", "openai", "copilot", "gemini", "opencode", "unknown")
SCHEMA_PREFIX = "token-usage/v"
EVENT = "token_usage"

# The disjoint token buckets of DESIGN section 5, each priced at its own unit price.
TOKEN_BUCKETS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
REQUIRED_INT_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens",
                       "cache_write_tokens", "duration_ms")
OPTIONAL_INT_FIELDS = ("response_bytes", "reasoning_tokens")
# What GitHub bills (AI credits, since mid-2026), as the api-proxy writes it per response:
# taken as written, never recomputed from the tokens (gh-aw once subtracted cache twice).
CREDIT_NUMBER_FIELDS = ("ai_credits_this_response", "ai_credits_total",
                        "effective_tokens_this_response", "effective_tokens_total",
                        "model_multiplier", "ai_credits_pricing_discount_percent")
CREDIT_TEXT_FIELDS = ("ai_credits_pricing_source", "ai_credits_pricing_tier",
                      "ai_credits_accounting_policy", "ai_credits_dynamic_selector",
                      "ai_credits_pricing_observed_at", "ai_credits_pricing_api_version")
BOOLEAN_FIELDS = ("ai_credits_fallback_pricing_used", "input_tokens_include_cache")
# Every field the pipeline reads from a record; anything else is allowed and ignored.
FIELDS = ("timestamp", "request_id", "provider", "model", "path", "status", "streaming",
          *REQUIRED_INT_FIELDS, *OPTIONAL_INT_FIELDS, "_schema", "event", "x_initiator",
          *CREDIT_NUMBER_FIELDS, *CREDIT_TEXT_FIELDS, *BOOLEAN_FIELDS)
#: One AI credit is one US cent.
USD_PER_AI_CREDIT = 0.01


# The `llm_requests` lake dataset; `_file_rank` orders copies of one request (internal).
LLM_REQUESTS_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(), "source": pl.String(), "repo": pl.String(), "workflow": pl.String(),
    "run_id": pl.Int64(), "run_attempt": pl.Int32(), "request_id": pl.String(),
    "timestamp": pl.Datetime("us", "UTC"), "provider": pl.String(), "model": pl.String(),
    "path": pl.String(), "status": pl.Int32(), "streaming": pl.Boolean(),
    "input_tokens": pl.Int64(), "output_tokens": pl.Int64(), "cache_read_tokens": pl.Int64(),
    "cache_write_tokens": pl.Int64(), "reasoning_tokens": pl.Int64(),
    "prompt_tokens": pl.Int64(), "total_tokens": pl.Int64(), "duration_ms": pl.Int64(),
    "response_bytes": pl.Int64(), "x_initiator": pl.String(), "schema_version": pl.String(),
    "token_rule": pl.String(), "cost_usd": pl.Float64(), "reported_cost_usd": pl.Float64(),
    "price_basis": pl.String(),
    "ai_credits": pl.Float64(), "ai_credits_total": pl.Float64(),
    "effective_tokens": pl.Float64(), "effective_tokens_total": pl.Float64(),
    "model_multiplier": pl.Float64(), "ai_credits_pricing_source": pl.String(),
    "ai_credits_pricing_tier": pl.String(), "ai_credits_accounting_policy": pl.String(),
    "ai_credits_fallback_pricing_used": pl.Boolean(), "ai_credits_dynamic_selector": pl.String(),
    "ai_credits_pricing_observed_at": pl.String(), "ai_credits_pricing_api_version": pl.String(),
    "ai_credits_pricing_discount_percent": pl.Float64(),
    "_source": pl.String(), "_line": pl.Int64(), "_file_rank": pl.Int32(),
}


class RawTokenUsage(pa.DataFrameModel):
    """One token-usage.jsonl record, every field as the text its writer put there."""

    timestamp: str = pa.Field(nullable=False)
    request_id: str = pa.Field(nullable=False)
    provider: str = pa.Field(nullable=False, isin=list(PROVIDERS))
    model: str = pa.Field(nullable=False)
    path: str = pa.Field(nullable=False)
    status: str = pa.Field(nullable=False)
    streaming: str = pa.Field(nullable=False)
    input_tokens: str = pa.Field(nullable=False)
    output_tokens: str = pa.Field(nullable=False)
    cache_read_tokens: str = pa.Field(nullable=False)
    cache_write_tokens: str = pa.Field(nullable=False)
    duration_ms: str = pa.Field(nullable=False)
    response_bytes: str = pa.Field(nullable=True)
    reasoning_tokens: str = pa.Field(nullable=True)
    ai_credits_this_response: str = pa.Field(nullable=True)
    ai_credits_total: str = pa.Field(nullable=True)
    effective_tokens_this_response: str = pa.Field(nullable=True)
    effective_tokens_total: str = pa.Field(nullable=True)
    model_multiplier: str = pa.Field(nullable=True)
    ai_credits_pricing_discount_percent: str = pa.Field(nullable=True)
    ai_credits_fallback_pricing_used: str = pa.Field(nullable=True)
    input_tokens_include_cache: str = pa.Field(nullable=True)
    schema: str = pa.Field(nullable=True, alias="_schema", str_startswith=SCHEMA_PREFIX)
    event: str = pa.Field(nullable=True, isin=[EVENT])

    @pa.check("timestamp", name="an ISO 8601 timestamp")
    def _timestamp(cls, data: PolarsData) -> pl.LazyFrame:
        return checks.is_timestamp(data)

    @pa.check("request_id", "model", name="not blank")
    def _not_blank(cls, data: PolarsData) -> pl.LazyFrame:
        return checks.is_not_blank(data)

    @pa.check("request_id", "model", "path", name="a string, not an object or array")
    def _scalar(cls, data: PolarsData) -> pl.LazyFrame:
        return checks.matches(data, r"^[^\[{]")

    @pa.check(*REQUIRED_INT_FIELDS, *OPTIONAL_INT_FIELDS, name="a non-negative integer")
    def _non_negative_int(cls, data: PolarsData) -> pl.LazyFrame:
        return checks.matches(data, checks.NON_NEGATIVE_INT)

    @pa.check(*CREDIT_NUMBER_FIELDS, name="a non-negative number")
    def _non_negative_number(cls, data: PolarsData) -> pl.LazyFrame:
        return checks.matches(data, checks.NON_NEGATIVE_NUMBER)

    @pa.check(*BOOLEAN_FIELDS, name="true or false")
    def _boolean(cls, data: PolarsData) -> pl.LazyFrame:
        return checks.matches(data, checks.BOOLEAN)

    @pa.check("status", name="an HTTP status 100-599")
    def _status(cls, data: PolarsData) -> pl.LazyFrame:
        return checks.matches(data, r"^[1-5][0-9]{2}(\.0*)?$")

    @pa.check("streaming", name="true or false")
    def _streaming(cls, data: PolarsData) -> pl.LazyFrame:
        return checks.matches(data, checks.BOOLEAN)

    class Config:
        strict = False


class LlmRequests(pa.DataFrameModel):
    """The `llm_requests` lake dataset: one row per (repo, run_id, request_id)."""

    day: pl.Date = pa.Field(nullable=False)
    source: str = pa.Field(nullable=False)
    repo: str = pa.Field(nullable=False)
    workflow: str = pa.Field(nullable=False)
    run_id: pl.Int64 = pa.Field(nullable=False, ge=1)
    run_attempt: pl.Int32 = pa.Field(nullable=False, ge=1)
    request_id: str = pa.Field(nullable=False)
    timestamp: DateTime(time_zone="UTC", time_unit="us") = pa.Field(nullable=False)  # type: ignore[valid-type]
    provider: str = pa.Field(nullable=False, isin=list(PROVIDERS))
    model: str = pa.Field(nullable=False)
    status: pl.Int32 = pa.Field(nullable=False, in_range={"min_value": 100, "max_value": 599})
    input_tokens: pl.Int64 = pa.Field(nullable=False, ge=0)
    output_tokens: pl.Int64 = pa.Field(nullable=False, ge=0)
    cache_read_tokens: pl.Int64 = pa.Field(nullable=False, ge=0)
    cache_write_tokens: pl.Int64 = pa.Field(nullable=False, ge=0)
    reasoning_tokens: pl.Int64 = pa.Field(nullable=True, ge=0)
    prompt_tokens: pl.Int64 = pa.Field(nullable=False, ge=0)
    total_tokens: pl.Int64 = pa.Field(nullable=False, ge=0)
    duration_ms: pl.Int64 = pa.Field(nullable=False, ge=0)
    token_rule: str = pa.Field(nullable=False)

    @pa.dataframe_check(name="reasoning_tokens is a part of output_tokens")
    def _reasoning_within_output(cls, data: PolarsData) -> pl.LazyFrame:
        c = pl.col
        return data.lazyframe.select(
            c("reasoning_tokens").is_null() | (c("reasoning_tokens") <= c("output_tokens"))
        )

    @pa.dataframe_check(name="prompt_tokens = input + cache_read + cache_write")
    def _prompt_sum(cls, data: PolarsData) -> pl.LazyFrame:
        c = pl.col
        return data.lazyframe.select(
            c("prompt_tokens") == c("input_tokens") + c("cache_read_tokens")
            + c("cache_write_tokens")
        )

    class Config:
        strict = False
