"""Unit prices from genai-prices plus `finops.yaml` overrides, and vectorized request costing.

genai-prices resolves a model name to a price in ~70 us, far too slow per row. So prices are
resolved once per distinct (provider, model, day) into a unit-price table (DESIGN section 6) and
requests are costed with one join and column arithmetic.

Semantics follow genai-prices exactly, translated to the lake's disjoint token buckets
(DESIGN section 5):

- A bucket the library has no price for is charged as it would be by genai-prices: its
  `Usage.input_tokens` is inclusive, so cache reads or writes without their own price are
  simply input tokens and pay the input price (`cache_*_mtok` falls back to `input_mtok`).
- Tiers are cliffs: once a request's inclusive input (input + cache reads + cache writes)
  is *strictly greater* than the tier start, every token of every tiered bucket is charged the
  tier's price, not only the tokens above it (`genai_prices.types.calc_unit_price`).
- Time-dependent prices (`ConditionalPrice` with a start date) are chosen for the day, as
  genai-prices does for a request on that UTC date. Only the standard price is used: request
  variants (batch, flex, priority) need a per-request context the lake does not have.

Copilot-proxied requests are priced at the underlying model's list API price (the model is
resolved without a provider constraint, which infers the vendor from the name) and marked
`price_basis = 'copilot_api_equivalent'`. An unknown model gets null prices and a null cost,
never 0, so it is counted (`unpriced_summary`) instead of silently making spend look smaller.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import polars as pl
from genai_prices import data_snapshot
from genai_prices.types import ModelInfo, ModelPrice, TieredPrices, TimeOfDateConstraint

from finops_pipeline.config import PriceOverride
from finops_pipeline.schemas.token_usage import TOKEN_BUCKETS

log = logging.getLogger(__name__)

KEY_COLUMNS = ("provider", "model", "day")
# Price column of each token bucket, USD per million tokens.
PRICE_COLUMNS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")
ABOVE_COLUMNS = tuple(f"{c}_above" for c in PRICE_COLUMNS)

SOURCE_OVERRIDE = "override"
SOURCE_LIBRARY = "genai-prices"
BASIS_LIST_API = "list_api"
BASIS_COPILOT = "copilot_api_equivalent"
BASIS_OVERRIDE = "config_override"

# Providers the lake records -> genai-prices provider id, for requests sent to the vendor.
LIBRARY_PROVIDERS = {"anthropic": "anthropic", "openai": "openai", "gemini": "google"}
# Proxies in front of several vendors: the model name decides the vendor. `copilot` is here on
# purpose: genai-prices' own `github-copilot` provider is not the list API price we report.
MODEL_INFERRED_PROVIDERS = frozenset({"copilot", "opencode", "unknown"})

UNIT_PRICE_SCHEMA: dict[str, pl.DataType] = {
    "provider": pl.String(), "model": pl.String(), "day": pl.Date(),
    "price_provider": pl.String(), "price_model": pl.String(),
    **{c: pl.Float64() for c in PRICE_COLUMNS},
    "tier_threshold": pl.Int64(),
    **{c: pl.Float64() for c in ABOVE_COLUMNS},
    "price_source": pl.String(), "price_basis": pl.String(),
}

UNPRICED_SUMMARY_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(), "provider": pl.String(), "model": pl.String(),
    "unpriced_requests": pl.Int64(),
    **{b: pl.Int64() for b in TOKEN_BUCKETS},
    "total_tokens": pl.Int64(),
}

_MTOK = 1_000_000.0
# Sampling grid for models with time-of-day prices: the midpoint of every 10 minutes of the day.
_DAY_SAMPLES = tuple(dt.time(m // 60, m % 60) for m in range(5, 24 * 60, 10))


@dataclass(frozen=True)
class _Match:
    """A model genai-prices resolved: the provider it is priced under and its entry."""

    provider_id: str
    model: ModelInfo
    basis: str


@dataclass(frozen=True)
class _Prices:
    """One unit-price row's prices (USD per million tokens); `tier_threshold` None = flat."""

    base: tuple[float | None, ...]  # input, output, cache read, cache write
    tier_threshold: int | None = None
    above: tuple[float | None, ...] = (None,) * 4


def _model_refs(model: str) -> list[str]:
    """Names to try for a model as written in the wild, most literal first.

    genai-prices already folds `4.6`/`4-6`, dated suffixes (`-20241022`, `@20250929`) and
    case; a routing prefix (`anthropic/claude-...`, `models/gemini-...`) it does not.
    """
    ref = model.strip()
    refs = [ref]
    if "/" in ref and (tail := ref.rsplit("/", 1)[1].strip()):
        refs.append(tail)
    return refs


