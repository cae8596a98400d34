"""Workflow runs drawn from the catalog: when they ran, how they ended, who and what they were.

All draws come from the one `random.Random` of `generate_landing`, and their order is part of
the output: swapping two draws, or skipping one, changes every byte the demo writes after it.
So a run's draws are made one per statement, in a fixed order, even where computing a field
elsewhere would read better.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from finops_pipeline.demo.catalog import (
    CONCLUSION_THRESHOLDS,
    DEVELOPERS,
    RETRY_SHARE,
    RUN_ID_START,
    WARNING_COUNTS,
    WORKFLOWS,
    Workflow,
)
from finops_pipeline.demo.formats import epoch_ms, from_epoch_ms
from finops_pipeline.demo.requests import draw_records


@dataclass
class Entry:
    """One token-usage.jsonl line: a record and, when deliberately broken, its broken text."""

    record: dict[str, Any]
    text: str | None = None  # overrides json of `record` (invalid JSON)
    malformed: bool = False
    duplicate: bool = False


@dataclass
class Run:
    """A run as the generator knows it; `shapes` renders it in gh-aw's file formats."""

    workflow: Workflow
    day_index: int
    created: dt.datetime
    started: dt.datetime
    updated: dt.datetime
    conclusion: str
    attempt: int
    model: str
    event: str
    branch: str
    sha: str
    title: str
    actor: str
    new_format: bool
    entries: list[Entry] | None  # None: no token data
    turns: int
    errors: int
    warnings: int
    estimated_tokens: int  # TokenUsage of runs without token data
    run_id: int = 0  # assigned once all runs exist (ids grow with creation time)
    number: int = 0
    bom_crlf: bool = False
    truncated: bool = False
    totals: dict[str, int] = field(default_factory=dict)  # token_usage_summary


def runs_of_day(rng: random.Random, wf: Workflow, day: dt.date, index: int,
                days: int) -> list[Run]:
    """The runs of `wf` created on `day`, the `index`-th of `days`."""
    t = index / (days - 1) if days > 1 else 1.0  # position in the period, 0..1
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    if wf.cron_hours:
        # GitHub starts scheduled runs a few minutes late.
        offsets = [h * 3600 + 17 * 60 + rng.randint(0, 900) for h in wf.cron_hours]
    else:
        count = rng.randint(*_lerp_range(wf.runs_start, wf.runs_end, t))
        offsets = sorted(_time_of_day(rng) for _ in range(count))
    instrumented = wf.instrumented_from is not None and t >= wf.instrumented_from
    new_format = index >= days // 2  # gh-aw was upgraded half-way through the period
    out = []
    for offset in offsets:
        created = midnight + dt.timedelta(seconds=offset)
        out.append(_make_run(rng, wf, created, index, t, instrumented, new_format))
    return out


def _lerp_range(start: tuple[int, int], end: tuple[int, int], t: float) -> tuple[int, int]:
    lo = round(start[0] + (end[0] - start[0]) * t)
    hi = round(start[1] + (end[1] - start[1]) * t)
    return lo, max(lo, hi)


def _time_of_day(rng: random.Random) -> int:
    """Seconds after midnight; office hours are busier than nights."""
    seconds = rng.gauss(14.5 * 3600, 4 * 3600)
    return int(seconds) if 0 <= seconds < 86_400 else rng.randrange(86_400)


def _conclusion(draw: float) -> str:
    for conclusion, below in CONCLUSION_THRESHOLDS:
        if draw < below:
            return conclusion
    return "success"


def _make_run(rng: random.Random, wf: Workflow, created: dt.datetime, index: int, t: float,
              instrumented: bool, new_format: bool) -> Run:
    conclusion = _conclusion(rng.random())
    attempt = 2 if conclusion == "success" and rng.random() < RETRY_SHARE else 1
    models, weights = zip(*wf.models, strict=True)
    model = rng.choices(models, weights)[0]
    started = created + dt.timedelta(seconds=rng.randint(2, 40))
    entries: list[Entry] | None = None
    estimated = 0
    errors = 1 if conclusion == "failure" else 0
    if conclusion == "cancelled":  # cancelled before the agent made a request
        updated = started + dt.timedelta(seconds=rng.randint(60, 1500))
        turns = 0
    elif instrumented:
        n = rng.randint(*_lerp_range(wf.requests_start, wf.requests_end, t))
        if conclusion == "failure":  # failed part-way
            n = max(5, int(n * rng.uniform(0.3, 0.9)))
        first_ms = epoch_ms(started) + rng.randint(20_000, 90_000)  # the agent's setup
        records, end_ms = draw_records(rng, wf, model, n, first_ms, new_format,
                                       conclusion == "failure")
        entries = [Entry(r) for r in records]
        updated = from_epoch_ms(end_ms + rng.randint(10_000, 90_000))  # the run's teardown
        updated = updated.replace(microsecond=0) + dt.timedelta(seconds=1)
        turns = max(1, round(n * rng.uniform(0.5, 0.9)))
        errors += sum(1 for r in records if r["status"] >= 400)
    else:  # no api-proxy: gh-aw only estimates the run's tokens
        updated = started + dt.timedelta(seconds=rng.randint(180, 900))
        estimated = rng.randint(40_000, 400_000)
        turns = rng.randint(5, 25)
    if wf.branches:
        branch = rng.choice(wf.branches)
    elif wf.fix_branch_prefix is not None:
        branch = f"{wf.fix_branch_prefix}{rng.randint(100, 999)}"
    else:
        branch = "main"
    actor = wf.actor if wf.actor is not None else rng.choice(DEVELOPERS)
    title = rng.choice(wf.titles) if wf.titles else wf.name
    sha = f"{rng.getrandbits(160):040x}"
    warnings = rng.choice(WARNING_COUNTS)
    return Run(
        workflow=wf, day_index=index, created=created, started=started, updated=updated,
        conclusion=conclusion, attempt=attempt, model=model, event=wf.event, branch=branch,
        sha=sha, title=title, actor=actor, new_format=new_format, entries=entries,
        turns=turns, errors=errors, warnings=warnings, estimated_tokens=estimated,
    )


def assign_ids(rng: random.Random, runs: list[Run]) -> None:
    """Sort `runs` by creation and give them growing run ids and per-workflow run numbers."""
    runs.sort(key=lambda r: (r.created, r.workflow.name))
    numbers = {wf.name: rng.randint(50, 900) for wf in WORKFLOWS}  # runs before the period
    run_id = RUN_ID_START + rng.randint(0, 999)
    for run in runs:
        run_id += rng.randint(1_000, 60_000)  # other repositories' runs in between
        numbers[run.workflow.name] += 1
        run.run_id = run_id
        run.number = numbers[run.workflow.name]


def pick_listed(rng: random.Random, runs: list[Run], days: int) -> tuple[list[Run], list[Run]]:
    """A few runs that only a `gh aw logs --json` listing reports: recent ones in the current
    shape, older ones in the legacy shape. Each list is newest first, as gh-aw lists them."""
    n_current = max(2, days // 6)
    n_legacy = max(2, days // 10)
    recent = [r for r in runs if r.day_index >= (days * 2) // 3]
    older = [r for r in runs if r.day_index <= days // 2]
    current = rng.sample(recent, min(n_current, len(recent)))
    taken = {r.run_id for r in current}
    older = [r for r in older if r.run_id not in taken]
    legacy = rng.sample(older, min(n_legacy, len(older)))
    return (sorted(current, key=lambda r: r.run_id, reverse=True),
            sorted(legacy, key=lambda r: r.run_id, reverse=True))
