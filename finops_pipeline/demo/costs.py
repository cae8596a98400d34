"""What gh-aw reports a run used and cost: `token_usage_summary`, `TokenUsage`, `EstimatedCost`.

Unit prices come from the pipeline's own pricing (genai-prices), so the demo's reported costs
and the pipeline's computed costs rest on the same data and a reader can compare them.
`EstimatedCost` stays gh-aw's rough run-level figure: the run's main model at its flat list
price for all of the run's tokens, no tiers and no side-model prices.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import polars as pl

from finops_pipeline.demo.catalog import ENGINES, INCLUSIVE_PROVIDERS
from finops_pipeline.demo.runs import Run
from finops_pipeline.pricing import PRICE_COLUMNS, unit_price_table

# USD per million tokens: uncached input, output, cache read, cache write (PRICE_COLUMNS order).
UnitPrices = tuple[float, float, float, float]
PriceKey = tuple[str, str, dt.date]  # provider, model, UTC day


def totals(run: Run) -> dict[str, int]:
    """token_usage_summary of a run: sums of its valid, distinct records as reported."""
    if run.entries is None:
        return {}
    valid = [e.record for e in run.entries if not e.malformed and not e.duplicate]
    return {
        "total_input_tokens": sum(r["input_tokens"] for r in valid),
        "total_output_tokens": sum(r["output_tokens"] for r in valid),
        "total_cache_read_tokens": sum(r["cache_read_tokens"] for r in valid),
        "total_cache_write_tokens": sum(r["cache_write_tokens"] for r in valid),
        "total_requests": len(valid),
        "total_duration_ms": sum(r["duration_ms"] for r in valid),
    }


def token_usage(run: Run) -> int:
    """gh-aw's TokenUsage: all disjoint buckets, or the estimate of a run without token data."""
    return sum(_disjoint(run)) if run.totals else run.estimated_tokens


def _provider(run: Run) -> str:
    return ENGINES[run.workflow.engine].provider


def _disjoint(run: Run) -> tuple[int, int, int, int]:
    """(uncached input, output, cache read, cache write) of a run's totals."""
    t = run.totals
    inp, cread = t["total_input_tokens"], t["total_cache_read_tokens"]
    if _provider(run) in INCLUSIVE_PROVIDERS:
        inp -= cread
    return inp, t["total_output_tokens"], cread, t["total_cache_write_tokens"]


def _price_key(run: Run) -> PriceKey:
    return _provider(run), run.model, run.created.date()


def unit_prices(runs: Iterable[Run]) -> dict[PriceKey, UnitPrices]:
    """Flat list prices of the main models of `runs` on their days, in one pricing call.

    genai-prices matching is slow per name, so the distinct keys are priced once together.
    Every catalog model must be priced: a missing price would silently make a cost 0.
    """
    keys = sorted({_price_key(r) for r in runs})
    if not keys:
        return {}
    frame = pl.DataFrame(keys, schema={"provider": pl.String, "model": pl.String,
                                       "day": pl.Date}, orient="row")
    table = unit_price_table(frame, [])
    prices: dict[PriceKey, UnitPrices] = {}
    for row in table.select("provider", "model", "day", *PRICE_COLUMNS).iter_rows():
        key, price = row[:3], row[3:]
        if any(p is None for p in price):
            raise ValueError(f"genai-prices has no price for {key}: fix the demo catalog")
        prices[key] = price
    return prices


def estimated_cost(run: Run, prices: dict[PriceKey, UnitPrices]) -> float:
    """gh-aw's EstimatedCost of a run, USD rounded to 4 decimals."""
    price = prices[_price_key(run)]
    if run.totals:
        buckets = _disjoint(run)
    else:  # a rough split of the estimate: mostly cache reads
        total = run.estimated_tokens
        # Inclusive providers never report cache writes, so their estimate has none either
        # (genai-prices would charge them at the input price).
        cache_write = 0 if _provider(run) in INCLUSIVE_PROVIDERS else total // 40
        buckets = (total // 20, total // 40, total * 37 // 40 - total // 20, cache_write)
    return round(sum(b * p for b, p in zip(buckets, price, strict=True)) / 1e6, 4)
