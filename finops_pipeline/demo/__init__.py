"""Synthetic `gh aw logs` landing data, realistic enough to demo and test the whole pipeline.

`generate_landing(landing_dir)` writes what `gh aw logs` leaves on disk (DESIGN section 4) for
the `days` UTC days ending at `end_day`:

* run folders `<owner>__<repo>/run-<id>/` with `run_summary.json`, `aw_info.json` and, for
  instrumented runs, the api-proxy's `sandbox/firewall/logs/api-proxy-logs/token-usage.jsonl`;
* `listings/logs-<day>.json` (current `gh aw logs --json` shape, an object with `runs[]`) and
  `listings/logs-legacy-<day>.json` (a bare array with Go field names) for a few more runs that
  have no run folder and therefore only run-level totals.

Every workflow has its own engine, model mix, request count and request size, so per-workflow
numbers differ visibly; a few deliberate imperfections exercise the quarantine. Both are data
in `catalog`. The package, one concern a module:

    catalog        the scenario: engines, workflows, people, outcome rates, flaws
    runs           runs drawn from the catalog (when, how they ended, by whom)
    requests       each run's api-proxy records, by provider convention and profile
    imperfections  the deliberate flaws, applied
    costs          run totals, TokenUsage and EstimatedCost (genai-prices unit prices)
    shapes         runs rendered as gh-aw's files
    formats        gh-aw's spelling of times, durations and JSON
    writer         the byte-stable replacement of a previous run's files

Output depends only on the arguments (and the installed genai-prices data, for the listings'
costs): one `random.Random(seed)` drives everything, JSON keys are written in a fixed order,
and a re-run first deletes the files listed in the manifest that the previous run left, so the
same arguments give the same bytes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path

from finops_pipeline.demo.catalog import WORKFLOWS
from finops_pipeline.demo.costs import totals, unit_prices
from finops_pipeline.demo.formats import go_duration
from finops_pipeline.demo.imperfections import add_imperfections
from finops_pipeline.demo.runs import Run, assign_ids, pick_listed, runs_of_day
from finops_pipeline.demo.shapes import current_listing, legacy_listing, run_folder
from finops_pipeline.demo.writer import replace_files
from finops_pipeline.schemas.runs import FAILED_CONCLUSIONS

__all__ = ["DemoSummary", "generate_landing", "go_duration", "main"]


@dataclass(frozen=True)
class DemoSummary:
    """What `generate_landing` wrote.

    runs = run_folders + json_listed_runs. `requests` counts the distinct valid records of all
    token-usage.jsonl files (what `llm_requests` should hold); `malformed_lines` the lines the
    quarantine should catch (duplicates are neither). `runs_without_token_data` counts runs
    without a token-usage.jsonl, the listed runs included; `failed_runs` counts the runs the
    pipeline's `is_failed` marks (the demo's conclusions: failure and cancelled).
    """

    days: int
    runs: int
    run_folders: int
    json_listed_runs: int
    requests: int
    malformed_lines: int
    runs_without_token_data: int
    failed_runs: int


def generate_landing(landing_dir: Path, days: int = 30, end_day: dt.date | None = None,
                     seed: int = 7) -> DemoSummary:
    """Write `gh aw logs` output for the `days` UTC days ending at `end_day` (default yesterday).

    Re-running with the same arguments yields byte-identical files; what a previous run wrote
    (per its manifest) is removed first.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    if end_day is None:
        end_day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    landing_dir = Path(landing_dir)
    first_day = end_day - dt.timedelta(days=days - 1)

    # Every random draw happens in this block, in this order.
    rng = random.Random(seed)
    runs: list[Run] = []
    for index in range(days):
        day = first_day + dt.timedelta(days=index)
        for wf in WORKFLOWS:
            runs.extend(runs_of_day(rng, wf, day, index, days))
    assign_ids(rng, runs)
    listed_current, listed_legacy = pick_listed(rng, runs, days)
    listed_ids = {r.run_id for r in listed_current + listed_legacy}
    folder_runs = [r for r in runs if r.run_id not in listed_ids]
    malformed = add_imperfections(rng, folder_runs, days)

    for run in runs:
        run.totals = totals(run)
    files: dict[Path, bytes] = {}
    for run in folder_runs:
        files.update(run_folder(run))
    prices = unit_prices(listed_current + listed_legacy)  # only listings report a cost
    if listed_current:
        last = max(r.created for r in listed_current).date()
        files[Path("listings") / f"logs-{last}.json"] = current_listing(listed_current, prices)
    if listed_legacy:
        last = max(r.created for r in listed_legacy).date()
        files[Path("listings") / f"logs-legacy-{last}.json"] = legacy_listing(listed_legacy,
                                                                               prices)
    replace_files(landing_dir, files)

    return DemoSummary(
        days=days,
        runs=len(runs),
        run_folders=len(folder_runs),
        json_listed_runs=len(listed_ids),
        requests=sum(r.totals.get("total_requests", 0) for r in folder_runs),
        malformed_lines=malformed,
        runs_without_token_data=sum(1 for r in folder_runs if r.entries is None)
        + len(listed_ids),
        failed_runs=sum(1 for r in runs if r.conclusion in FAILED_CONCLUSIONS),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m finops_pipeline.demo",
                                     description="Write synthetic `gh aw logs` landing data.")
    parser.add_argument("landing_dir", type=Path)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--end-day", type=dt.date.fromisoformat, default=None)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    print(generate_landing(args.landing_dir, args.days, args.end_day, args.seed))
