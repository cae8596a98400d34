"""Benchmark of `finops_pipeline.pricing` on synthetic requests (a script, not a test).

Builds N requests (default 1,000,000) over 20 model names as written in the wild, 5 lake
providers and 90 days, then times separately: extracting the distinct (provider, model, day)
keys, building the unit-price table (cold: genai-prices matching included; warm: cached),
the join + arithmetic (`apply_unit_prices`) and `price_requests` end to end.

    .venv/bin/python benchmarks/bench_pricing.py [--rows N] [--repeat R]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from collections.abc import Callable

import polars as pl

from finops_pipeline import pricing
from finops_pipeline.config import PriceOverride
from finops_pipeline.schemas.token_usage import TOKEN_BUCKETS

MODELS = [  # (provider, model): variants, proxies, tiers, a time-of-day model, unknowns
    ("anthropic", "claude-sonnet-4-6"), ("anthropic", "claude-sonnet-4.6"),
    ("anthropic", "claude-3-5-sonnet-20241022"), ("anthropic", "anthropic/claude-opus-4-6"),
    ("anthropic", "claude-haiku-4-5"), ("openai", "gpt-5"), ("openai", "gpt-4.1-mini"),
    ("openai", "gpt-5.4"), ("openai", "o3"), ("gemini", "gemini-2.5-pro"),
    ("gemini", "gemini-2.5-flash"), ("copilot", "claude-sonnet-4.6"), ("copilot", "gpt-5"),
    ("copilot", "gemini-2.5-pro"), ("opencode", "grok-code-fast-1"),
    ("unknown", "deepseek-chat"), ("opencode", "claude-sonnet-4-5"),
    ("unknown", "acme-large"), ("openai", "gpt-4o-2024-08-06"), ("unknown", "mystery-model"),
]
OVERRIDES = [
    PriceOverride(provider="unknown", model="acme-large", effective_from=dt.date(2026, 2, 1),
                  input_mtok=1.0, output_mtok=4.0, cache_read_mtok=0.1, cache_write_mtok=1.25),
]
START = dt.date(2026, 1, 1)
DAYS = 90


def synthetic_requests(n: int) -> pl.DataFrame:
    """Deterministic pseudo-random requests (hash of the row index, no numpy needed)."""
    idx = pl.int_range(n, dtype=pl.Int64)

    def rand(seed: int, modulo: int) -> pl.Expr:
        return (idx.hash(seed) % modulo).cast(pl.Int64)

    models = pl.DataFrame(MODELS, schema=["provider", "model"], orient="row").with_row_index(
        "m", offset=0).with_columns(pl.col("m").cast(pl.Int64))
    frame = pl.select(
        idx.alias("request_no"),
        rand(1, len(MODELS)).alias("m"),
        (pl.lit(START) + pl.duration(days=rand(2, DAYS))).cast(pl.Date).alias("day"),
        # ~3% of requests are long-context, so the cliff tiers get exercised.
        pl.when(rand(3, 100) < 3).then(150_000 + rand(4, 150_000))
        .otherwise(rand(5, 20_000)).alias("input_tokens"),
        rand(6, 4_000).alias("output_tokens"),
        rand(7, 60_000).alias("cache_read_tokens"),
        rand(8, 5_000).alias("cache_write_tokens"),
    )
    return frame.join(models, on="m", how="left", maintain_order="left").drop("m").select(
        "request_no", "day", "provider", "model", *TOKEN_BUCKETS
    )


def timed(fn: Callable[[], object], repeat: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times, result


def fmt(times: list[float]) -> str:
    return f"best {min(times):.3f} s, median {statistics.median(times):.3f} s"


def clear_caches() -> None:
    pricing._resolve.cache_clear()
    pricing._LIBRARY_PRICES.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    t0 = time.perf_counter()
    requests = synthetic_requests(args.rows)
    print(f"generated {requests.height:,} requests, {len(MODELS)} model names, {DAYS} days "
          f"in {time.perf_counter() - t0:.3f} s (polars {pl.__version__})")

    key_times, keys = timed(lambda: requests.select(pricing.KEY_COLUMNS).unique(), args.repeat)
    print(f"distinct keys ({keys.height:,}):            {fmt(key_times)}")

    cold = []
    for _ in range(args.repeat):
        clear_caches()
        t = time.perf_counter()
        table = pricing.unit_price_table(keys, OVERRIDES)
        cold.append(time.perf_counter() - t)
    print(f"unit-price table, cold (matching):  {fmt(cold)}")
    warm, table = timed(lambda: pricing.unit_price_table(keys, OVERRIDES), args.repeat)
    print(f"unit-price table, warm (cached):    {fmt(warm)}")

    join_times, priced = timed(lambda: pricing.apply_unit_prices(requests, table), args.repeat)
    print(f"join + arithmetic (1 table):        {fmt(join_times)}")

    def end_to_end() -> pl.DataFrame:
        clear_caches()
        return pricing.price_requests(requests, OVERRIDES)

    total_times, priced = timed(end_to_end, args.repeat)
    print(f"price_requests end to end (cold):   {fmt(total_times)}")

    unpriced = pricing.unpriced_summary(priced)
    print(f"priced rows: {priced['cost_usd'].is_not_null().sum():,}; "
          f"unpriced rows: {unpriced['unpriced_requests'].sum():,} "
          f"over {unpriced.select('provider', 'model').unique().height} (provider, model); "
          f"total cost ${priced['cost_usd'].sum():,.2f}")


if __name__ == "__main__":
    main()
