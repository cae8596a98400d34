"""Raw token-usage.jsonl lines -> canonical `llm_requests` rows with disjoint token buckets.

Providers disagree on whether `input_tokens` includes cached tokens (DESIGN section 5):
Anthropic's excludes cache reads and writes; OpenAI's, Copilot's and Gemini's include cache
reads. A record's own `input_tokens_include_cache` (true: includes cache reads; false: excludes
them) overrides that rule. The lake stores disjoint buckets and the rule applied
(`token_rule`); a record whose numbers cannot be made disjoint is quarantined with the reason.

The AI credits GitHub bills for the response (`ai_credits_this_response`, kept as
`ai_credits`), the run's running total, effective tokens, the model multiplier and the
pricing provenance are carried as written: credits are never recomputed from tokens.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from finops_pipeline.schemas.json_engine import int_from_text
from finops_pipeline.schemas.timeparse import parse_utc_timestamp
from finops_pipeline.schemas.token_rules import (
    EXCLUSIVE,
    INCLUSIVE_CACHE_READ,
    token_rule,
)
from finops_pipeline.schemas.token_usage import (
    CREDIT_TEXT_FIELDS,
    FIELDS,
    LLM_REQUESTS_SCHEMA,
    OPTIONAL_INT_FIELDS,
    REQUIRED_INT_FIELDS,
    LlmRequests,
    RawTokenUsage,
)
from finops_pipeline.transforms.json_extract import extract_fields
from finops_pipeline.transforms.validation import split_valid


@dataclass(frozen=True)
class ParsedRequests:
    requests: pl.DataFrame  # canonical rows (before de-duplication)
    rejected: pl.DataFrame  # raw rows with _reason


def _int(name: str) -> pl.Expr:
    return int_from_text(pl.col(name))


def _number(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.Float64, strict=False).alias(name)


def parse_requests(lines: pl.DataFrame, refs: pl.DataFrame, day: dt.date,
                   source: str) -> ParsedRequests:
    """Extract, validate, attach to runs and normalize one day's token-usage lines.

    Args:
        lines: raw lines (`_run_ref`, `_source`, `_line`, `_raw`, ...).
        refs: valid runs by `_run_ref`; lines of runs not in it are quarantined.
        day: the partition day (the day the runs were created).
        source: the pipeline source name recorded on every row.
    """
    fields = extract_fields(lines, "_raw", {f: (f"$.{f}",) for f in FIELDS})
    fields = fields.with_columns(pl.col("provider").str.strip_chars().str.to_lowercase())
    json_reason = (
        pl.when(pl.col("_decode_error").is_not_null())
        .then(pl.col("_decode_error"))
        .when(~pl.col("_json_ok") & pl.col("_is_last_line"))
        .then(pl.lit("invalid JSON (truncated last line: the writer was interrupted)"))
        .when(~pl.col("_json_ok"))
        .then(pl.lit("invalid JSON"))
        .when(pl.col("_json_type") != "OBJECT")
        .then(pl.lit("record is a JSON ") + pl.col("_json_type").str.to_lowercase()
              + pl.lit(", not an object"))
    )
    fields = fields.with_columns(json_reason.alias("_reason"))
    pre_rejected = fields.filter(pl.col("_reason").is_not_null())
    valid, rejected = split_valid(fields.filter(pl.col("_reason").is_null()).drop("_reason"),
                                  RawTokenUsage)

    typed = valid.join(refs, on="_run_ref", how="left")
    orphan = typed.filter(pl.col("run_id").is_null()).with_columns(
        pl.lit("the run this file belongs to was quarantined (see workflow_runs quarantine)")
        .alias("_reason")
    )
    typed = typed.filter(pl.col("run_id").is_not_null())

    # The record's own flag, where the api-proxy writes it, overrides the per-provider rule.
    flag = pl.col("input_tokens_include_cache")
    rule = (pl.when(flag == "true").then(pl.lit(INCLUSIVE_CACHE_READ))
            .when(flag == "false").then(pl.lit(EXCLUSIVE))
            .otherwise(token_rule(pl.col("provider"), pl.col("model"))))
    raw_input = _int("input_tokens")
    cache_read = _int("cache_read_tokens")
    typed = typed.with_columns(rule.alias("token_rule")).with_columns(
        ((pl.col("token_rule") == INCLUSIVE_CACHE_READ) & (raw_input < cache_read))
        .alias("_not_disjoint"))
    not_disjoint = typed.filter("_not_disjoint").with_columns(
        (pl.lit("cannot make token buckets disjoint: ")
         + pl.when(flag == "true").then(pl.lit("input_tokens_include_cache is true"))
         .otherwise(pl.lit("provider ") + pl.col("provider")
                    + pl.lit(" counts cache reads inside input_tokens"))
         + pl.lit(", yet cache_read_tokens (")
         + pl.col("cache_read_tokens") + pl.lit(") > input_tokens (")
         + pl.col("input_tokens") + pl.lit(")")).alias("_reason")
    )
    typed = typed.filter(~pl.col("_not_disjoint"))
    uncached = pl.when(pl.col("token_rule") == INCLUSIVE_CACHE_READ).then(
        raw_input - cache_read).otherwise(raw_input)
    buckets = typed.with_columns(
        uncached.alias("input_tokens"),
        *[_int(c) for c in REQUIRED_INT_FIELDS if c != "input_tokens"],
        *[_int(c) for c in OPTIONAL_INT_FIELDS],
    ).with_columns(
        (pl.col("input_tokens") + pl.col("cache_read_tokens") + pl.col("cache_write_tokens"))
        .alias("prompt_tokens")
    )
    requests = buckets.select(
        pl.lit(day).alias("day"),
        pl.lit(source).alias("source"),
        "repo", "workflow", "run_id", "run_attempt",
        pl.col("request_id").str.strip_chars(),
        parse_utc_timestamp(pl.col("timestamp")).alias("timestamp"),
        "provider",
        pl.col("model").str.strip_chars(),
        "path",
        _int("status").cast(pl.Int32).alias("status"),
        (pl.col("streaming") == "true").alias("streaming"),
        "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
        "reasoning_tokens", "prompt_tokens",
        (pl.col("prompt_tokens") + pl.col("output_tokens")).alias("total_tokens"),
        "duration_ms", "response_bytes", "x_initiator",
        pl.col("_schema").alias("schema_version"),
        "token_rule",
        pl.lit(None, pl.Float64).alias("cost_usd"),
        pl.lit(None, pl.Float64).alias("reported_cost_usd"),
        pl.lit(None, pl.String).alias("price_basis"),
        _number("ai_credits_this_response").alias("ai_credits"),
        _number("ai_credits_total"),
        _number("effective_tokens_this_response").alias("effective_tokens"),
        _number("effective_tokens_total"),
        _number("model_multiplier"),
        *[pl.col(f) for f in CREDIT_TEXT_FIELDS],
        (pl.col("ai_credits_fallback_pricing_used") == "true")
        .alias("ai_credits_fallback_pricing_used"),
        _number("ai_credits_pricing_discount_percent"),
        "_source", "_line", "_file_rank",
    )
    requests, inconsistent = split_valid(requests, LlmRequests)
    if inconsistent.height:
        inconsistent = inconsistent.join(
            lines.select("_source", "_line", "_raw"), on=["_source", "_line"], how="left"
        )
    rejected_all = pl.concat(
        [pre_rejected, rejected, orphan, not_disjoint, inconsistent], how="diagonal_relaxed"
    )
    return ParsedRequests(requests.select(list(LLM_REQUESTS_SCHEMA)), rejected_all)
