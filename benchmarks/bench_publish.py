"""Publishing costs O(day), not O(warehouse): a small day re-materialized beside a big day.

Not a test (no timing assertion belongs in the suite). What it measures, from the issue:
"loads one day of 2M requests, then re-materializes one small demo day; that
re-materialization takes at most 1.5x what it takes on a warehouse holding only small days."

* A big day (default 2,000 runs x 1,000 token-usage records = 2M requests on 2026-03-01) is
  written straight into the gh-aw logs layout (`run-<id>/run_summary.json` plus one
  `sandbox/firewall/logs/api-proxy-logs/token-usage.jsonl` per run), vectorized with polars:
  anthropic (claude-sonnet-4-6, claude-haiku-4-5), copilot and openai (gpt-5) records, status
  200 but for ~2% of 429 and 500, each provider's token convention.
* Seven demo days (`demo.generate_landing`, 2026-03-03..2026-03-09, ~700 requests a day).
* Warehouse A holds the demo days only (one `materialize_range` of the seven days);
  warehouse B holds the big day and the same demo days (the big day, then the seven days).
* Then the last demo day is re-materialized in A and in B, alternately, `--repeat` times: the
  full daily run (`cli.materialize_range`: one in-process Dagster run, sources, lake,
  warehouse and every asset check), and separately the warehouse stage alone
  (`open_for_update` + `load_lake_days` of that day, the copy-and-publish).
* It prints sizes, the big day's materialization time, the median re-materialization of the
  day in A and B, the ratio B/A (full run and warehouse stage) with PASS/FAIL against 1.5, the
  median time of every Dagster step in both, and the peak RSS. Exit status 1 on FAIL.

Dagster's and the pipeline's own output goes to `<data dir>/bench.log`; each warehouse has its
own DAGSTER_HOME (`<data dir>/<A|B>/dagster_home`). Runs:

    .venv/bin/python benchmarks/bench_publish.py            # 2M requests: ~3 min, ~6 GB RSS
    .venv/bin/python benchmarks/bench_publish.py --small    # 200 x 1,000: ~1.5 min, ~1.3 GB
    .venv/bin/python benchmarks/bench_publish.py --runs 500 --records 400 --repeat 7 \\
        --data-dir /tmp/bench-publish                       # keep the files to inspect
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import polars as pl
from bench_pipeline import peak_rss_mb, run_warehouse

from finops_pipeline.cli import materialize_range
from finops_pipeline.config import Settings, load_settings
from finops_pipeline.demo import generate_landing
from finops_pipeline.instance import ensure_dagster_home
from finops_pipeline.lake import DataPaths
from finops_pipeline.schemas.gh_aw_layout import CANONICAL_TOKEN_USAGE, RUN_SUMMARY
from finops_pipeline.sources.gh_aw_logs import landing_dir
from finops_pipeline.warehouse.access import query

BIG_DAY = dt.date(2026, 3, 1)
DEMO_END = dt.date(2026, 3, 9)
DEMO_DAYS = 7
LIMIT = 1.5  # the bound on B/A
BIG_RUN_ID_START = 30_000_000_000  # far from the demo's run ids (19e9 + ...)
# (provider, model, path, input includes cache reads): run r uses ENGINES[r % 4].
ENGINES = (
    ("anthropic", "claude-sonnet-4-6", "/v1/messages", False),
    ("anthropic", "claude-haiku-4-5", "/v1/messages", False),
    ("copilot", "gpt-5", "/chat/completions", True),
    ("openai", "gpt-5", "/v1/responses", True),
)
TOKEN_SCHEMA = "token-usage/v0.26.0"


# --- the big day -------------------------------------------------------------------------

def big_day_requests(runs: int, records: int, day: dt.date, seed: int = 7) -> pl.DataFrame:
    """`runs` x `records` token-usage records of `day`, one row each, with the JSON line.

    Pseudo-random but deterministic: every draw is a hash of the row number.
    """
    i, c = pl.col("i"), pl.col

    def draw(salt: int, below: int) -> pl.Expr:
        return (i.hash(seed * 1_000 + salt) % below).cast(pl.Int64)

    start_ms = int(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp() * 1000)
    spacing_ms = 20 * 3600 * 1000 // runs  # runs created over 20 hours of the day
    engine = c("run") % len(ENGINES)

    def per_engine(n: int) -> pl.Expr:
        return engine.replace_strict({k: e[n] for k, e in enumerate(ENGINES)})

    ok = c("status") == 200
    df = (
        pl.DataFrame({"i": pl.int_range(0, runs * records, eager=True)})
        .with_columns(run=i // records, k=i % records)
        .with_columns(
            run_id=BIG_RUN_ID_START + c("run"),
            created_ms=start_ms + c("run") * spacing_ms,
            provider=per_engine(0), model=per_engine(1), path=per_engine(2),
            inclusive=per_engine(3),
            status=pl.when(draw(1, 1000) < 980).then(200)
            .when(draw(1, 1000) < 995).then(429).otherwise(500),
        )
        .with_columns(
            ts_ms=c("created_ms") + 30_000 + c("k") * 2_500 + draw(2, 2_000),
            # Anthropic: input excludes cache reads and writes. OpenAI and Copilot: input
            # includes cache reads and there are no cache writes.
            input_tokens=pl.when(~ok).then(0).when(c("inclusive"))
            .then(8_000 + draw(3, 120_000)).otherwise(1 + draw(3, 4_000)),
            output_tokens=pl.when(ok).then(20 + draw(4, 3_000)).otherwise(0),
            cache_write_tokens=pl.when(ok & ~c("inclusive")).then(draw(5, 2_000)).otherwise(0),
            duration_ms=300 + draw(6, 20_000),
        )
        .with_columns(
            cache_read_tokens=pl.when(~ok).then(0).when(c("inclusive"))
            .then(c("input_tokens") * draw(7, 90) // 100).otherwise(5_000 + draw(7, 120_000)),
            response_bytes=200 + c("output_tokens") * 4,
            timestamp=pl.from_epoch("ts_ms", time_unit="ms").dt.replace_time_zone("UTC")
            .dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"),
            request_id=pl.format("bench-{}-{}", c("run_id"), c("k")),
        )
    )
    return df.with_columns(line=token_line())


def token_line() -> pl.Expr:
    """A record's api-proxy token-usage.jsonl line, from the columns of `big_day_requests`."""
    return pl.struct(
        pl.lit(TOKEN_SCHEMA).alias("_schema"), pl.lit("token_usage").alias("event"),
        "timestamp", "request_id", "provider", "model", "path", "status",
        pl.lit(True).alias("streaming"), "input_tokens", "output_tokens", "cache_read_tokens",
        "cache_write_tokens", "duration_ms", "response_bytes",
    ).struct.json_encode()


