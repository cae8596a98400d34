"""A cheaper model of the same vendor and family, for the `cheaper_model` recommendation.

Maintained by hand: one step down within a family (Opus -> Sonnet, Sonnet -> Haiku, GPT-5 ->
GPT-5 mini, Gemini Pro -> Flash), never across vendors and never two steps (a Haiku is not
offered for an Opus workflow). Targets are genai-prices model ids, so the cheaper model is
priced by `unit_price_table` (overrides included) under the request's own lake provider:
`copilot` infers the vendor from the name, `anthropic`/`openai`/`gemini` look the id up in
their own catalogue.

Sources are written in the normalized spelling of `normalized_model()`: lower case, no routing
prefix (`anthropic/`, `models/`), no `@version` or date suffix (`-20250929`, `-2025-08-07`,
preview dates `-05-06`), no `-latest`, and Claude versions with dashes (`claude-sonnet-4.5`
-> `claude-sonnet-4-5`). Aliases that still differ after that (`claude-sonnet-4` and
`claude-sonnet-4-0`, Vertex's `claude-4-sonnet`) are listed one by one.

Add a line when a vendor ships a new flagship; `test_recommendations` checks that every
target is priced by genai-prices and cheaper than its source.
"""

from __future__ import annotations

import polars as pl

_OPUS_4_OLD = ("claude-opus-4", "claude-opus-4-0", "claude-4-opus", "claude-opus-4-1",
               "claude-opus-4-5")
_OPUS_4_NEW = ("claude-opus-4-6", "claude-opus-4-7", "claude-opus-4-8")
_SONNET_4 = ("claude-sonnet-4", "claude-sonnet-4-0", "claude-4-sonnet", "claude-sonnet-4-5",
             "claude-sonnet-4-6")

#: normalized model -> cheaper model of the same vendor and family (a genai-prices id).
CHEAPER_MODEL: dict[str, str] = {
    # Anthropic: Opus -> Sonnet of the same generation (4.0/4.1/4.5 -> 4.5, 4.6+ -> 4.6);
    # Sonnet -> Haiku.
    **dict.fromkeys(_OPUS_4_OLD, "claude-sonnet-4-5"),
    **dict.fromkeys(_OPUS_4_NEW, "claude-sonnet-4-6"),
    **dict.fromkeys(_SONNET_4, "claude-haiku-4-5"),
    "claude-3-opus": "claude-3-5-sonnet",
    "claude-3-7-sonnet": "claude-3-5-haiku",
    "claude-3-5-sonnet": "claude-3-5-haiku",
    # OpenAI: flagship -> mini of its line; o-series reasoning -> o4-mini.
    "gpt-5": "gpt-5-mini",
    "gpt-5.1": "gpt-5-mini",
    "gpt-5.2": "gpt-5-mini",
    "gpt-5-codex": "gpt-5.1-codex-mini",
    "gpt-5.1-codex": "gpt-5.1-codex-mini",
    "gpt-5.4": "gpt-5.4-mini",
    "gpt-4.1": "gpt-4.1-mini",
    "gpt-4o": "gpt-4o-mini",
    "o3": "o4-mini",
    "o1": "o4-mini",
    # Google: Pro -> Flash of the same version.
    "gemini-2.5-pro": "gemini-2.5-flash",
    "gemini-2.5-pro-preview": "gemini-2.5-flash",
    "gemini-1.5-pro": "gemini-1.5-flash",
    "gemini-3-pro-preview": "gemini-3-flash-preview",
}


def normalized_model(model: pl.Expr) -> pl.Expr:
    """The spelling `CHEAPER_MODEL` is keyed by, as a polars expression."""
    m = (
        model.str.strip_chars().str.to_lowercase()
        .str.replace(r"^.*/", "")  # routing prefix: anthropic/..., models/...
        .str.replace(r"@.*$", "")  # Vertex version: claude-sonnet-4-5@20250929
        .str.replace(r"-(\d{8}|\d{4}-\d{2}-\d{2}|\d{2}-\d{2})$", "")  # date suffixes
        .str.replace(r"-latest$", "")
    )
    return pl.when(m.str.starts_with("claude")).then(m.str.replace_all(".", "-", literal=True)) \
        .otherwise(m)


def cheaper_model_table() -> pl.DataFrame:
    """`CHEAPER_MODEL` as a frame: `normalized_model`, `cheaper_model` (both String)."""
    return pl.DataFrame(
        {"normalized_model": list(CHEAPER_MODEL), "cheaper_model": list(CHEAPER_MODEL.values())},
        schema={"normalized_model": pl.String, "cheaper_model": pl.String},
    )