def _library_provider_id(provider: str) -> str | None:
    """The genai-prices provider to constrain matching to; None = infer from the model."""
    if provider in MODEL_INFERRED_PROVIDERS:
        return None
    if provider in LIBRARY_PROVIDERS:
        return LIBRARY_PROVIDERS[provider]
    # Anything else (say `azure` or `groq` from OTel spans): use it if genai-prices knows it.
    known = data_snapshot.find_provider_by_id(data_snapshot.get_snapshot().providers, provider)
    return known.id if known is not None else None


@functools.lru_cache(maxsize=4096)
def _resolve(provider: str, model: str) -> _Match | None:
    """Match (provider, model) in genai-prices once; None when it does not know the model.

    Cached per distinct pair: matching costs ~70 us and the bundled data never changes within
    a process (prices are refreshed by upgrading the package, never at run time).
    """
    snapshot = data_snapshot.get_snapshot()
    provider_id = _library_provider_id(provider)
    basis = BASIS_COPILOT if provider == "copilot" else BASIS_LIST_API
    for ref in _model_refs(model):
        try:
            found_provider, info = snapshot.find_provider_model(ref, None, provider_id, None)
        except LookupError:
            continue
        return _Match(found_provider.id, info, basis)
    return None


def _price_on(info: ModelInfo, day: dt.date) -> ModelPrice:
    """The standard price genai-prices applies to a request of `info` on the UTC `day`.

    Start-date constraints compare the UTC date, so any time of the day gives the library's own
    answer. A model with time-of-day prices (off-peak discounts) cannot be priced exactly per
    day; it gets the price in force for most of the day, by sampling the library's selection.
    """
    prices = info.prices
    if isinstance(prices, ModelPrice):
        return prices
    if not any(isinstance(p.constraint, TimeOfDateConstraint) for p in prices):
        return info.get_prices(dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC))
    counts: Counter[int] = Counter()
    by_id: dict[int, ModelPrice] = {}
    for t in _DAY_SAMPLES:
        chosen = info.get_prices(dt.datetime.combine(day, t, tzinfo=dt.UTC))
        by_id[id(chosen)] = chosen
        counts[id(chosen)] += 1
    return by_id[counts.most_common(1)[0][0]]


def _as_float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


# ModelPrice is unhashable; the bundled entries live as long as the process, so their id is a
# stable key (the entry itself is kept in the value so the id cannot be reused).
_LIBRARY_PRICES: dict[int, tuple[ModelPrice, _Prices | None]] = {}


def _library_prices(model_price: ModelPrice, model_id: str) -> _Prices | None:
    """`_flatten` once per genai-prices price entry."""
    cached = _LIBRARY_PRICES.get(id(model_price))
    if cached is None or cached[0] is not model_price:
        cached = _LIBRARY_PRICES[id(model_price)] = (model_price, _flatten(model_price, model_id))
    return cached[1]


def _flatten(model_price: ModelPrice, model_id: str) -> _Prices | None:
    """Flatten a genai-prices `ModelPrice` into the four bucket prices and one cliff tier.

    None when the entry does not price text input by the token (audio, OCR, free entries), or
    has tiers this table cannot represent (several tiers, or tiers starting at different
    thresholds per bucket; none of the vendors the lake records has such prices today).
    """
    values = [getattr(model_price, key) for key in PRICE_COLUMNS]
    if values[0] is None:
        return None
    starts = {
        tuple(t.start for t in v.tiers) for v in values if isinstance(v, TieredPrices) and v.tiers
    }
    if len(starts) > 1 or any(len(s) > 1 for s in starts):
        log.warning("genai-prices tiers of %s are not supported (%s); left unpriced",
                    model_id, sorted(starts))
        return None
    threshold = next(iter(starts))[0] if starts else None

    def base(v: Decimal | TieredPrices | None) -> Decimal | None:
        return v.base if isinstance(v, TieredPrices) else v

    def above(v: Decimal | TieredPrices | None) -> Decimal | None:
        # A flat bucket keeps its price above the cliff; only tiered ones change.
        return v.tiers[0].price if isinstance(v, TieredPrices) and v.tiers else v

    inp, out, read, write = values
    # genai-prices' input is inclusive: cache tokens without a price of their own are input.
    read = inp if read is None else read
    write = inp if write is None else write
    bucket_values = (inp, out, read, write)
    return _Prices(
        base=tuple(_as_float(base(v)) for v in bucket_values),
        tier_threshold=threshold,
        above=(
            tuple(_as_float(above(v)) for v in bucket_values)
            if threshold is not None else (None,) * 4
        ),
    )


def _override_prices(o: PriceOverride) -> _Prices:
    # Same rule as genai-prices: a cache bucket without a price is charged as input.
    read = o.input_mtok if o.cache_read_mtok is None else o.cache_read_mtok
    write = o.input_mtok if o.cache_write_mtok is None else o.cache_write_mtok
    return _Prices(base=(o.input_mtok, o.output_mtok, read, write))