def write_big_day(landing: Path, runs: int, records: int, day: dt.date) -> tuple[int, int]:
    """Write the big day as gh-aw run folders under `landing/bench__big/`.

    Returns (requests, bytes written).
    """
    return write_run_folders(landing / "bench__big", big_day_requests(runs, records, day))


def write_run_folders(folder: Path, df: pl.DataFrame, first_number: int = 1,
                      indent: int | None = 2) -> tuple[int, int]:
    """One gh-aw run folder per run of `df` (rows of `big_day_requests`, with `line`):
    `run-<id>/run_summary.json` and the canonical token-usage.jsonl. `first_number` is the
    number of run 0. Returns (requests, bytes written)."""
    per_run = df.group_by("run_id", maintain_order=True).agg(
        pl.col("run").first(), pl.col("created_ms").first(),
        pl.col("line").str.join("\n"),
        pl.len().alias("requests"),
        *(pl.col(f"{b}_tokens").sum() for b in ("input", "output", "cache_read", "cache_write")),
        pl.col("duration_ms").sum(),
    ).with_columns(
        created=pl.from_epoch("created_ms", time_unit="ms").dt.replace_time_zone("UTC")
        .dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    del df
    written = 0
    for row in per_run.iter_rows(named=True):
        run_dir = folder / f"run-{row['run_id']}"
        tokens = (row["input_tokens"] + row["output_tokens"] + row["cache_read_tokens"]
                  + row["cache_write_tokens"])
        repo = f"bench/service-{row['run'] % 5}"
        summary = {
            "run_id": row["run_id"],
            "run": {
                "databaseId": row["run_id"], "number": first_number + row["run"],
                "url": f"https://github.com/{repo}/actions/runs/{row['run_id']}",
                "status": "completed", "conclusion": "success",
                "workflowName": f"Bench Agent {row['run'] % 8}", "createdAt": row["created"],
                "attempt": 1, "repository": repo, "actor": "bench",
                "Duration": row["duration_ms"] * 1_000_000, "TokenUsage": tokens,
                "Turns": row["requests"],
            },
            "token_usage_summary": {
                "total_input_tokens": row["input_tokens"],
                "total_output_tokens": row["output_tokens"],
                "total_cache_read_tokens": row["cache_read_tokens"],
                "total_cache_write_tokens": row["cache_write_tokens"],
                "total_requests": row["requests"],
                "total_duration_ms": row["duration_ms"],
            },
        }
        token_file = run_dir / CANONICAL_TOKEN_USAGE
        token_file.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(summary, indent=indent)
        (run_dir / RUN_SUMMARY).write_text(text, encoding="utf-8")
        data = (row["line"] + "\n").encode()
        token_file.write_bytes(data)
        written += len(text) + len(data)
    return int(per_run["requests"].sum()), written


def latest_run_steps(instance: dg.DagsterInstance, run_label: str) -> dict[str, float]:
    """Seconds of every step of the instance's latest run, and of the run itself (`run_label`)."""
    run = instance.get_runs(limit=1)[0]
    steps = {s.step_key: (s.end_time or 0) - (s.start_time or 0)
             for s in instance.get_run_step_stats(run.run_id)}
    stats = instance.get_run_stats(run.run_id)
    steps[run_label] = (stats.end_time or 0) - (stats.start_time or 0)
    return steps


# --- running the pipeline quietly ----------------------------------------------------------

@contextmanager
def output_to(log: Path) -> Iterator[None]:
    """Send everything written to stdout and stderr (file descriptors 1 and 2) to `log`."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "ab") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


@dataclass
class Warehouse:
    """One data dir, materialized through the CLI's `materialize_range`."""

    name: str
    root: Path
    log: Path
    full: list[float] = field(default_factory=list)  # re-materializations of one day
    stage: list[float] = field(default_factory=list)  # warehouse stage alone
    steps: list[dict[str, float]] = field(default_factory=list)  # Dagster step seconds

    @property
    def paths(self) -> DataPaths:
        return DataPaths(self.root)

    @property
    def settings(self) -> Settings:
        return load_settings(data_dir=self.root, env={})

    def _activate(self) -> None:
        # materialize_range reads DAGSTER_HOME from the environment: one instance per data dir.
        os.environ["DAGSTER_HOME"] = str(ensure_dagster_home(self.paths))

    def materialize(self, start: dt.date, end: dt.date) -> float:
        """Materialize start..end as `finops materialize` does; seconds (wall clock)."""
        self._activate()
        with open(self.log, "a", encoding="utf-8") as fh:
            fh.write(f"\n===== {self.name}: materialize {start}..{end}\n")
        t = time.perf_counter()
        with output_to(self.log):
            ok = materialize_range(self.settings, start, end)
        seconds = time.perf_counter() - t
        if not ok:
            tail = self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-40:]
            print("\n".join(tail), file=sys.stderr)
            raise SystemExit(f"{self.name}: materializing {start}..{end} failed "
                             f"(log: {self.log})")
        return seconds

    def last_run_steps(self) -> dict[str, float]:
        """Seconds of every step of the latest Dagster run, plus the run itself."""
        self._activate()
        with dg.DagsterInstance.get() as instance:
            return latest_run_steps(instance, "(whole Dagster run)")

    def rematerialize(self, day: dt.date) -> None:
        seconds = self.materialize(day, day)
        self.full.append(seconds)
        steps = self.last_run_steps()
        steps["(outside the run)"] = seconds - steps["(whole Dagster run)"]
        self.steps.append(steps)

    def warehouse_stage(self, day: dt.date) -> None:
        t = time.perf_counter()
        with output_to(self.log):
            run_warehouse(self.settings, [day])
        self.stage.append(time.perf_counter() - t)

    def requests(self) -> int:
        return int(query(self.paths.warehouse, "SELECT count(*) AS n FROM fact_llm_requests")
                   ["n"][0])

    def pinned_links(self) -> int:
        """The most hard links any pinned lake file has (2 = the lake file and its pin)."""
        pinned = (self.paths.warehouse_dir / "lake").rglob("*.parquet")
        return max((p.stat().st_nlink for p in pinned), default=0)


