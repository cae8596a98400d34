"""A year's backfill and the latency of common questions on a year of data (issue 13).

Not a test (timing assertions do not belong in the suite). Issue 13's yardsticks: "a 365-day
backfill at 50k requests a day (target: under 5 minutes on this 2-core machine), and the
latency of common questions on a year of data (target: under 100 ms each)".

* **generate**: N days (default 365) x R runs (50) x M records (1,000) = 50k requests a day in
  the gh-aw logs layout, `<data dir>/landing/gh-aw-logs/bench__year/run-<id>/` (a
  `run_summary.json` and the api-proxy's `token-usage.jsonl`), each day's records made
  vectorized by `bench_publish.big_day_requests` (anthropic, copilot and openai; each
  provider's token convention; ~2% errors), run ids unique across days, every run created on
  its day; 40 (repo, workflow) pairs over 5 repos. A `finops.yaml` beside it maps the repos to
  teams (one repo is left to its owner) with a monthly budget, so showback has teams.
* **backfill**: ONE `finops materialize --start A --end B` in a fresh process
  (FINOPS_DATA_DIR, FINOPS_CONFIG and DAGSTER_HOME in the data dir): wall time, that process's
  peak RSS, and the time of each Dagster step from the run's own records. Its output goes to
  `<data dir>/backfill.log`.
* **queries**: the published warehouse opened read-only by `warehouse.access.query` (what
  `finops sql` calls: open, query, close), each question once to warm, then the median of 5,
  in ms; and the same on one connection kept open (`access.read_only`, a notebook's case):
  (a) top 10 workflows by cost over the days, (b) the top workflow's daily cost and tokens over
  the last 90 days, (c) cost by team in the month of the last day, (d) every request of one run
  (by run_id alone, with its day, with its day looked up in fact_workflow_runs, and through the
  warehouse's `run_requests(run_id)` macro).

    .venv/bin/python benchmarks/bench_year.py                       # 365 x 50k: 18M requests
    .venv/bin/python benchmarks/bench_year.py --days 30             # a month, to extrapolate
    .venv/bin/python benchmarks/bench_year.py --days 5 --runs 5 --records 200   # quick
    .venv/bin/python benchmarks/bench_year.py --data-dir /tmp/year  # keep the data ...
    .venv/bin/python benchmarks/bench_year.py --data-dir /tmp/year --queries-only  # ... reuse

`--skip-generate` re-runs the backfill on the landed files of `--data-dir` (the lake and
warehouse are removed first, so it starts from scratch); `--queries-only` only times the
questions. Both take the days, runs and records from `<data dir>/bench_year.json`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_day import step_seconds  # noqa: E402
from bench_publish import big_day_requests, token_line, write_run_folders  # noqa: E402

from finops_pipeline.instance import ensure_dagster_home  # noqa: E402
from finops_pipeline.lake import DataPaths  # noqa: E402
from finops_pipeline.sources.gh_aw_logs import landing_dir  # noqa: E402
from finops_pipeline.warehouse.access import query, read_only  # noqa: E402

DEFAULT_END = dt.date(2026, 11, 30)  # fixed, so runs are comparable; "this month" is whole
YEAR_RUN_ID_START = 40_000_000_000  # far from the demo's (19e9 + ...) and bench_publish's (30e9)
BACKFILL_TARGET_S = 300.0
QUERY_TARGET_MS = 100.0
REPEAT = 5
TEAMS = {"platform": ["bench/service-0", "bench/service-1"],
         "growth": ["bench/service-2", "bench/service-3"]}  # service-4: its owner, "bench"
MARKER = "bench_year.json"  # the parameters of the landed data


@dataclass(frozen=True)
class Plan:
    start: dt.date
    end: dt.date
    runs: int
    records: int

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def save(self, data_dir: Path) -> None:
        (data_dir / MARKER).write_text(json.dumps(
            {**asdict(self), "start": self.start.isoformat(), "end": self.end.isoformat()}))

    @classmethod
    def load(cls, data_dir: Path) -> Plan:
        marker = data_dir / MARKER
        if not marker.is_file():
            raise SystemExit(f"{marker} is missing: generate the data first (without "
                             "--skip-generate / --queries-only)")
        d = json.loads(marker.read_text())
        return cls(dt.date.fromisoformat(d["start"]), dt.date.fromisoformat(d["end"]),
                   d["runs"], d["records"])


# --- generation ---------------------------------------------------------------------------

def day_requests(index: int, day: dt.date, runs: int, records: int) -> pl.DataFrame:
    """bench_publish's big day, with run ids (and request ids) unique across the days."""
    c = pl.col
    df = big_day_requests(runs, records, day, seed=7 + index).with_columns(
        run_id=YEAR_RUN_ID_START + index * runs + c("run"))
    df = df.with_columns(request_id=pl.format("year-{}-{}", c("run_id"), c("k")))
    return df.with_columns(line=token_line())  # re-encoded with the new request ids


