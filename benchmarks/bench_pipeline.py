"""Pipeline throughput: demo telemetry through the three stages, timed per stage.

Not a test. Run: .venv/bin/python benchmarks/bench_pipeline.py [--days 30] [--data-dir DIR]
Prints seconds, rows per second and peak RSS of each stage (no Dagster: the functions the
assets call), plus the time of re-running one day (the daily case).

The stages, as the assets run them:

* sources: every enabled source of `sources.registry.SOURCES` extracts the days, and each
  delivered day is written as the source's raw slice (`lake.write_raw_day`);
* lake: `defs.assets.lake.write_lake_days` (validate, normalize, price, write the day files);
* warehouse: `warehouse.load.load_lake_days` inside `warehouse.publish.open_for_update`
  (a private copy of the DuckDB file, published atomically).

`bench_publish.py` imports the three stage functions below.
"""

# The warning filter comes before the imports that would warn:
# ruff: noqa: E402
from __future__ import annotations

import warnings

# Importing the Dagster assets (for write_lake_days) warns that backfill_policy is in beta.
warnings.filterwarnings("ignore", message=r".*is currently in beta")

import argparse
import datetime as dt
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import polars as pl

from finops_pipeline.config import Settings, load_settings
from finops_pipeline.defs.assets.lake import write_lake_days
from finops_pipeline.demo import generate_landing
from finops_pipeline.lake import DataPaths, write_raw_day
from finops_pipeline.sources.base import SourceContext
from finops_pipeline.sources.registry import SOURCES
from finops_pipeline.warehouse.load import load_lake_days
from finops_pipeline.warehouse.publish import open_for_update

Say = Callable[[str], None]


def quiet(_msg: str) -> None:
    """A progress callback that drops every line."""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_sources(settings: Settings, days: Sequence[dt.date], say: Say = quiet) -> int:
    """The sources stage: extract `days` from every enabled source, write the raw slices.

    Sources that need Dagster resources (the github source) are skipped when enabled, since no
    resource is built here; they are off unless configured. Returns the days written.
    """
    paths = DataPaths(settings.data_dir)
    written = 0
    for source in SOURCES:
        if not source.enabled(settings):
            continue
        if source.resource_keys:
            say(f"{source.name}: skipped (needs resources {sorted(source.resource_keys)})")
            continue
        ctx = SourceContext(
            settings=settings,
            landing=(paths.landing_source(source.landing_name) if source.landing_name
                     else None),
            state=paths.state, resources={}, say=say)
        for got in source.extract(ctx, days):
            if got.frames is None:
                say(f"{got.day} {source.name}: not delivered: {got.error}")
                continue
            write_raw_day(paths, source.name, got.day, got.frames)
            written += 1
    return written


def run_lake(settings: Settings, days: Sequence[dt.date], say: Say = quiet) -> None:
    """The lake stage over every registered source's raw slices."""
    write_lake_days(DataPaths(settings.data_dir), days, SOURCES, settings.config.prices, say)


def run_warehouse(settings: Settings, days: Sequence[dt.date], say: Say = quiet) -> None:
    """The warehouse stage: load the lake days into a copy, publish it."""
    paths = DataPaths(settings.data_dir)
    with open_for_update(paths) as con:
        load_lake_days(con, paths, days, progress=say)


STAGES = (("sources", run_sources), ("lake", run_lake), ("warehouse", run_warehouse))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    root = args.data_dir or Path(tempfile.mkdtemp(prefix="finops-bench-"))
    end = dt.date(2026, 3, 31)
    days = [end - dt.timedelta(days=i) for i in range(args.days - 1, -1, -1)]
    t = time.perf_counter()
    summary = generate_landing(root / "landing" / "gh-aw-logs", days=args.days, end_day=end)
    print(f"generate: {summary.runs} runs, {summary.requests:,} requests in "
          f"{time.perf_counter() - t:.2f}s")
    settings = load_settings(data_dir=root, env={})
    for name, stage in STAGES:
        t = time.perf_counter()
        stage(settings, days)
        seconds = time.perf_counter() - t
        print(f"{name:>9}: {seconds:6.2f}s  {summary.requests / seconds:10,.0f} requests/s  "
              f"peak RSS {peak_rss_mb():,.0f} MB")
    rows = pl.scan_parquet(str(root / "lake" / "llm_requests" / "*" / "*.parquet")).select(
        pl.len()).collect().item()
    one = [days[-1]]
    t = time.perf_counter()
    for _name, stage in STAGES:
        stage(settings, one)
    print(f"lake rows: {rows:,}; one-day re-run (all stages): {time.perf_counter() - t:.2f}s; "
          f"warehouse {DataPaths(root).warehouse.stat().st_size / 1e6:.1f} MB")
    if args.data_dir is None:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
