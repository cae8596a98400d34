"""One big day, three ways, on the same files: the raw-parse floor, a hand-written loop, and
`finops materialize --date` end to end.

Not a test (timing assertions do not belong in the suite). Issue 13's yardsticks:

* **floor**: one polars scan of every token-usage.jsonl of the day (`pl.scan_ndjson` over the
  files, all columns typed), plus the sum of its tokens: what any tool must at least pay;
* **loop**: the seed-001-style Python script a user would otherwise write: `json.loads` per
  line, the run's workflow from its `run_summary.json`, tokens and a list-price cost summed per
  workflow in dicts;
* **pipeline**: `finops materialize --date D` in a fresh process (sources, lake, warehouse,
  analytics, report, every check), wall time and that process's peak RSS.

The day is N runs x M records in the gh-aw logs layout (`bench_publish.write_big_day`:
anthropic, copilot and openai records with each provider's token convention, ~2% errors).

    .venv/bin/python benchmarks/bench_day.py --runs 2000 --records 1000   # 2M requests
    .venv/bin/python benchmarks/bench_day.py --runs 200 --records 1000    # 200k, quick

Prints the three timings, the ratios issue 13 targets (pipeline / floor <= 4, loop / pipeline
>= 1.5) and the pipeline's peak RSS (target < 2 GB at 2M requests).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_publish import latest_run_steps, write_big_day  # noqa: E402

from finops_pipeline.schemas.gh_aw_layout import RUN_SUMMARY, TOKEN_USAGE  # noqa: E402

DAY = dt.date(2026, 3, 1)
# $/MTok (input, output, cache read, cache write) for the loop's estimate, as a script would
# hard-code them.
PRICES = {"claude-sonnet-4-6": (3.0, 15.0, 0.3, 3.75), "claude-haiku-4-5": (1.0, 5.0, 0.1, 1.25),
          "gpt-5": (1.25, 10.0, 0.125, 1.25)}


def token_files(landing: Path) -> list[Path]:
    return sorted(landing.rglob(TOKEN_USAGE))


def floor(files: list[Path]) -> tuple[float, int]:
    """One polars read of every token file, and the day's total tokens."""
    started = time.perf_counter()
    df = pl.scan_ndjson(files).collect()  # one parallel scan of every file
    total = int(df.select(pl.sum_horizontal(
        pl.col("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
    ).sum()).item())
    return time.perf_counter() - started, total


def loop(files: list[Path]) -> tuple[float, int]:
    """The hand-written script: json.loads per line, aggregate per workflow in dicts."""
    started = time.perf_counter()
    per_workflow: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for path in files:
        run_dir = path
        while not (run_dir / RUN_SUMMARY).is_file():
            run_dir = run_dir.parent
        workflow = json.loads((run_dir / RUN_SUMMARY).read_text())["run"]["workflowName"]
        stats = per_workflow[workflow]
        with path.open() as lines:
            for line in lines:
                rec = json.loads(line)
                i, o = rec["input_tokens"], rec["output_tokens"]
                r, w = rec["cache_read_tokens"], rec["cache_write_tokens"]
                stats["requests"] += 1
                stats["tokens"] += i + o + r + w
                price = PRICES.get(rec["model"])
                if price:
                    stats["cost"] += (i * price[0] + o * price[1] + r * price[2]
                                      + w * price[3]) / 1e6
    total = int(sum(s["tokens"] for s in per_workflow.values()))
    return time.perf_counter() - started, total


def pipeline(data_dir: Path) -> tuple[float, float, str]:
    """`finops materialize --date DAY` in its own process: (seconds, peak RSS MB, output)."""
    env = {**os.environ, "FINOPS_DATA_DIR": str(data_dir)}
    env.pop("FINOPS_CONFIG", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).parent / "finops"), "materialize",
                           "--date", DAY.isoformat()], env=env, capture_output=True,
                          text=True, cwd=data_dir)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode != 0:
        raise SystemExit(f"finops materialize failed:\n{done.stdout[-3000:]}\n"
                         f"{done.stderr[-3000:]}")
    if peak <= before:
        print("note: peak RSS of the child could not be told apart from an earlier one")
    return seconds, peak / 1024, done.stdout


def step_seconds(data_dir: Path) -> dict[str, float]:
    """Seconds of every step of the run just made (from the Dagster instance in the data dir),
    and of the whole Dagster run; the rest of the process is start-up and the summary."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(data_dir / "dagster_home")) as instance:
        return latest_run_steps(instance, "(Dagster run)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--records", type=int, default=1_000)
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="keep the files here (default: a temporary folder)")
    args = parser.parse_args()
    root = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-day-"))
    data_dir = root / "data"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    landing = data_dir / "landing" / "gh-aw-logs"
    started = time.perf_counter()
    requests, written = write_big_day(landing, args.runs, args.records, DAY)
    print(f"day {DAY}: {args.runs:,} runs x {args.records:,} records = {requests:,} requests, "
          f"{written / 1e6:,.0f} MB of JSON ({time.perf_counter() - started:.1f} s to write)")
    files = token_files(landing)
    floor_s, floor_tokens = floor(files)
    loop_s, loop_tokens = loop(files)
    assert floor_tokens == loop_tokens, (floor_tokens, loop_tokens)
    pipe_s, pipe_mb, _ = pipeline(data_dir)
    print(f"floor (polars scan of {len(files):,} files) : {floor_s:8.2f} s")
    print(f"loop (json.loads per line, per workflow)   : {loop_s:8.2f} s")
    print(f"pipeline (finops materialize --date)       : {pipe_s:8.2f} s, peak RSS "
          f"{pipe_mb:,.0f} MB")
    steps = step_seconds(data_dir)
    print("pipeline steps: " + ", ".join(
        f"{name} {seconds:.1f} s" for name, seconds in sorted(
            steps.items(), key=lambda kv: -kv[1]) if seconds >= 0.05))
    print(f"pipeline / floor = {pipe_s / floor_s:.1f}x (target <= 4x, stretch <= 2x); "
          f"loop / pipeline = {loop_s / pipe_s:.2f}x (target >= 1.5x, stretch >= 3x)")
    if args.data_dir is None:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