def _norm(name: str | None) -> str:
    return (name or "").strip().lower()


class _Overrides:
    """Config overrides indexed by (provider, model), picked by effective date."""

    def __init__(self, overrides: Sequence[PriceOverride]) -> None:
        self._by_key: dict[tuple[str, str], list[tuple[int, PriceOverride]]] = {}
        for order, o in enumerate(overrides):
            key = (_norm(o.provider), _norm(o.model))
            self._by_key.setdefault(key, []).append((order, o))

    def __bool__(self) -> bool:
        return bool(self._by_key)

    def pick(self, provider: str, names: Sequence[str], day: dt.date) -> PriceOverride | None:
        """The override in force on `day`: the latest `effective_from` wins, then the later one
        in the config. `names` are the request's model name, its unprefixed form and the model
        genai-prices matched, so one override covers `claude-sonnet-4.6` and `-4-6` alike."""
        candidates = [
            (o.effective_from, order, o)
            for name in dict.fromkeys(_norm(n) for n in names if n)
            for order, o in self._by_key.get((provider, name), ())
            if o.effective_from <= day and (o.effective_to is None or day <= o.effective_to)
        ]
        return max(candidates, key=lambda c: (c[0], c[1]))[2] if candidates else None


def unit_price_table(keys: pl.DataFrame,
                     overrides: Sequence[PriceOverride] = ()) -> pl.DataFrame:
    """One unit-price row per distinct (provider, model, day) of `keys`.

    Columns: the keys; `price_provider`/`price_model` (what was matched: the genai-prices
    provider and model id, or the override's; null when unknown); `input_mtok`, `output_mtok`,
    `cache_read_mtok`, `cache_write_mtok` (USD per 1M tokens; cache prices fall back to the
    input price as in genai-prices); `tier_threshold` (inclusive input tokens a request must
    exceed for the cliff tier, null when flat) and `*_mtok_above` (the prices then applying to
    the whole request); `price_source` ('override' | 'genai-prices' | null) and `price_basis`
    ('list_api' | 'copilot_api_equivalent' | 'config_override' | null).

    Args:
        keys: a frame with `provider`, `model` and `day` columns; duplicates are fine.
        overrides: `finops.yaml` `prices:` entries; they win over the library on days within
            `effective_from..effective_to` (inclusive).
    """
    distinct = keys.select(
        pl.col("provider").cast(pl.String), pl.col("model").cast(pl.String),
        pl.col("day").cast(pl.Date),
    ).unique(maintain_order=True)
    index = _Overrides(overrides)
    rows: list[tuple] = []
    for provider, model, day in distinct.iter_rows():
        prov = _norm(provider) or "unknown"
        match = _resolve(prov, model.strip()) if model and model.strip() and day else None
        override = None
        if index and model and day:
            names = [*_model_refs(model), match.model.id if match else ""]
            override = index.pick(prov, names, day)
        if override is not None:
            prices = _override_prices(override)
            matched = (override.provider, override.model)
            source, basis = SOURCE_OVERRIDE, BASIS_OVERRIDE
        elif match is not None and (
            prices := _library_prices(_price_on(match.model, day), match.model.id)
        ) is not None:
            matched = (match.provider_id, match.model.id)
            source, basis = SOURCE_LIBRARY, match.basis
        else:
            # Unknown to both (or priced in units other than tokens): every price is null.
            prices = _Prices(base=(None,) * 4)
            matched = (match.provider_id, match.model.id) if match else (None, None)
            source = basis = None
        rows.append((provider, model, day, *matched, *prices.base, prices.tier_threshold,
                     *prices.above, source, basis))
    return pl.DataFrame(rows, schema=UNIT_PRICE_SCHEMA, orient="row")


def _bucket_cost(tokens: str, price: str, above_cliff: pl.Expr) -> pl.Expr:
    tok = pl.col(tokens).fill_null(0)
    unit = pl.when(above_cliff).then(pl.col(f"{price}_above")).otherwise(pl.col(price))
    # An empty bucket costs 0 even where it has no price (an embedding model's output); a
    # non-empty bucket without a price makes the whole request's cost unknown (null).
    return pl.when(tok == 0).then(pl.lit(0.0)).otherwise(tok.cast(pl.Float64) * unit / _MTOK)


