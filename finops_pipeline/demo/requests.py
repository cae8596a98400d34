"""The api-proxy's token-usage records of one run, following each provider's conventions.

Token numbers follow each provider's convention (DESIGN section 5): Anthropic's `input_tokens`
exclude cache reads and writes; OpenAI's and Copilot's include cache reads and never report
cache writes. Each workflow profile (see `catalog.Profile`) shapes how a conversation grows and
how much of it is cached.

The draws here are interleaved with the run's own draws (`runs._make_run`), so their order is
part of the output as much as the catalog is.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass
from typing import Any

from finops_pipeline.demo.catalog import (
    ENGINES,
    ERROR_STATUSES,
    FAILED_RUN_LAST_REQUEST_ERROR_SHARE,
    INCLUSIVE_PROVIDERS,
    NEW_SCHEMA,
    REQUEST_ERROR_SHARE,
    Workflow,
)
from finops_pipeline.demo.formats import format_ms

_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"  # Anthropic request ids
_COMPACT_ABOVE = 150_000  # context size at which an agent compacts its conversation

Tokens = tuple[int, int, int, int]  # input, output, cache read, cache write, as reported


@dataclass
class _Conversation:
    """What a run's agent carries from one request to the next."""

    context: int  # tokens the next request sends (its meaning depends on the profile)
    prev_context: int = 0  # inclusive agentic: what the previous request sent (now cached)
    small_cache: int = 0  # small profile: the stable cached prefix


def draw_records(rng: random.Random, wf: Workflow, model: str, n: int, start_ms: int,
                 new_format: bool, failed: bool) -> tuple[list[dict[str, Any]], int]:
    """The `n` api-proxy records of one run and the end of its last request (epoch ms)."""
    provider = ENGINES[wf.engine].provider
    inclusive = provider in INCLUSIVE_PROVIDERS
    streaming = wf.profile != "no_cache"
    records = []
    now = start_ms
    if wf.profile == "huge_input":
        context = rng.randint(40_000, 90_000)  # CI logs pasted into the prompt
    elif wf.profile == "no_cache":
        context = rng.randint(2_000, 6_000)
    else:
        context = rng.randint(8_000, 20_000)
    # Drawn for every profile, though only the small profile uses it.
    convo = _Conversation(context, small_cache=rng.randint(10_000, 25_000))
    for k in range(n):
        req_model = model
        side = wf.side_model is not None and k > 0 and rng.random() < 0.1
        if side:
            req_model = wf.side_model or model
        status = 200
        if rng.random() < REQUEST_ERROR_SHARE or (
                failed and k == n - 1 and rng.random() < FAILED_RUN_LAST_REQUEST_ERROR_SHARE):
            status = rng.choice(ERROR_STATUSES)
        if status != 200:
            # A rate limit is refused before the model runs; a 500 may have started.
            inp, out, cread, cwrite = (
                (rng.randint(0, 50), rng.randint(0, 30), 0, 0) if status == 500 else (0, 0, 0, 0))
        elif side:
            inp, out, cread, cwrite = rng.randint(200, 2_000), rng.randint(10, 150), 0, 0
        elif wf.profile == "small":
            inp, out, cread, cwrite = _small(rng, convo, k)
        elif wf.profile == "no_cache":
            inp, out, cread, cwrite = _no_cache(rng, convo)
        elif wf.profile == "huge_input":
            inp, out, cread, cwrite = _huge_input(rng, convo, k)
        elif inclusive:
            inp, out, cread, cwrite = _agentic_inclusive(rng, convo, k)
        else:
            inp, out, cread, cwrite = _agentic_anthropic(rng, convo, k)
        if status == 200:
            duration = int(rng.uniform(350, 900) + out * rng.uniform(9, 22)
                           + (inp + cread) / 1000 * rng.uniform(2, 8))
            size = int(out * rng.uniform(5.5, 7.5)) + 600 if streaming else int(out * 4.5) + 400
        else:
            duration = rng.randint(300, 3_000)
            size = rng.randint(150, 400)
        duration = min(60_000, max(300, duration))
        # Key order as the api-proxy writes it.
        rec: dict[str, Any] = {}
        if new_format:
            rec["_schema"] = NEW_SCHEMA
            rec["event"] = "token_usage"
        rec.update({
            "timestamp": format_ms(now),
            "request_id": _request_id(rng, provider),
            "provider": provider,
            "model": req_model,
            "path": _api_path(provider, req_model),
            "status": status,
            "streaming": streaming,
            "input_tokens": inp,
            "output_tokens": out,
            "cache_read_tokens": cread,
            "cache_write_tokens": cwrite,
        })
        if new_format and req_model.startswith("gpt-5") and out and rng.random() < 0.7:
            rec["reasoning_tokens"] = int(out * rng.uniform(0.3, 0.8))
        rec["duration_ms"] = duration
        rec["response_bytes"] = size
        if new_format and provider == "copilot":
            rec["x_initiator"] = "user" if k == 0 else "agent"
        records.append(rec)
        now += duration + rng.randint(200, 12_000)  # tool calls between requests
    _add_ai_credits(records)
    return records, now


