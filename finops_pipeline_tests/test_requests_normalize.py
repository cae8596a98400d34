"""transforms/requests.py: token-usage lines -> `llm_requests` with disjoint token buckets."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from finops_pipeline.schemas.raw import RAW_TOKEN_LINES_SCHEMA
from finops_pipeline.schemas.token_rules import EXCLUSIVE, INCLUSIVE_CACHE_READ, token_rule
from finops_pipeline.transforms.requests import (
    parse_requests,
)
from finops_pipeline_tests.builders import DROP, raw_line_rows, refs_frame, token_record

DAY = dt.date(2024, 5, 1)
SOURCE_FILE = "land/run-101/token-usage.jsonl"
REFS = refs_frame([("ref-0", "octo/app", 101, 1, "daily-report")])
BUCKETS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens",
           "prompt_tokens", "total_tokens", "token_rule")


def _parse(records, refs=REFS, **kw):
    return parse_requests(raw_line_rows(records, source=SOURCE_FILE, **kw), refs, DAY,
                          "gh_aw_logs")


def _valid_one(record) -> dict:
    parsed = _parse([record])
    assert parsed.rejected.height == 0, parsed.rejected["_reason"].to_list()
    return parsed.requests.row(0, named=True)


def _rejected_reason(record, *, position: int = 1) -> str:
    """Reason for `record` placed as line `position` of 3 (good lines around it)."""
    records = [token_record(request_id="good-1"), token_record(request_id="good-2")]
    records.insert(position - 1, record)
    parsed = _parse(records)
    assert sorted(parsed.requests["request_id"]) == ["good-1", "good-2"]
    assert parsed.rejected.height == 1
    assert parsed.rejected.select("_source", "_line").rows() == [(SOURCE_FILE, position)]
    return parsed.rejected["_reason"][0]


# --- canonical buckets -------------------------------------------------------------------

RAW = {"input_tokens": 1000, "cache_read_tokens": 400, "cache_write_tokens": 50,
       "output_tokens": 200}
# Anthropic: input excludes cache -> kept; prompt = 1000 + 400 + 50; total = 1450 + 200
ANTHROPIC = (1000, 400, 50, 200, 1450, 1650, EXCLUSIVE)
# OpenAI-style: input includes the 400 cache reads -> uncached 600; prompt = 600 + 400 + 50
OPENAI = (600, 400, 50, 200, 1050, 1250, INCLUSIVE_CACHE_READ)


@pytest.mark.parametrize(
    ("provider", "model", "expected"),
    [
        ("anthropic", "claude-sonnet-4", ANTHROPIC),
        ("anthropic", "some-new-model", ANTHROPIC),  # the provider decides, not the model
        ("openai", "gpt-4o", OPENAI),
        ("copilot", "claude-sonnet-4", OPENAI),  # Copilot's API reports OpenAI-style
        ("gemini", "gemini-2.5-pro", OPENAI),
        ("opencode", "anthropic/claude-3-7-sonnet", ANTHROPIC),
        ("opencode", "openai/gpt-4.1", OPENAI),
        ("unknown", "Claude-Opus-4", ANTHROPIC),
        ("unknown", "gemini-2.0-flash", OPENAI),
        (" OpenAI ", "gpt-4o", OPENAI),  # provider is trimmed and lower-cased
    ],
)
def test_buckets_are_made_disjoint_by_the_provider_rule(provider, model, expected):
    row = _valid_one(token_record(provider=provider, model=model, **RAW))
    assert tuple(row[c] for c in BUCKETS) == expected
    assert row["provider"] == provider.strip().lower()


def test_inclusive_provider_with_all_input_read_from_cache():
    row = _valid_one(token_record(provider="openai", model="gpt-4o", input_tokens=500,
                                  cache_read_tokens=500, cache_write_tokens=0,
                                  output_tokens=7))
    assert tuple(row[c] for c in BUCKETS) == (0, 500, 0, 7, 500, 507, INCLUSIVE_CACHE_READ)


def test_exclusive_provider_may_read_more_from_cache_than_uncached_input():
    row = _valid_one(token_record(provider="anthropic", input_tokens=3, cache_read_tokens=9000,
                                  cache_write_tokens=120, output_tokens=40))
    assert tuple(row[c] for c in BUCKETS) == (3, 9000, 120, 40, 9123, 9163, EXCLUSIVE)


@pytest.mark.parametrize(("provider", "model"), [("openai", "gpt-4o"), ("gemini", "gemini-pro"),
                                                 ("unknown", "gpt-4.1")])
def test_inclusive_provider_with_more_cache_reads_than_input_is_quarantined(provider, model):
    reason = _rejected_reason(token_record(provider=provider, model=model, input_tokens=100,
                                           cache_read_tokens=101), position=2)
    assert "disjoint" in reason
    assert "cache_read_tokens (101) > input_tokens (100)" in reason


def test_token_rule_expression():
    df = pl.DataFrame({"p": ["anthropic", "openai", "copilot", "gemini", "opencode", "opencode",
                             "unknown", "unknown"],
                       "m": ["gpt", "claude", "x", "x", "CLAUDE-3", "gpt-4o", "my-claude", None]})
    got = df.select(token_rule(pl.col("p"), pl.col("m")).alias("r"))["r"].to_list()
    assert got == [EXCLUSIVE, INCLUSIVE_CACHE_READ, INCLUSIVE_CACHE_READ, INCLUSIVE_CACHE_READ,
                   EXCLUSIVE, INCLUSIVE_CACHE_READ, EXCLUSIVE, INCLUSIVE_CACHE_READ]


def test_reasoning_tokens_are_part_of_output():
    row = _valid_one(token_record(output_tokens=50, reasoning_tokens=50))
    assert (row["output_tokens"], row["reasoning_tokens"], row["total_tokens"]) == (50, 50, 150)
    reason = _rejected_reason(token_record(output_tokens=50, reasoning_tokens=51), position=3)
    assert "reasoning_tokens" in reason
    assert "output_tokens" in reason


def test_a_canonical_row_carries_identity_types_and_location():
    row = _valid_one(token_record(request_id=" req-9 ", model=" gpt-4o ", provider="openai",
                                  status=429, streaming=False, response_bytes=2048,
                                  x_initiator="agent", duration_ms=1500))
    assert {k: row[k] for k in ("day", "source", "repo", "workflow", "run_id", "run_attempt",
                                "request_id", "model", "status", "streaming", "duration_ms",
                                "response_bytes", "x_initiator", "schema_version", "_source",
                                "_line", "_file_rank")} == {
        "day": DAY, "source": "gh_aw_logs", "repo": "octo/app", "workflow": "daily-report",
        "run_id": 101, "run_attempt": 1, "request_id": "req-9", "model": "gpt-4o",
        "status": 429, "streaming": False, "duration_ms": 1500, "response_bytes": 2048,
        "x_initiator": "agent", "schema_version": "token-usage/v1.2.0",
        "_source": SOURCE_FILE, "_line": 1, "_file_rank": 0}
    assert row["timestamp"] == dt.datetime(2024, 5, 1, 10, 0, 1, 250_000, tzinfo=dt.UTC)
    assert row["cost_usd"] is None


# --- accepted variants -------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"_schema": DROP, "event": DROP},  # older records
        {"_schema": "token-usage/v2.0.0-beta"},
        {"billing": {"plan": "x", "credits": [1, 2]}, "unknown_field": 5, "ai_credits": 0.3},
        {"input_tokens": 100.0, "status": 200.0, "duration_ms": 1500.00},
        {"timestamp": "2024-05-01 10:00:01.25"},
        {"streaming": "true"},
        {"reasoning_tokens": None, "response_bytes": None},
    ],
)
def test_accepted_record_variants(overrides):
    row = _valid_one(token_record(**overrides))
    assert (row["input_tokens"], row["output_tokens"], row["status"], row["total_tokens"]) == (
        100, 20, 200, 120)


def test_schema_version_is_null_for_an_older_record():
    assert _valid_one(token_record(_schema=DROP, event=DROP))["schema_version"] is None


# --- quarantined lines -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ('{"request_id": "x", "input_tokens": 1,, }', "invalid JSON"),
        ("[1, 2, 3]", "record is a JSON array, not an object"),
        ('"just a string"', "record is a JSON varchar, not an object"),
        (token_record(request_id=DROP), "request_id: is required (missing, null or blank)"),
        (token_record(request_id=None), "request_id: is required (missing, null or blank)"),
        (token_record(request_id="   "), "request_id: is required (missing, null or blank)"),
        (token_record(model=""), "model: is required (missing, null or blank)"),
        (token_record(input_tokens=-3), "input_tokens: a non-negative integer (got '-3')"),
        (token_record(output_tokens=1.5), "output_tokens: a non-negative integer (got '1.5')"),
        (token_record(cache_read_tokens="lots"),
         "cache_read_tokens: a non-negative integer (got 'lots')"),
        (token_record(cache_write_tokens=True),
         "cache_write_tokens: a non-negative integer (got 'true')"),
        (token_record(duration_ms=DROP), "duration_ms: is required (missing, null or blank)"),
        (token_record(reasoning_tokens=-1),
         "reasoning_tokens: a non-negative integer (got '-1')"),
        (token_record(status="oops"), "status: an HTTP status 100-599 (got 'oops')"),
        (token_record(status=700), "status: an HTTP status 100-599 (got '700')"),
        (token_record(status=99), "status: an HTTP status 100-599 (got '99')"),
        (token_record(streaming="yes"), "streaming: true or false (got 'yes')"),
        (token_record(timestamp="soon"), "timestamp: an ISO 8601 timestamp (got 'soon')"),
        (token_record(path=DROP), "path: is required (missing, null or blank)"),
    ],
)
def test_a_bad_line_is_quarantined_with_its_field_and_the_good_lines_kept(record, reason):
    assert _rejected_reason(record, position=2) == reason


@pytest.mark.parametrize(("overrides", "field", "value"), [
    ({"provider": "acme"}, "provider", "acme"),
    ({"_schema": "other/v1"}, "_schema", "other/v1"),
    ({"event": "other"}, "event", "other"),
])
def test_enumerated_fields_name_the_field_and_value(overrides, field, value):
    reason = _rejected_reason(token_record(**overrides), position=1)
    assert reason.startswith(f"{field}: ")
    assert f"(got '{value}')" in reason


def test_every_bad_field_of_a_line_is_named():
    reason = _rejected_reason(token_record(status="oops", input_tokens=-3, request_id=DROP),
                              position=2)
    assert set(reason.split("; ")) == {
        "request_id: is required (missing, null or blank)",
        "status: an HTTP status 100-599 (got 'oops')",
        "input_tokens: a non-negative integer (got '-3')"}


def test_truncated_last_line_is_named_as_such_an_earlier_broken_line_is_not():
    records = [token_record(request_id="a"), '{"request_id": "b", "provi',
               token_record(request_id="c"), '{"request_id": "d", "input_tok']
    parsed = _parse(records)
    assert parsed.requests["request_id"].to_list() == ["a", "c"]
    reasons = dict(parsed.rejected.select("_line", "_reason").rows())
    assert reasons[2] == "invalid JSON"
    assert "truncated" in reasons[4]
    assert reasons[4].startswith("invalid JSON")


def test_a_line_that_was_not_utf8_keeps_its_decode_error_as_reason():
    lines = pl.DataFrame(
        [{"_run_ref": "ref-0", "_source": SOURCE_FILE, "_line": 1, "_file_rank": 0,
          "_is_last_line": False, "_raw": json.dumps(token_record()), "_decode_error": None},
         {"_run_ref": "ref-0", "_source": SOURCE_FILE, "_line": 2, "_file_rank": 0,
          "_is_last_line": True, "_raw": None,
          "_decode_error": "line is not valid UTF-8 (invalid start byte)"}],
        schema=RAW_TOKEN_LINES_SCHEMA)
    parsed = parse_requests(lines, REFS, DAY, "gh_aw_logs")
    assert parsed.requests.height == 1
    assert parsed.rejected.select("_line", "_reason").rows() == [
        (2, "line is not valid UTF-8 (invalid start byte)")]


def test_lines_of_a_quarantined_run_are_quarantined_with_a_reason():
    ours = raw_line_rows([token_record(request_id="x")], run_ref="ref-0", source="ok.jsonl")
    orphan = raw_line_rows([token_record(request_id="y"), token_record(request_id="z")],
                           run_ref="ref-bad", source="bad.jsonl")
    parsed = parse_requests(pl.concat([ours, orphan]), REFS, DAY, "gh_aw_logs")
    assert parsed.requests["request_id"].to_list() == ["x"]
    rejected = parsed.rejected.sort("_line")
    assert rejected.select("_source", "_line").rows() == [("bad.jsonl", 1), ("bad.jsonl", 2)]
    for reason in rejected["_reason"]:
        assert "run" in reason
        assert "quarantined" in reason
    assert json.loads(rejected["_raw"][0])["request_id"] == "y"


def test_quarantined_rows_keep_the_raw_text():
    bad = '{"request_id": "r", "status": "oops"}'
    parsed = _parse([token_record(), bad])
    assert parsed.rejected["_raw"].to_list() == [bad]


def test_request_rows_counted_exactly_once():
    records = [token_record(request_id=f"r{i}") for i in range(5)]
    records += ["nope", token_record(status=700),
                token_record(provider="openai", input_tokens=1, cache_read_tokens=2),
                token_record(output_tokens=1, reasoning_tokens=2)]
    parsed = _parse(records)
    assert parsed.requests.height == 5
    assert sorted(parsed.rejected["_line"].to_list()) == [6, 7, 8, 9]


def test_empty_input():
    parsed = _parse([])
    assert parsed.requests.height == 0
    assert parsed.rejected.height == 0


# --- what GitHub bills: AI credits, as written --------------------------------------------

CREDITED = {
    "ai_credits_this_response": 3.25, "ai_credits_total": 10.5,
    "effective_tokens_this_response": 1234.5, "effective_tokens_total": 9000,
    "model_multiplier": 1.0, "ai_credits_pricing_source": "models-api",
    "ai_credits_pricing_tier": "standard", "ai_credits_accounting_policy": "per-response",
    "ai_credits_fallback_pricing_used": False, "ai_credits_dynamic_selector": "auto",
    "ai_credits_pricing_observed_at": "2026-06-02T00:00:00Z",
    "ai_credits_pricing_api_version": "2026-03-10", "ai_credits_pricing_discount_percent": 10,
    "x_initiator": "agent",
}


def test_credits_and_their_provenance_are_carried_as_written():
    row = _valid_one(token_record(provider="copilot", model="gpt-5", cache_read_tokens=40,
                                  **CREDITED))
    assert (row["ai_credits"], row["ai_credits_total"]) == (3.25, 10.5)
    assert (row["effective_tokens"], row["effective_tokens_total"]) == (1234.5, 9000.0)
    assert row["model_multiplier"] == 1.0 and row["x_initiator"] == "agent"
    assert row["ai_credits_pricing_source"] == "models-api"
    assert row["ai_credits_pricing_tier"] == "standard"
    assert row["ai_credits_accounting_policy"] == "per-response"
    assert row["ai_credits_fallback_pricing_used"] is False
    assert row["ai_credits_pricing_discount_percent"] == 10.0
    assert row["ai_credits_pricing_api_version"] == "2026-03-10"
    # never recomputed from the tokens: 40 of the 100 input tokens were cache reads
    assert row["input_tokens"] == 60 and row["ai_credits"] == 3.25


def test_a_record_without_credits_keeps_them_null():
    row = _valid_one(token_record())
    assert row["ai_credits"] is None and row["ai_credits_total"] is None
    assert row["ai_credits_fallback_pricing_used"] is None


@pytest.mark.parametrize(("provider", "model", "flag", "rule", "uncached"), [
    ("anthropic", "claude-sonnet-4", True, INCLUSIVE_CACHE_READ, 600),  # flag wins
    ("copilot", "gpt-5", False, EXCLUSIVE, 1000),
    ("copilot", "gpt-5", None, INCLUSIVE_CACHE_READ, 600),  # no flag: the provider's rule
])
def test_input_tokens_include_cache_overrides_the_provider_rule(provider, model, flag, rule,
                                                                 uncached):
    extra = {} if flag is None else {"input_tokens_include_cache": flag}
    row = _valid_one(token_record(provider=provider, model=model, **RAW, **extra))
    assert (row["token_rule"], row["input_tokens"]) == (rule, uncached)


@pytest.mark.parametrize(("record", "reason"), [
    (token_record(ai_credits_this_response=-1),
     "ai_credits_this_response: a non-negative number (got '-1')"),
    (token_record(ai_credits_total="many"), "ai_credits_total: a non-negative number (got 'many')"),
    (token_record(model_multiplier="x2"), "model_multiplier: a non-negative number (got 'x2')"),
    (token_record(input_tokens_include_cache="yes"),
     "input_tokens_include_cache: true or false (got 'yes')"),
    (token_record(provider="anthropic", input_tokens=10, cache_read_tokens=40,
                  input_tokens_include_cache=True),
     "cannot make token buckets disjoint: input_tokens_include_cache is true, yet "
     "cache_read_tokens (40) > input_tokens (10)"),
])
def test_bad_credit_fields_are_quarantined_naming_the_field(record, reason):
    assert _rejected_reason(record, position=2) == reason


def test_unicode_spaces_are_trimmed_like_before():
    row = _valid_one(token_record(model="claude-sonnet-4\u00a0", request_id="\u2003req-9 "))
    assert (row["model"], row["request_id"]) == ("claude-sonnet-4", "req-9")
