"""Which input-token convention a record follows (DESIGN section 5): the contract every
source's numbers are made disjoint by."""

from __future__ import annotations

import polars as pl

EXCLUSIVE = "exclusive"  # input_tokens excludes cache reads and writes (Anthropic)
INCLUSIVE_CACHE_READ = "inclusive_cache_read"  # input_tokens includes cache reads (OpenAI)
PROVIDER_RULES = {
    "anthropic": EXCLUSIVE,
    "openai": INCLUSIVE_CACHE_READ,
    "copilot": INCLUSIVE_CACHE_READ,
    "gemini": INCLUSIVE_CACHE_READ,
}


def token_rule(provider: pl.Expr, model: pl.Expr) -> pl.Expr:
    """The input-token convention of a record: by provider, else by model family.

    `opencode` and `unknown` proxy several vendors, so their model name decides: Claude models
    report Anthropic's exclusive counts, everything else the OpenAI-style inclusive ones.
    """
    return provider.replace_strict(PROVIDER_RULES, default=None).fill_null(
        pl.when(model.str.to_lowercase().str.contains("claude"))
        .then(pl.lit(EXCLUSIVE))
        .otherwise(pl.lit(INCLUSIVE_CACHE_READ))
    )