def cost_expr() -> pl.Expr:
    """`cost_usd` of a request row joined to its unit prices (null when unpriced).

    The cliff compares genai-prices' inclusive input (input + cache reads + cache writes),
    strictly greater than the threshold, and then reprices every bucket of the request.
    """
    prompt = pl.sum_horizontal(
        pl.col(c).fill_null(0) for c in ("input_tokens", "cache_read_tokens", "cache_write_tokens")
    )
    above_cliff = pl.col("tier_threshold").is_not_null() & (prompt > pl.col("tier_threshold"))
    total = pl.lit(0.0)
    for tokens, price in zip(TOKEN_BUCKETS, PRICE_COLUMNS, strict=True):
        total = total + _bucket_cost(tokens, price, above_cliff)
    return pl.when(pl.col("input_mtok").is_not_null()).then(total)


def price_requests(requests: pl.DataFrame,
                   overrides: Sequence[PriceOverride] = ()) -> pl.DataFrame:
    """`requests` with `cost_usd` (Float64) and `price_basis` (String) set, vectorized.

    Builds the unit-price table for the distinct (provider, model, day) keys, joins it and
    charges each disjoint bucket at its own price (tokens * price / 1e6), the whole request at
    the tier price above a cliff. Unpriced requests get null `cost_usd` and `price_basis`.
    Row order and every other column are kept; existing `cost_usd`/`price_basis` are replaced
    in place.

    Args:
        requests: `llm_requests` rows (at least the key columns and the four token buckets).
        overrides: `finops.yaml` `prices:` entries.
    """
    return apply_unit_prices(requests, unit_price_table(requests.select(KEY_COLUMNS), overrides))


def apply_unit_prices(requests: pl.DataFrame, table: pl.DataFrame) -> pl.DataFrame:
    """Cost `requests` against a unit-price table built by `unit_price_table` (join + math).

    `table` must hold every (provider, model, day) of `requests` once; a missing key simply
    prices as unknown (null cost).
    """
    keys = list(KEY_COLUMNS)
    needed = table.select(*keys, *PRICE_COLUMNS, "tier_threshold", *ABOVE_COLUMNS, "price_basis")

    def price(part: pl.DataFrame) -> pl.DataFrame:
        return (
            part.select(*keys, *TOKEN_BUCKETS)
            .with_columns(pl.col("provider").cast(pl.String), pl.col("model").cast(pl.String),
                          pl.col("day").cast(pl.Date))
            .join(needed, on=keys, how="left", nulls_equal=True, maintain_order="left")
            .select(cost_expr().alias("cost_usd"), "price_basis")
            .select("cost_usd",
                    pl.when(pl.col("cost_usd").is_not_null()).then(pl.col("price_basis"))
                    .alias("price_basis"))
        )

    # A slice at a time: the join's working columns of a 2M-request day are ~0.4 GB.
    priced = pl.concat([price(requests.slice(start, PRICE_SLICE_ROWS))
                        for start in range(0, max(requests.height, 1), PRICE_SLICE_ROWS)])
    return requests.with_columns(priced.get_column("cost_usd"),
                                 priced.get_column("price_basis"))


PRICE_SLICE_ROWS = 256 * 1024


def unpriced_summary(requests_priced: pl.DataFrame) -> pl.DataFrame:
    """Requests with a null `cost_usd` per (day, provider, model), with their token buckets.

    For reporting: these are the models to add to `finops.yaml` `prices:` (or to get priced by
    upgrading genai-prices); their spend is missing from every cost figure, not counted as 0.
    """
    buckets = [pl.col(b).fill_null(0).sum().cast(pl.Int64).alias(b) for b in TOKEN_BUCKETS]
    return (
        # Lazy, so only the columns it sums are filtered (a day of 2M requests has 44).
        requests_priced.lazy().filter(pl.col("cost_usd").is_null())
        .group_by("day", "provider", "model")
        .agg(pl.len().cast(pl.Int64).alias("unpriced_requests"), *buckets)
        .with_columns(pl.sum_horizontal(*TOKEN_BUCKETS).cast(pl.Int64).alias("total_tokens"))
        .sort("day", "provider", "model", nulls_last=True)
        .select(list(UNPRICED_SUMMARY_SCHEMA))
        .cast(UNPRICED_SUMMARY_SCHEMA)
        .collect()
    )


def context_window_table(keys: pl.DataFrame,
                         overrides: Mapping[str, int] | None = None) -> pl.DataFrame:
    """`context_window` (tokens) per distinct (provider, model) of `keys`: finops.yaml's
    `context_windows` (by model name) first, else genai-prices' model catalog; null when
    neither knows the model."""
    overrides = dict(overrides or {})
    rows = []
    for provider, model in keys.select("provider", "model").unique().rows():
        window = overrides.get(model) if model is not None else None
        if window is None and provider is not None and model is not None:
            match = _resolve(provider, model)
            window = match.model.context_window if match is not None else None
        rows.append({"provider": provider, "model": model, "context_window": window})
    return pl.DataFrame(rows, schema={"provider": pl.String, "model": pl.String,
                                      "context_window": pl.Int64})