def write_day(landing: Path, index: int, day: dt.date, runs: int, records: int) -> int:
    """One day's run folders (as bench_publish.write_big_day, ids unique); bytes written."""
    _, written = write_run_folders(landing / "bench__year",
                                   day_requests(index, day, runs, records),
                                   first_number=index * runs + 1, indent=None)
    return written


def write_config(data_dir: Path) -> Path:
    """finops.yaml with the teams (and a monthly budget per team) for showback."""
    lines = ["# Written by benchmarks/bench_year.py", "teams:"]
    lines += [f"  {team}: [{', '.join(repos)}]" for team, repos in TEAMS.items()]
    lines += ["budgets:"]
    lines += [f"  - {{scope: team, key: {team}, period: month, usd: 100000}}" for team in TEAMS]
    path = data_dir / "finops.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def generate(data_dir: Path, plan: Plan, say: Callable[[str], None] = print) -> tuple[int, int]:
    """Land every day of `plan` and write finops.yaml; (requests, bytes written)."""
    landing = landing_dir(DataPaths(data_dir))
    written = 0
    for index in range(plan.days):
        written += write_day(landing, index, plan.start + dt.timedelta(days=index), plan.runs,
                             plan.records)
        if (index + 1) % 30 == 0:
            say(f"  generated {index + 1} of {plan.days} days")
    write_config(data_dir)
    plan.save(data_dir)
    return plan.days * plan.runs * plan.records, written


# --- the backfill -------------------------------------------------------------------------

@dataclass(frozen=True)
class Backfill:
    seconds: float
    peak_mb: float
    steps: dict[str, float]


def environment(data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "FINOPS_DATA_DIR": str(data_dir),
           "FINOPS_CONFIG": str(data_dir / "finops.yaml"),
           "DAGSTER_HOME": str(ensure_dagster_home(DataPaths(data_dir)))}
    env.pop("GITHUB_TOKEN", None)
    env.pop("FINOPS_GITHUB_REPOS", None)
    return env


def backfill(data_dir: Path, plan: Plan) -> Backfill:
    """ONE `finops materialize --start A --end B` in a fresh process."""
    log = data_dir / "backfill.log"
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    with open(log, "w", encoding="utf-8") as out:
        done = subprocess.run([str(Path(sys.executable).parent / "finops"), "materialize",
                               "--start", plan.start.isoformat(), "--end", plan.end.isoformat()],
                              env=environment(data_dir), stdout=out, stderr=subprocess.STDOUT,
                              text=True, cwd=data_dir)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-4000:]
        raise SystemExit(f"finops materialize failed (log: {log}):\n{tail}")
    if peak <= before:
        print("note: peak RSS of the child could not be told apart from an earlier one")
    return Backfill(seconds, peak / 1024, step_seconds(data_dir))


# --- the questions ------------------------------------------------------------------------

TOP_WORKFLOWS = """
    SELECT repo, workflow, round(sum(cost_usd), 2) AS cost_usd,
           sum(total_tokens) AS total_tokens, sum(runs) AS runs, sum(requests) AS requests
    FROM kpi_workflow_daily WHERE day BETWEEN ? AND ?
    GROUP BY ALL ORDER BY cost_usd DESC LIMIT 10"""
WORKFLOW_TREND = """
    SELECT day, sum(cost_usd) AS cost_usd, sum(total_tokens) AS total_tokens,
           sum(requests) AS requests, sum(runs) AS runs
    FROM kpi_workflow_daily
    WHERE repo = ? AND workflow = ? AND day BETWEEN ?::DATE - 89 AND ?
    GROUP BY day ORDER BY day"""
TEAM_MONTH = """
    SELECT team, round(sum(cost_usd), 2) AS cost_usd, sum(total_tokens) AS total_tokens,
           round(sum(budget_usd), 2) AS budget_usd, sum(tasks) AS tasks
    FROM showback_daily WHERE level = 'team' AND day BETWEEN ? AND ?
    GROUP BY team ORDER BY cost_usd DESC"""
RUN_REQUESTS = "SELECT * FROM fact_llm_requests WHERE run_id = ? ORDER BY timestamp"
RUN_REQUESTS_DAY = ("SELECT * FROM fact_llm_requests WHERE day = ? AND run_id = ? "
                    "ORDER BY timestamp")