def median_steps(runs: list[dict[str, float]]) -> dict[str, float]:
    keys = sorted({k for r in runs for k in r}, key=lambda k: (k.startswith("("), k))
    return {k: statistics.median(r.get(k, 0.0) for r in runs) for k in keys}


# --- main -----------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2_000, help="runs of the big day")
    parser.add_argument("--records", type=int, default=1_000, help="records per run")
    parser.add_argument("--repeat", type=int, default=5, help="re-materializations per side")
    parser.add_argument("--small", action="store_true", help="quick: 200 runs x 1,000 records")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="keep everything here (default: a temp dir, removed at the end)")
    args = parser.parse_args()
    if args.small:
        args.runs, args.records = 200, 1_000
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)

    base = args.data_dir or Path(tempfile.mkdtemp(prefix="finops-bench-publish-"))
    base.mkdir(parents=True, exist_ok=True)
    log = base / "bench.log"
    a = Warehouse("A", base / "A", log)
    b = Warehouse("B", base / "B", log)
    for wh in (a, b):
        if wh.root.exists():
            shutil.rmtree(wh.root)
    day = DEMO_END  # the day re-materialized: "yesterday" of the daily schedule
    print(f"data dir {base} (log: {log})")

    t = time.perf_counter()
    requests, size = write_big_day(landing_dir(b.paths), args.runs, args.records, BIG_DAY)
    t_gen_big = time.perf_counter() - t
    print(f"big day {BIG_DAY}: {args.runs:,} runs x {args.records:,} records = {requests:,} "
          f"requests, {size / 1e6:,.0f} MB written in {t_gen_big:.1f}s")
    for wh in (a, b):
        demo = generate_landing(landing_dir(wh.paths), days=DEMO_DAYS, end_day=DEMO_END, seed=7)
    first = DEMO_END - dt.timedelta(days=DEMO_DAYS - 1)
    print(f"demo days {first}..{DEMO_END}: {demo.runs} runs, {demo.requests:,} requests "
          f"in each of A and B")

    t_demo_a = a.materialize(first, DEMO_END)
    print(f"A: materialized the demo days in {t_demo_a:.1f}s")
    t_big = b.materialize(BIG_DAY, BIG_DAY)
    rss_big = peak_rss_mb()
    print(f"B: materialized the big day in {t_big:.1f}s (peak RSS so far {rss_big:,.0f} MB)")
    t_demo_b = b.materialize(first, DEMO_END)
    print(f"B: materialized the demo days in {t_demo_b:.1f}s")

    print(f"re-materializing {day} {args.repeat} times in A and B, alternately ...", flush=True)
    for _ in range(args.repeat):
        for wh in (a, b):
            wh.rematerialize(day)
    for _ in range(args.repeat):
        for wh in (a, b):
            wh.warehouse_stage(day)

    report(args, a, b, requests, t_big, t_demo_a, t_demo_b, rss_big)
    ratio = statistics.median(b.full) / statistics.median(a.full)
    if args.data_dir is None:
        shutil.rmtree(base)
    return 0 if ratio <= LIMIT else 1