# What the demo's Copilot bills per million tokens, in AI credits (uncached input, cache read,
# output): the api-proxy writes credits per response and a running total per run. Computed
# from the tokens here, without drawing random numbers, so every other field is unchanged.
_CREDITS_PER_MTOK = {"gpt-5": (125, 12.5, 1000), "claude-sonnet-4.6": (300, 30, 1500),
                     "gpt-4.1": (200, 50, 800)}


def _add_ai_credits(records: list[dict[str, Any]]) -> None:
    total = 0.0
    for rec in records:
        rates = _CREDITS_PER_MTOK.get(rec["model"])
        if rec.get("event") != "token_usage" or rec["provider"] != "copilot" or rates is None:
            continue
        uncached = rec["input_tokens"] - rec["cache_read_tokens"]  # Copilot's input includes reads
        credits = round((uncached * rates[0] + rec["cache_read_tokens"] * rates[1]
                         + rec["output_tokens"] * rates[2]) / 1e6, 4)
        total = round(total + credits, 4)
        rec["ai_credits_this_response"] = credits
        rec["ai_credits_total"] = total


# --- one successful request per profile ------------------------------------------------------

def _small(rng: random.Random, convo: _Conversation, k: int) -> Tokens:
    """A tiny question on a stable cached prefix that grows a little with each cache write."""
    inp = rng.randint(1, 300) if rng.random() < 0.8 else rng.randint(300, 2_000)
    cread = convo.small_cache
    cwrite = rng.randint(8_000, 15_000) if k == 0 else (
        rng.randint(50, 800) if rng.random() < 0.5 else 0)
    out = rng.randint(5, 49) if rng.random() < 0.85 else rng.randint(50, 600)
    convo.small_cache += cwrite // 4
    return inp, out, cread, cwrite


def _no_cache(rng: random.Random, convo: _Conversation) -> Tokens:
    """The whole conversation is sent and paid again every time."""
    inp = convo.context
    out = rng.randint(100, 2_500)
    convo.context = min(30_000, convo.context + out + rng.randint(200, 3_000))
    return inp, out, 0, 0


def _huge_input(rng: random.Random, convo: _Conversation, k: int) -> Tokens:
    """Large prompts, mostly cached after the first request, and short answers."""
    inp = convo.context
    cread = 0 if k == 0 else _round_down(convo.context * rng.uniform(0.6, 0.95), 128)
    out = _log_uniform(rng, 20, 400)
    convo.context = min(_COMPACT_ABOVE, convo.context + rng.randint(2_000, 15_000))
    return inp, out, cread, 0


def _agentic_inclusive(rng: random.Random, convo: _Conversation, k: int) -> Tokens:
    """OpenAI-style counts: input includes what the previous request left in the cache."""
    inp = convo.context
    if k == 0:  # a warm cache from an earlier run half of the time
        cread = _round_down(convo.context * 0.7, 1024) if rng.random() < 0.5 else 0
    else:
        cread = _round_down(convo.prev_context * rng.uniform(0.85, 1.0), 128)
    out = _log_uniform(rng, 50, 4_000)
    convo.prev_context = convo.context
    convo.context += out + rng.randint(300, 5_000)
    if convo.context > _COMPACT_ABOVE:  # the agent compacts its conversation
        convo.context = rng.randint(25_000, 40_000)
        convo.prev_context = 0
    return inp, out, cread, 0


def _agentic_anthropic(rng: random.Random, convo: _Conversation, k: int) -> Tokens:
    """Anthropic counts: input excludes cache reads and writes, so it stays tiny."""
    if k == 0:  # system prompt and tools: partly cached already, the rest written
        cread = rng.randint(10_000, 15_000)
        cwrite = rng.randint(12_000, 30_000)
        inp = rng.randint(1, 10)
        convo.context = cread + cwrite
    else:
        cread = convo.context
        cwrite = rng.randint(200, 4_000)
        inp = rng.randint(1, 10) if rng.random() < 0.75 else rng.randint(100, 2_000)
    out = _log_uniform(rng, 50, 4_000)
    convo.context += cwrite + inp + out
    if convo.context > _COMPACT_ABOVE:
        convo.context = rng.randint(30_000, 45_000)
    return inp, out, cread, cwrite


# --- helpers ----------------------------------------------------------------------------------

def _log_uniform(rng: random.Random, lo: int, hi: int) -> int:
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _round_down(value: float, step: int) -> int:
    return int(value) // step * step


def _request_id(rng: random.Random, provider: str) -> str:
    """An id in the provider's own format."""
    if provider == "anthropic":
        return "req_011C" + "".join(rng.choices(_BASE58, k=20))
    if provider == "openai":
        return f"req_{rng.getrandbits(128):032x}"
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _api_path(provider: str, model: str) -> str:
    """The endpoint the engine calls: gpt-5 models go through the Responses API."""
    if provider == "anthropic":
        return "/v1/messages?beta=true"
    if provider == "openai":
        return "/v1/responses" if model.startswith("gpt-5") else "/v1/chat/completions"
    return "/responses" if model.startswith("gpt-5") else "/chat/completions"