# The fast forms without the day (README, docs/architecture.md): the run's day looked up in the
# small run table, which the fact view prunes its day files by, and the macro doing just that.
RUN_REQUESTS_LOOKUP = ("SELECT * FROM fact_llm_requests WHERE run_id = $1 AND day IN "
                       "(SELECT day FROM fact_workflow_runs WHERE run_id = $1) ORDER BY timestamp")
RUN_REQUESTS_MACRO = "SELECT * FROM run_requests(?)"


@dataclass(frozen=True)
class Timed:
    name: str
    ms: float  # median of REPEAT `query()` calls (open, query, close), as `finops sql` does
    open_ms: float  # median of REPEAT queries on one read-only connection kept open
    rows: int


def questions(warehouse: Path, plan: Plan) -> list[tuple[str, str, list]]:
    """The questions with their parameters (a real workflow and run from the warehouse)."""
    top = query(warehouse, TOP_WORKFLOWS, [plan.start, plan.end])
    if top.is_empty():
        raise SystemExit("the warehouse has no workflow costs")
    repo, workflow = top["repo"][0], top["workflow"][0]
    runs = query(warehouse, "SELECT day, run_id FROM fact_workflow_runs WHERE day = ? "
                 "ORDER BY run_id", [plan.end])
    if runs.is_empty():
        raise SystemExit(f"the warehouse has no runs on {plan.end}")
    run_day, run_id = runs.row(runs.height // 2)
    month = plan.end.replace(day=1)
    has_macro = not query(warehouse, "SELECT 1 FROM duckdb_functions() "
                          "WHERE function_name = 'run_requests'").is_empty()
    if not has_macro:
        print("note: this warehouse predates run_requests(): re-publish it to time (d*) "
              "(warehouse.publish.refresh_views)")
    return [
        ("(a) top 10 workflows by cost, all days", TOP_WORKFLOWS, [plan.start, plan.end]),
        (f"(b) {workflow} ({repo}), 90 days", WORKFLOW_TREND, [repo, workflow, plan.end,
                                                              plan.end]),
        (f"(c) cost by team, {month:%Y-%m}", TEAM_MONTH, [month, plan.end]),
        (f"(d) requests of run {run_id}", RUN_REQUESTS, [run_id]),
        ("(d') the same, with its day", RUN_REQUESTS_DAY, [run_day, run_id]),
        ("(d\") the same, its day looked up", RUN_REQUESTS_LOOKUP, [run_id]),
        *([("(d*) the same, run_requests(run_id)", RUN_REQUESTS_MACRO, [run_id])]
          if has_macro else []),
    ]


def time_questions(data_dir: Path, plan: Plan) -> list[Timed]:
    warehouse = DataPaths(data_dir).warehouse
    timed = []
    for name, sql, params in questions(warehouse, plan):
        rows = query(warehouse, sql, params).height  # warm
        closed = []
        for _ in range(REPEAT):
            t = time.perf_counter()
            query(warehouse, sql, params)
            closed.append(time.perf_counter() - t)
        kept = []
        with read_only(warehouse) as con:
            con.sql(sql, params=params).pl()  # warm this connection
            for _ in range(REPEAT):
                t = time.perf_counter()
                con.sql(sql, params=params).pl()
                kept.append(time.perf_counter() - t)
        timed.append(Timed(name, statistics.median(closed) * 1000,
                           statistics.median(kept) * 1000, rows))
    return timed


# --- main ---------------------------------------------------------------------------------

def dir_mb(path: Path) -> float:
    if not path.is_dir():
        return 0.0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def print_steps(steps: dict[str, float], days: int) -> None:
    width = max(len(k) for k in steps)
    print(f"{'Dagster step':<{width}} {'s':>8} {'s/day':>7}")
    for key, seconds in sorted(steps.items(), key=lambda kv: -kv[1]):
        if seconds >= 0.05:
            print(f"{key:<{width}} {seconds:8.1f} {seconds / days:7.2f}")


def print_questions(timed: list[Timed]) -> None:
    width = max(len(t.name) for t in timed)
    print(f"{'question':<{width}} {'ms':>8} {'open ms':>8} {'rows':>6}  "
          f"target {QUERY_TARGET_MS:.0f} ms")
    for t in timed:
        verdict = "PASS" if t.ms <= QUERY_TARGET_MS else "over"
        print(f"{t.name:<{width}} {t.ms:8.1f} {t.open_ms:8.1f} {t.rows:6,}  {verdict}")
    print("ms: median of 5 `warehouse.access.query` calls (open read-only, query, close: what "
          "`finops sql` does, without its process start); open ms: on one open connection")


def reset_outputs(data_dir: Path) -> None:
    """Everything but the landed files and finops.yaml: a backfill from scratch."""
    for name in ("raw", "lake", "quarantine", "warehouse", "reports", "state", "dagster_home",
                 ".staging"):
        shutil.rmtree(data_dir / name, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=50, help="runs a day")
    parser.add_argument("--records", type=int, default=1_000, help="requests per run")
    parser.add_argument("--end", type=dt.date.fromisoformat, default=DEFAULT_END,
                        help=f"last day (default {DEFAULT_END})")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="keep the data here (default: a temporary folder, removed)")
    parser.add_argument("--skip-generate", action="store_true",
                        help="reuse the landed data of --data-dir; backfill it from scratch")
    parser.add_argument("--queries-only", action="store_true",
                        help="only time the questions on the warehouse of --data-dir")
    args = parser.parse_args(argv)
    if (args.skip_generate or args.queries_only) and args.data_dir is None:
        parser.error("--skip-generate and --queries-only need --data-dir")
    data_dir = (args.data_dir or Path(tempfile.mkdtemp(prefix="bench-year-"))).resolve()
    try:
        return run(args, data_dir)
    finally:
        if args.data_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)