def report(args: argparse.Namespace, a: Warehouse, b: Warehouse, big_requests: int,
           t_big: float, t_demo_a: float, t_demo_b: float, rss_big: float) -> None:
    def mb(path: Path) -> str:
        return f"{path.stat().st_size / 1e6:,.1f}"

    def verdict(ratio: float) -> str:
        return f"B/A {ratio:4.2f}  {'PASS' if ratio <= LIMIT else 'FAIL'} (<= {LIMIT})"

    med = statistics.median
    full_ratio = med(b.full) / med(a.full)
    stage_ratio = med(b.stage) / med(a.stage)
    rows = [
        ("requests in fact_llm_requests", f"{a.requests():,}", f"{b.requests():,}", ""),
        ("landing (MB)", f"{dir_mb(a.paths.landing):,.1f}", f"{dir_mb(b.paths.landing):,.1f}",
         ""),
        ("raw (MB)", f"{dir_mb(a.root / 'raw'):,.1f}", f"{dir_mb(b.root / 'raw'):,.1f}", ""),
        ("lake (MB)", f"{dir_mb(a.root / 'lake'):,.1f}", f"{dir_mb(b.root / 'lake'):,.1f}", ""),
        ("warehouse file finops.duckdb (MB)", mb(a.paths.warehouse), mb(b.paths.warehouse),
         ""),
        ("links of a pinned lake file", str(a.pinned_links()), str(b.pinned_links()),
         "2 = hard link, no copy"),
        ("materialize the big day (s)", "-", f"{t_big:,.1f}",
         f"{big_requests / t_big:,.0f} requests/s"),
        (f"materialize the {DEMO_DAYS} demo days (s)", f"{t_demo_a:.1f}", f"{t_demo_b:.1f}", ""),
        (f"re-materialize {DEMO_END}, median of {len(a.full)} (s)", f"{med(a.full):.2f}",
         f"{med(b.full):.2f}", verdict(full_ratio)),
        ("  min .. max (s)", f"{min(a.full):.2f} .. {max(a.full):.2f}",
         f"{min(b.full):.2f} .. {max(b.full):.2f}", ""),
        (f"warehouse stage alone, median of {len(a.stage)} (s)", f"{med(a.stage):.3f}",
         f"{med(b.stage):.3f}", verdict(stage_ratio)),
        ("  min .. max (s)", f"{min(a.stage):.3f} .. {max(a.stage):.3f}",
         f"{min(b.stage):.3f} .. {max(b.stage):.3f}", ""),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\n=== publish cost: big day of {args.runs:,} runs x {args.records:,} records ===")
    print(f"{'':{width}}  {'A: small only':>15}  {'B: big + small':>15}")
    for label, va, vb, note in rows:
        print(f"{label:{width}}  {va:>15}  {vb:>15}  {note}")

    steps_a, steps_b = median_steps(a.steps), median_steps(b.steps)
    print(f"\nwhere a re-materialization of {DEMO_END} goes (median seconds per Dagster step):")
    step_width = max(len(k) for k in steps_a | steps_b)
    for key in sorted(steps_a | steps_b, key=lambda k: (k.startswith("("), k)):
        sa, sb = steps_a.get(key, 0.0), steps_b.get(key, 0.0)
        print(f"  {key:{step_width}}  A {sa:6.2f}  B {sb:6.2f}  B-A {sb - sa:+6.2f}")
    print(f"\npeak RSS: {peak_rss_mb():,.0f} MB (after the big day: {rss_big:,.0f} MB)")
    print(f"RESULT: re-materializing one small day next to {big_requests:,} requests takes "
          f"{full_ratio:.2f}x the small-only time: {'PASS' if full_ratio <= LIMIT else 'FAIL'} "
          f"(limit {LIMIT}x)")


if __name__ == "__main__":
    raise SystemExit(main())
