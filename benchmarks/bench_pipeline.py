"""Pipeline throughput: demo telemetry through the three stages, timed per stage.

Not a test. Run: .venv/bin/python benchmarks/bench_pipeline.py [--days 30] [--data-dir DIR]
Prints seconds, rows per second and peak RSS of each stage (no Dagster: the stage functions
the assets call), plus the time of re-running one day (the daily case).
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import shutil
import tempfile
import time
from pathlib import Path

import polars as pl

from finops_pipeline import stages
from finops_pipeline.config import load_settings
from finops_pipeline.demo import generate_landing
from finops_pipeline.lake import DataPaths


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
    quiet = lambda _msg: None  # noqa: E731
    for name, stage in (("extract", stages.extract_gh_aw_logs), ("lake", stages.build_lake),
                        ("warehouse", stages.load_warehouse)):
        t = time.perf_counter()
        stage(settings, days, quiet)
        seconds = time.perf_counter() - t
        print(f"{name:>9}: {seconds:6.2f}s  {summary.requests / seconds:10,.0f} requests/s  "
              f"peak RSS {peak_rss_mb():,.0f} MB")
    rows = pl.scan_parquet(str(root / "lake" / "llm_requests" / "*" / "*.parquet")).select(
        pl.len()).collect().item()
    one = [days[-1]]
    t = time.perf_counter()
    for stage in (stages.extract_gh_aw_logs, stages.build_lake, stages.load_warehouse):
        stage(settings, one, quiet)
    print(f"lake rows: {rows:,}; one-day re-run (all stages): {time.perf_counter() - t:.2f}s; "
          f"warehouse {DataPaths(root).warehouse.stat().st_size / 1e6:.1f} MB")
    if args.data_dir is None:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