def run(args: argparse.Namespace, data_dir: Path) -> int:
    print(f"data dir {data_dir}")
    gen_s = None
    if args.skip_generate or args.queries_only:
        plan = Plan.load(data_dir)
    else:
        plan = Plan(args.end - dt.timedelta(days=args.days - 1), args.end, args.runs,
                    args.records)
        if data_dir.exists():
            shutil.rmtree(data_dir)
        data_dir.mkdir(parents=True)
        started = time.perf_counter()
        _, written = generate(data_dir, plan)
        gen_s = time.perf_counter() - started
        print(f"generated {written / 1e6:,.0f} MB of gh-aw logs in {gen_s:.1f} s")
    requests = plan.days * plan.runs * plan.records
    print(f"{plan.start}..{plan.end}: {plan.days} days x {plan.runs} runs x {plan.records:,} "
          f"records = {requests:,} requests ({plan.runs * plan.records:,} a day)")

    result = None
    if not args.queries_only:
        if args.skip_generate:
            reset_outputs(data_dir)
        print(f"backfill: finops materialize --start {plan.start} --end {plan.end} "
              f"(log: {data_dir / 'backfill.log'}) ...", flush=True)
        result = backfill(data_dir, plan)
        print_steps(result.steps, plan.days)

    paths = DataPaths(data_dir)
    print(f"\nwarehouse file {paths.warehouse.stat().st_size / 1e6:,.1f} MB; pinned lake "
          f"files {dir_mb(paths.warehouse_dir / 'lake'):,.1f} MB; lake "
          f"{dir_mb(data_dir / 'lake'):,.1f} MB; landing {dir_mb(paths.landing):,.1f} MB")
    timed = time_questions(data_dir, plan)
    print_questions(timed)

    print("\n=== summary ===")
    print(f"days {plan.days}, requests {requests:,} ({plan.runs} runs x {plan.records:,} "
          "records a day)")
    if gen_s is not None:
        print(f"generation        {gen_s:8.1f} s")
    if result is not None:
        top = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(
            result.steps.items(), key=lambda kv: -kv[1]) if v >= 0.5 and not k.startswith("("))
        print(f"backfill wall     {result.seconds:8.1f} s ({result.seconds / plan.days:.2f} s/day; "
              f"Dagster run {result.steps.get('(Dagster run)', 0):.1f} s; {top})")
        print(f"peak RSS          {result.peak_mb:8,.0f} MB")
        if plan.days == 365 and plan.runs * plan.records == 50_000:
            verdict = "PASS" if result.seconds <= BACKFILL_TARGET_S else "FAIL"
            print(f"backfill target   {verdict}: {result.seconds:.0f} s "
                  f"(target {BACKFILL_TARGET_S:.0f} s for 365 days at 50k a day)")
        else:  # extrapolated linearly in days: most of a day's cost is per day, not per row
            year_s = result.seconds / plan.days * 365
            verdict = "PASS" if year_s <= BACKFILL_TARGET_S else "FAIL"
            print(f"backfill target   {verdict} by extrapolation: 365 days at this rate "
                  f"~{year_s:.0f} s (target {BACKFILL_TARGET_S:.0f} s at 50k a day; not measured)")
    over = [t.name for t in timed if t.ms > QUERY_TARGET_MS]
    print(f"questions         {'PASS' if not over else 'over: ' + '; '.join(over)} "
          f"(slowest {max(t.ms for t in timed):.1f} ms, target {QUERY_TARGET_MS:.0f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
