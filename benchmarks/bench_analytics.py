"""What the analytics cost: a year's backfill, a daily run, and a backfill of one past day.

Not a test. Synthesizes the daily warehouse tables the analytics read (kpi_workflow_daily,
kpi_model_daily, kpi_workflow_model_daily, kpi_run_daily, fact_pull_requests) for `--days`
days of `--workflows` workflows in 8 repos, `--runs` runs a day each (10 requests a run, two
models per workflow), built by the real builders from synthetic lake rows and written with
`replace_day`, as the lake loads do. Then, in a real DuckDB file:

1. the backfill: `load_analytics` of every day at once (one transaction);
2. the daily run: `load_analytics` of the last day (rebuilds run_outcomes 28 days back and
   what reads it, trend_daily of the day);
3. a backfill of one day in the middle (rebuilds every later day its windows feed).

Prints seconds, the rows of every analytics table and the peak RSS.

    .venv/bin/python benchmarks/bench_analytics.py                  # 365 days x 50 workflows
    .venv/bin/python benchmarks/bench_analytics.py --days 90 --workflows 20
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import tempfile
import time
from pathlib import Path

import duckdb
import polars as pl

from finops_pipeline.lake import DataPaths
from finops_pipeline.schemas.datasets import LAKE_DATASETS
from finops_pipeline.transforms.kpis import (
    kpi_model_daily,
    kpi_run_daily,
    kpi_workflow_daily,
    kpi_workflow_model_daily,
)
from finops_pipeline.warehouse.load import load_analytics, replace_day
from finops_pipeline.warehouse.schema import ensure_schema
from finops_pipeline.warehouse.tables import tables

MODELS = (("anthropic", "claude-sonnet-4-6"), ("openai", "gpt-5"), ("copilot", "gpt-4.1"),
          ("anthropic", "claude-haiku-4-5"))


def day_frames(day: dt.date, n: int, workflows: int, runs: int) -> dict[str, pl.DataFrame]:
    """One day's daily tables from synthetic lake rows (deterministic per day)."""
    c = pl.col
    k = workflows * runs
    attempts = pl.DataFrame({"i": pl.arange(0, k, eager=True)}).with_columns(
        pl.lit(day).alias("day"), pl.lit("bench").alias("source"),
        pl.format("acme/repo-{}", c("i") % workflows % 8).alias("repo"),
        pl.format("workflow-{}", c("i") % workflows).alias("workflow"),
        (pl.lit(n * 1_000_000) + c("i")).cast(pl.Int64).alias("run_id"),
        pl.lit(1, dtype=pl.Int32).alias("run_attempt"),
        pl.format("copilot/task-{}-{}", pl.lit(n), c("i")).alias("head_branch"),
        pl.when((c("i") + n) % 17 == 0).then(pl.lit("failure")).otherwise(pl.lit("success"))
        .alias("conclusion"),
        pl.lit(True).alias("has_token_data"),
        ((c("i") * 7 + n) % 20 + 1).cast(pl.Int64).alias("turns"),
    ).with_columns((c("conclusion") == "failure").alias("is_failed"))
    runs_lake = _conform(attempts, LAKE_DATASETS["workflow_runs"].schema)
    requests = attempts.join(pl.DataFrame({"r": pl.arange(0, 10, eager=True)}), how="cross")
    scale = ((c("run_id") * 31 + c("r") * 7 + n) % 97 + 3).cast(pl.Int64)
    model_idx = (c("i") % workflows + c("r")) % 2 + (c("i") % workflows) % 3
    requests = requests.with_columns(
        pl.format("{}-{}", c("run_id"), c("r")).alias("request_id"),
        model_idx.replace_strict({j: MODELS[j][0] for j in range(4)}, return_dtype=pl.String)
        .alias("provider"),
        model_idx.replace_strict({j: MODELS[j][1] for j in range(4)}, return_dtype=pl.String)
        .alias("model"),
        pl.when(c("r") == 9).then(500).otherwise(200).cast(pl.Int32).alias("status"),
        (scale * 300).alias("input_tokens"), (scale * 700).alias("cache_read_tokens"),
        pl.lit(0, dtype=pl.Int64).alias("cache_write_tokens"), (scale * 4).alias("output_tokens"),
        pl.lit(1200, dtype=pl.Int64).alias("duration_ms"),
    ).with_columns(
        (c("input_tokens") + c("cache_read_tokens")).alias("prompt_tokens"),
    ).with_columns(
        (c("prompt_tokens") + c("output_tokens")).alias("total_tokens"),
        ((c("input_tokens") * 3 + c("cache_read_tokens") * 0.3 + c("output_tokens") * 15) / 1e6)
        .alias("cost_usd"),
    )
    requests_lake = _conform(requests, LAKE_DATASETS["llm_requests"].schema)
    pulls = attempts.filter(c("i") % 3 == 0).select(
        pl.lit(day).alias("day"), pl.lit("bench").alias("source"), "repo",
        (c("run_id") % 1_000_000_000).alias("number"),
        pl.when(c("i") % 2 == 0).then(pl.lit("merged")).otherwise(pl.lit("open")).alias("state"),
        pl.lit(dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC)).alias("created_at"),
        pl.lit(dt.datetime(day.year, day.month, day.day, 13, tzinfo=dt.UTC)).alias("updated_at"),
        c("head_branch").alias("head_ref"),
    )
    pulls = _conform(pulls, LAKE_DATASETS["pull_requests"].schema)
    return {
        "kpi_workflow_daily": kpi_workflow_daily(runs_lake, requests_lake),
        "kpi_model_daily": kpi_model_daily(requests_lake),
        "kpi_workflow_model_daily": kpi_workflow_model_daily(requests_lake),
        "kpi_run_daily": kpi_run_daily(runs_lake, requests_lake),
        "fact_pull_requests": pulls.select(list(LAKE_DATASETS["pull_requests"].public_columns)),
    }


def _conform(frame: pl.DataFrame, schema: dict) -> pl.DataFrame:
    return frame.select([pl.col(k).cast(v) if k in frame.columns else pl.lit(None, v).alias(k)
                         for k, v in schema.items()])


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--workflows", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    first = dt.date(2026, 1, 1)
    days = [first + dt.timedelta(days=i) for i in range(args.days)]
    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(str(Path(tmp) / "bench.duckdb"))
        ensure_schema(con, DataPaths(Path(tmp)), dt.datetime.now(dt.UTC), tables())
        t0 = time.perf_counter()
        for n, day in enumerate(days):
            replace_day(con, day, day_frames(day, n, args.workflows, args.runs))
        t_daily = time.perf_counter() - t0
        print(f"daily tables: {args.days} days x {args.workflows} workflows x {args.runs} runs "
              f"x 10 requests written in {t_daily:.1f} s")
        t0 = time.perf_counter()
        report = load_analytics(con, days)
        print(f"backfill of {args.days} days: {time.perf_counter() - t0:.1f} s")
        for r in report:
            print(f"  {r['table']:<26} {r['first_day']}..{r['last_day']} {r['rows']:>10,} rows")
        for label, day in (("daily run (last day)", days[-1]),
                           ("backfill of one past day", days[len(days) // 2])):
            t0 = time.perf_counter()
            report = load_analytics(con, [day])
            spans = ", ".join(f"{r['table']} {r['first_day']}..{r['last_day']}" for r in report)
            print(f"{label}: {time.perf_counter() - t0:.2f} s ({spans})")
        print(f"peak RSS: {peak_rss_mb():,.0f} MB")
        con.close()


if __name__ == "__main__":
    main()
