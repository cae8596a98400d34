"""Synthetic `gh aw logs` landing data, realistic enough to demo and test the whole pipeline.

`generate_landing(landing_dir)` writes what `gh aw logs` leaves on disk (DESIGN section 4) for
the `days` UTC days ending at `end_day`:

* run folders `<owner>__<repo>/run-<id>/` with `run_summary.json`, `aw_info.json` and, for
  instrumented runs, the api-proxy's `sandbox/firewall/logs/api-proxy-logs/token-usage.jsonl`;
* `listings/logs-<day>.json` (current `gh aw logs --json` shape, an object with `runs[]`) and
  `listings/logs-legacy-<day>.json` (a bare array with Go field names) for a few more runs that
  have no run folder and therefore only run-level totals.

Token numbers follow each provider's convention (DESIGN section 5): Anthropic's `input_tokens`
exclude cache reads and writes; OpenAI's and Copilot's include cache reads. Every workflow has
its own engine, model mix, request count and request size, so per-workflow numbers differ
visibly (a workflow without any cache hits, one with an input/output ratio above 100:1, one with
many tiny requests, one whose volume grows over the period, ...).

A few deliberate imperfections exercise the quarantine: invalid JSON lines, a truncated last
line, a negative token count, a non-numeric status, a missing `request_id`, an inclusive record
with more cache reads than input, exact duplicate lines and one file with a BOM and CRLF.

Output depends only on the arguments: one `random.Random(seed)` drives everything, JSON keys are
written in a fixed order, and a re-run first deletes the files listed in the manifest
(`.demo-manifest.txt`) that the previous run left, so the same arguments give the same bytes.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUN_ID_START = 19_000_000_000
MANIFEST = ".demo-manifest.txt"  # not *.json: the source would take it for a --json listing
TOKEN_USAGE_PATH = Path("sandbox/firewall/logs/api-proxy-logs/token-usage.jsonl")
NEW_SCHEMA = "token-usage/v0.26.0"
CLI_VERSION_OLD = "v0.24.6"
CLI_VERSION_NEW = "v0.31.2"
LOGS_LOCATION = ".github/aw/logs"
FAILED_CONCLUSIONS = ("failure", "timed_out", "cancelled", "startup_failure")
INCLUSIVE_PROVIDERS = ("openai", "copilot")

# engine id -> (engine name, api-proxy provider)
ENGINES = {
    "claude": ("Claude Code", "anthropic"),
    "copilot": ("GitHub Copilot CLI", "copilot"),
    "codex": ("Codex", "openai"),
}
# USD per million tokens: uncached input, output, cache read, cache write (for EstimatedCost).
PRICES = {
    "claude-sonnet-4-6": (3.0, 15.0, 0.30, 3.75),
    "claude-sonnet-4.6": (3.0, 15.0, 0.30, 3.75),
    "claude-haiku-4-5": (1.0, 5.0, 0.10, 1.25),
    "claude-opus-4-1": (15.0, 75.0, 1.50, 18.75),
    "gpt-5": (1.25, 10.0, 0.125, 0.0),
    "gpt-5-mini": (0.25, 2.0, 0.025, 0.0),
    "gpt-4.1": (2.0, 8.0, 0.50, 0.0),
    "gpt-4.1-mini": (0.40, 1.60, 0.10, 0.0),
}
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_DEVELOPERS = ("octocat", "mona", "hubot", "lena-dev", "rpatel", "jkim")


@dataclass(frozen=True)
class DemoSummary:
    """What `generate_landing` wrote.

    runs = run_folders + json_listed_runs. `requests` counts the distinct valid records of all
    token-usage.jsonl files (what `llm_requests` should hold); `malformed_lines` the lines the
    quarantine should catch (duplicates are neither). `runs_without_token_data` counts runs
    without a token-usage.jsonl, the listed runs included; `failed_runs` counts conclusions
    failure and cancelled (the pipeline's `is_failed`).
    """

    days: int
    runs: int
    run_folders: int
    json_listed_runs: int
    requests: int
    malformed_lines: int
    runs_without_token_data: int
    failed_runs: int


@dataclass(frozen=True)
class Workflow:
    name: str
    repo: str
    engine: str
    models: tuple[tuple[str, float], ...]  # main model of a run, by weight
    profile: str  # agentic | small | huge_input | no_cache
    event: str
    runs_start: tuple[int, int]  # runs a day at the start of the period (min, max)
    runs_end: tuple[int, int]  # ... and at its end (equal to runs_start unless growing)
    requests_start: tuple[int, int]  # requests a run at the start of the period
    requests_end: tuple[int, int]
    instrumented_from: float | None = 0.0  # fraction of the period; None: never instrumented
    cron_hours: tuple[int, ...] = ()  # scheduled workflows: one run per hour listed
    side_model: str | None = None  # Claude Code's small helper requests
    titles: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        return f".github/workflows/{self.name.lower().replace(' ', '-')}.lock.yml"


WORKFLOWS = (
    Workflow("Smoke Claude", "acme/api", "claude", (("claude-sonnet-4-6", 1.0),), "agentic",
             "schedule", (4, 4), (4, 4), (12, 45), (12, 45), cron_hours=(1, 7, 13, 19),
             side_model="claude-haiku-4-5"),
    Workflow("Issue Triage", "acme/api", "claude", (("claude-haiku-4-5", 1.0),), "small",
             "issues", (4, 7), (4, 7), (25, 60), (25, 60),
             titles=("Login fails with SSO", "Flaky test in payments", "Add dark mode",
                     "500 on /v2/orders", "Docs: typo in README")),
    Workflow("PR Reviewer", "acme/api", "copilot",
             (("claude-sonnet-4.6", 0.7), ("gpt-5", 0.3)), "agentic", "pull_request",
             (3, 5), (3, 5), (12, 40), (12, 40),
             titles=("Refactor auth middleware", "Bump polars", "Add rate limiting",
                     "Fix N+1 query in orders")),
    Workflow("CI Doctor", "acme/web", "copilot", (("gpt-5", 0.6), ("gpt-4.1", 0.4)),
             "huge_input", "workflow_run", (2, 4), (2, 4), (10, 35), (10, 35)),
    Workflow("Copilot SWE Agent", "acme/web", "copilot",
             (("gpt-5", 0.5), ("claude-sonnet-4.6", 0.5)), "agentic", "workflow_dispatch",
             (1, 2), (6, 8), (10, 25), (35, 60),
             titles=("Fix checkout button alignment", "Add e2e test for signup",
                     "Migrate to React 19", "Improve lighthouse score")),
    Workflow("Daily Plan", "acme/data", "codex", (("gpt-4.1-mini", 1.0),), "no_cache",
             "schedule", (1, 1), (1, 1), (5, 20), (5, 20), cron_hours=(6,)),
    Workflow("Secret Digger", "acme/infra", "codex", (("gpt-5", 0.7), ("gpt-5-mini", 0.3)),
             "agentic", "schedule", (2, 2), (2, 2), (15, 45), (15, 45),
             instrumented_from=1 / 3, cron_hours=(3, 15)),
    Workflow("Docs Updater", "acme/data", "claude", (("claude-sonnet-4-6", 1.0),), "agentic",
             "push", (2, 3), (2, 3), (10, 30), (10, 30), instrumented_from=None,
             titles=("Update API reference", "docs: new ingestion guide",
                     "Merge pull request #88")),
    Workflow("Deep Research", "acme/infra", "claude", (("claude-opus-4-1", 1.0),), "agentic",
             "workflow_dispatch", (0, 1), (0, 1), (25, 60), (25, 60),
             side_model="claude-haiku-4-5",
             titles=("Cost of our CI fleet", "Evaluate vector databases")),
)


@dataclass
class _Entry:
    """One token-usage.jsonl line: a record and, when deliberately broken, its broken text."""

    record: dict[str, Any]
    text: str | None = None  # overrides json of `record` (invalid JSON)
    malformed: bool = False
    duplicate: bool = False


@dataclass
class _Run:
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
    entries: list[_Entry] | None  # None: no token data
    turns: int
    errors: int
    warnings: int
    estimated_tokens: int  # TokenUsage of runs without token data
    run_id: int = 0
    number: int = 0
    bom_crlf: bool = False
    truncated: bool = False
    totals: dict[str, int] = field(default_factory=dict)


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
    rng = random.Random(seed)
    first_day = end_day - dt.timedelta(days=days - 1)

    runs: list[_Run] = []
    for index in range(days):
        day = first_day + dt.timedelta(days=index)
        for wf in WORKFLOWS:
            runs.extend(_runs_of_day(rng, wf, day, index, days))
    _assign_ids(rng, runs)

    listed_current, listed_legacy = _pick_listed(rng, runs, days)
    listed_ids = {r.run_id for r in listed_current + listed_legacy}
    folder_runs = [r for r in runs if r.run_id not in listed_ids]
    malformed = _add_imperfections(rng, folder_runs, days)
    for run in runs:
        run.totals = _totals(run)

    files: dict[Path, bytes] = {}
    for run in folder_runs:
        _write_run_folder(files, run)
    if listed_current:
        last = max(r.created for r in listed_current).date()
        files[Path("listings") / f"logs-{last}.json"] = _current_listing(listed_current)
    if listed_legacy:
        last = max(r.created for r in listed_legacy).date()
        files[Path("listings") / f"logs-legacy-{last}.json"] = _legacy_listing(listed_legacy)
    _replace_files(landing_dir, files)

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


# --- runs -----------------------------------------------------------------------------------

def _lerp_range(start: tuple[int, int], end: tuple[int, int], t: float) -> tuple[int, int]:
    lo = round(start[0] + (end[0] - start[0]) * t)
    hi = round(start[1] + (end[1] - start[1]) * t)
    return lo, max(lo, hi)


def _runs_of_day(rng: random.Random, wf: Workflow, day: dt.date, index: int,
                 days: int) -> list[_Run]:
    t = index / (days - 1) if days > 1 else 1.0
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    if wf.cron_hours:
        # GitHub starts scheduled runs a few minutes late.
        offsets = [h * 3600 + 17 * 60 + rng.randint(0, 900) for h in wf.cron_hours]
    else:
        count = rng.randint(*_lerp_range(wf.runs_start, wf.runs_end, t))
        offsets = sorted(_time_of_day(rng) for _ in range(count))
    instrumented = wf.instrumented_from is not None and t >= wf.instrumented_from
    new_format = index >= days // 2
    out = []
    for offset in offsets:
        created = midnight + dt.timedelta(seconds=offset)
        out.append(_make_run(rng, wf, created, index, t, instrumented, new_format))
    return out


def _time_of_day(rng: random.Random) -> int:
    """Seconds after midnight; office hours are busier than nights."""
    seconds = rng.gauss(14.5 * 3600, 4 * 3600)
    return int(seconds) if 0 <= seconds < 86_400 else rng.randrange(86_400)


def _make_run(rng: random.Random, wf: Workflow, created: dt.datetime, index: int, t: float,
              instrumented: bool, new_format: bool) -> _Run:
    draw = rng.random()
    conclusion = "cancelled" if draw < 0.02 else "failure" if draw < 0.12 else "success"
    attempt = 2 if conclusion == "success" and rng.random() < 0.04 else 1
    models, weights = zip(*wf.models, strict=True)
    model = rng.choices(models, weights)[0]
    started = created + dt.timedelta(seconds=rng.randint(2, 40))
    entries: list[_Entry] | None = None
    estimated = 0
    errors = 1 if conclusion == "failure" else 0
    if conclusion == "cancelled":
        updated = started + dt.timedelta(seconds=rng.randint(60, 1500))
        turns = 0
    elif instrumented:
        n = rng.randint(*_lerp_range(wf.requests_start, wf.requests_end, t))
        if conclusion == "failure":
            n = max(5, int(n * rng.uniform(0.3, 0.9)))
        first_ms = _epoch_ms(started) + rng.randint(20_000, 90_000)
        records, end_ms = _records(rng, wf, model, n, first_ms, new_format,
                                   conclusion == "failure")
        entries = [_Entry(r) for r in records]
        updated = _from_epoch_ms(end_ms + rng.randint(10_000, 90_000))
        updated = updated.replace(microsecond=0) + dt.timedelta(seconds=1)
        turns = max(1, round(n * rng.uniform(0.5, 0.9)))
        errors += sum(1 for r in records if r["status"] >= 400)
    else:
        updated = started + dt.timedelta(seconds=rng.randint(180, 900))
        estimated = rng.randint(40_000, 400_000)
        turns = rng.randint(5, 25)
    event = wf.event
    if event == "pull_request":
        branch = rng.choice(("feature/rate-limit", "fix/orders-n-plus-1", "deps/polars"))
    elif wf.name == "Copilot SWE Agent":
        branch = f"copilot/fix-{rng.randint(100, 999)}"
    else:
        branch = "main"
    if wf.name == "Copilot SWE Agent":
        actor = "Copilot"
    elif event == "schedule":
        actor = "octocat"
    else:
        actor = rng.choice(_DEVELOPERS)
    title = rng.choice(wf.titles) if wf.titles else wf.name
    return _Run(
        workflow=wf, day_index=index, created=created, started=started, updated=updated,
        conclusion=conclusion, attempt=attempt, model=model, event=event, branch=branch,
        sha=f"{rng.getrandbits(160):040x}", title=title, actor=actor, new_format=new_format,
        entries=entries, turns=turns, errors=errors, warnings=rng.choice((0, 0, 0, 1, 2, 3)),
        estimated_tokens=estimated,
    )


def _assign_ids(rng: random.Random, runs: list[_Run]) -> None:
    runs.sort(key=lambda r: (r.created, r.workflow.name))
    numbers = {wf.name: rng.randint(50, 900) for wf in WORKFLOWS}
    run_id = RUN_ID_START + rng.randint(0, 999)
    for run in runs:
        run_id += rng.randint(1_000, 60_000)
        numbers[run.workflow.name] += 1
        run.run_id = run_id
        run.number = numbers[run.workflow.name]


def _pick_listed(rng: random.Random, runs: list[_Run],
                 days: int) -> tuple[list[_Run], list[_Run]]:
    """A few runs that only a `gh aw logs --json` listing reports: recent ones in the current
    shape, older ones in the legacy shape."""
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


# --- token-usage records --------------------------------------------------------------------

def _log_uniform(rng: random.Random, lo: int, hi: int) -> int:
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _request_id(rng: random.Random, provider: str) -> str:
    if provider == "anthropic":
        return "req_011C" + "".join(rng.choices(_BASE58, k=20))
    if provider == "openai":
        return f"req_{rng.getrandbits(128):032x}"
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _api_path(provider: str, model: str) -> str:
    if provider == "anthropic":
        return "/v1/messages?beta=true"
    if provider == "openai":
        return "/v1/responses" if model.startswith("gpt-5") else "/v1/chat/completions"
    return "/responses" if model.startswith("gpt-5") else "/chat/completions"


def _records(rng: random.Random, wf: Workflow, model: str, n: int, start_ms: int,
             new_format: bool, failed: bool) -> tuple[list[dict[str, Any]], int]:
    """The api-proxy records of one run and the end of its last request (epoch ms)."""
    provider = ENGINES[wf.engine][1]
    inclusive = provider in INCLUSIVE_PROVIDERS
    streaming = wf.profile != "no_cache"
    records = []
    now = start_ms
    if wf.profile == "huge_input":
        context = rng.randint(40_000, 90_000)  # CI logs pasted into the prompt
    elif wf.profile == "no_cache":
        context = rng.randint(2_000, 6_000)
    else:
        context = rng.randint(8_000, 20_000)
    prev_context = 0
    small_cache = rng.randint(10_000, 25_000)  # the small profile's stable cached prefix
    for k in range(n):
        req_model = model
        side = wf.side_model is not None and k > 0 and rng.random() < 0.1
        if side:
            req_model = wf.side_model or model
        status = 200
        if rng.random() < 0.02 or (failed and k == n - 1 and rng.random() < 0.5):
            status = rng.choice((429, 429, 500))
        inp = out = cread = cwrite = 0
        if status != 200:
            if status == 500:
                inp, out = rng.randint(0, 50), rng.randint(0, 30)
        elif side:
            inp, out = rng.randint(200, 2_000), rng.randint(10, 150)
        elif wf.profile == "small":
            inp = rng.randint(1, 300) if rng.random() < 0.8 else rng.randint(300, 2_000)
            cread = small_cache
            cwrite = rng.randint(8_000, 15_000) if k == 0 else (
                rng.randint(50, 800) if rng.random() < 0.5 else 0)
            out = rng.randint(5, 49) if rng.random() < 0.85 else rng.randint(50, 600)
            small_cache += cwrite // 4
        elif wf.profile == "no_cache":
            inp = context
            out = rng.randint(100, 2_500)
            context = min(30_000, context + out + rng.randint(200, 3_000))
        elif wf.profile == "huge_input":
            inp = context
            cread = 0 if k == 0 else _round_down(context * rng.uniform(0.6, 0.95), 128)
            out = _log_uniform(rng, 20, 400)
            context = min(150_000, context + rng.randint(2_000, 15_000))
        elif inclusive:  # agentic, OpenAI-style counts
            inp = context
            if k == 0:
                cread = _round_down(context * 0.7, 1024) if rng.random() < 0.5 else 0
            else:
                cread = _round_down(prev_context * rng.uniform(0.85, 1.0), 128)
            out = _log_uniform(rng, 50, 4_000)
            prev_context = context
            context += out + rng.randint(300, 5_000)
            if context > 150_000:  # the agent compacts its conversation
                context = rng.randint(25_000, 40_000)
                prev_context = 0
        else:  # agentic, Anthropic: input excludes cache reads and writes
            if k == 0:
                cread = rng.randint(10_000, 15_000)
                cwrite = rng.randint(12_000, 30_000)
                inp = rng.randint(1, 10)
                context = cread + cwrite
            else:
                cread = context
                cwrite = rng.randint(200, 4_000)
                inp = rng.randint(1, 10) if rng.random() < 0.75 else rng.randint(100, 2_000)
            out = _log_uniform(rng, 50, 4_000)
            context += cwrite + inp + out
            if context > 150_000:
                context = rng.randint(30_000, 45_000)
        if status == 200:
            duration = int(rng.uniform(350, 900) + out * rng.uniform(9, 22)
                           + (inp + cread) / 1000 * rng.uniform(2, 8))
            size = int(out * rng.uniform(5.5, 7.5)) + 600 if streaming else int(out * 4.5) + 400
        else:
            duration = rng.randint(300, 3_000)
            size = rng.randint(150, 400)
        duration = min(60_000, max(300, duration))
        rec: dict[str, Any] = {}
        if new_format:
            rec["_schema"] = NEW_SCHEMA
            rec["event"] = "token_usage"
        rec.update({
            "timestamp": _format_ms(now),
            "request_id": _request_id(rng, provider),
            "provider": provider,
            "model": req_model,
            "path": _api_path(provider, req_model),
            "status": status,
            "streaming": streaming,
            "input_tokens": inp,
            "output_tokens": out,
            "cache_read_tokens": cread,
            "cache_write_tokens": cwrite,
        })
        if new_format and req_model.startswith("gpt-5") and out and rng.random() < 0.7:
            rec["reasoning_tokens"] = int(out * rng.uniform(0.3, 0.8))
        rec["duration_ms"] = duration
        rec["response_bytes"] = size
        if new_format and provider == "copilot":
            rec["x_initiator"] = "user" if k == 0 else "agent"
        records.append(rec)
        now += duration + rng.randint(200, 12_000)  # tool calls between requests
    return records, now


def _round_down(value: float, step: int) -> int:
    return int(value) // step * step


# --- imperfections --------------------------------------------------------------------------

def _add_imperfections(rng: random.Random, runs: list[_Run], days: int) -> int:
    """Break a few lines on purpose; returns the number of malformed lines."""
    candidates = [r for r in runs if r.entries is not None]
    rng.shuffle(candidates)
    per_kind = max(1, round(days / 15))
    kinds = ("invalid_json", "truncated_last_line", "negative_tokens", "status_text",
             "missing_request_id", "cache_read_above_input")
    malformed = 0
    for kind in kinds:
        for _ in range(per_kind):
            run = _take(candidates, kind)
            if run is None:
                break
            assert run.entries is not None
            if kind == "truncated_last_line":
                entry = run.entries[-1]
                text = _dumps_line(entry.record)
                entry.text = text[: int(len(text) * rng.uniform(0.3, 0.8))]
                entry.malformed = True
                run.truncated = True
                malformed += 1
                continue
            ok = [e for e in run.entries[:-1] if e.record["status"] == 200]
            entry = rng.choice(ok)
            rec = entry.record
            if kind == "invalid_json":  # a partial write, then the next record on a new line
                text = _dumps_line(rec)
                entry.text = text[: int(len(text) * rng.uniform(0.3, 0.8))]
            elif kind == "negative_tokens":  # a subtraction that underflowed
                rec["input_tokens"] = -rng.randint(1, 5_000)
            elif kind == "status_text":
                rec["status"] = rng.choice(("error", "timeout", "ECONNRESET"))
            elif kind == "missing_request_id":
                del rec["request_id"]
            else:
                rec["cache_read_tokens"] = rec["input_tokens"] + rng.randint(128, 8_192)
            entry.malformed = True
            malformed += 1
    for _ in range(max(2, days // 6)):  # the writer repeated a line
        run = _take(candidates, "duplicate")
        if run is None:
            break
        assert run.entries is not None
        i = rng.randrange(len(run.entries) - 1)
        run.entries.insert(i + 1, _Entry(run.entries[i].record, duplicate=True))
    run = _take(candidates, "bom_crlf")
    if run is not None:
        run.bom_crlf = True
    return malformed


def _take(candidates: list[_Run], kind: str) -> _Run | None:
    """Remove and return the first candidate run that suits `kind` (a file gets one flaw)."""
    for i, run in enumerate(candidates):
        assert run.entries is not None
        if len(run.entries) < 3:
            continue
        if kind == "cache_read_above_input" and (
                ENGINES[run.workflow.engine][1] not in INCLUSIVE_PROVIDERS
                or run.workflow.profile == "no_cache"):  # keep that workflow cache-free
            continue
        if kind not in ("truncated_last_line", "duplicate", "bom_crlf") and not any(
                e.record["status"] == 200 for e in run.entries[:-1]):
            continue
        return candidates.pop(i)
    return None


# --- serialization --------------------------------------------------------------------------

def _totals(run: _Run) -> dict[str, int]:
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


def _disjoint(run: _Run) -> tuple[int, int, int, int]:
    """(uncached input, output, cache read, cache write) of a run's totals."""
    t = run.totals
    inp, cread = t["total_input_tokens"], t["total_cache_read_tokens"]
    if ENGINES[run.workflow.engine][1] in INCLUSIVE_PROVIDERS:
        inp -= cread
    return inp, t["total_output_tokens"], cread, t["total_cache_write_tokens"]


def _token_usage(run: _Run) -> int:
    return sum(_disjoint(run)) if run.totals else run.estimated_tokens


def _estimated_cost(run: _Run) -> float:
    price = PRICES[run.model]
    if run.totals:
        buckets = _disjoint(run)
    else:  # a rough split of the estimate: mostly cache reads
        total = run.estimated_tokens
        buckets = (total // 20, total // 40, total * 37 // 40 - total // 20, total // 40)
    return round(sum(b * p for b, p in zip(buckets, price, strict=True)) / 1e6, 4)


def _run_summary(run: _Run) -> dict[str, Any]:
    wf = run.workflow
    tokens = _token_usage(run)
    summary: dict[str, Any] = {
        "cli_version": CLI_VERSION_NEW if run.new_format else CLI_VERSION_OLD,
        "run_id": run.run_id,
        "processed_at": _format_s(run.created + dt.timedelta(days=1)),
        "run": {
            "databaseId": run.run_id,
            "number": run.number,
            "url": _url(run),
            "status": "completed",
            "conclusion": run.conclusion,
            "workflowName": wf.name,
            "workflowPath": wf.path,
            "createdAt": _format_s(run.created),
            "startedAt": _format_s(run.started),
            "updatedAt": _format_s(run.updated),
            "event": run.event,
            "headBranch": run.branch,
            "headSha": run.sha,
            "displayTitle": run.title,
            "attempt": run.attempt,
            "repository": wf.repo,
            "actor": run.actor,
            "Duration": _duration_ns(run),
            "TokenUsage": tokens,
            "Turns": run.turns,
            "ErrorCount": run.errors,
            "WarningCount": run.warnings,
        },
        "metrics": {"token_usage": tokens, "turns": run.turns},
    }
    if run.totals:
        summary["token_usage_summary"] = run.totals
    summary["artifacts_list"] = (["agent-artifacts", "firewall-audit-logs"] if run.entries
                                 is not None else ["agent-artifacts"])
    return summary


def _aw_info(run: _Run) -> dict[str, Any]:
    wf = run.workflow
    return {
        "engine_id": wf.engine,
        "engine_name": ENGINES[wf.engine][0],
        "model": run.model,
        "workflow_name": wf.name,
        "run_id": run.run_id,
        "run_attempt": str(run.attempt),
        "repository": wf.repo,
        "actor": run.actor,
        "event_name": run.event,
        "created_at": _format_s(run.created),
    }


def _write_run_folder(files: dict[Path, bytes], run: _Run) -> None:
    folder = Path(run.workflow.repo.replace("/", "__")) / f"run-{run.run_id}"
    files[folder / "run_summary.json"] = _pretty(_run_summary(run))
    files[folder / "aw_info.json"] = _pretty(_aw_info(run))
    if run.entries is None:
        return
    lines = [e.text if e.text is not None else _dumps_line(e.record) for e in run.entries]
    eol = "\r\n" if run.bom_crlf else "\n"
    text = eol.join(lines) + ("" if run.truncated else eol)
    data = text.encode("utf-8")
    if run.bom_crlf:
        data = b"\xef\xbb\xbf" + data
    files[folder / TOKEN_USAGE_PATH] = data


def _current_listing(runs: list[_Run]) -> bytes:
    entries = []
    for run in runs:
        wf = run.workflow
        entry: dict[str, Any] = {
            "run_id": run.run_id,
            "number": run.number,
            "workflow_name": wf.name,
            "workflow_path": wf.path,
            "status": "completed",
            "conclusion": run.conclusion,
            "duration": go_duration(_duration_ns(run)),
            "token_usage": _token_usage(run),
            "turns": run.turns,
            "created_at": _format_s(run.created),
            "url": _url(run),
            "event": run.event,
            "branch": run.branch,
            "repository": wf.repo,
            "logs_path": f"{LOGS_LOCATION}/run-{run.run_id}",
        }
        if run.totals:
            entry["token_usage_summary"] = run.totals
        entries.append(entry)
    summary = {
        "total_runs": len(runs),
        "total_duration": go_duration(sum(_duration_ns(r) for r in runs)),
        "total_tokens": sum(_token_usage(r) for r in runs),
        "total_cost": round(sum(_estimated_cost(r) for r in runs), 4),
        "total_turns": sum(r.turns for r in runs),
        "total_errors": sum(r.errors for r in runs),
        "total_warnings": sum(r.warnings for r in runs),
    }
    return _pretty({"summary": summary, "runs": entries, "logs_location": LOGS_LOCATION})


def _legacy_listing(runs: list[_Run]) -> bytes:
    return _pretty([
        {
            "DatabaseID": run.run_id,
            "Number": run.number,
            "WorkflowName": run.workflow.name,
            "TokenUsage": _token_usage(run),
            "EstimatedCost": _estimated_cost(run),
            "Turns": run.turns,
            "Duration": _duration_ns(run),
            "CreatedAt": _format_s(run.created),
            "url": _url(run),
            "Status": "completed",
            "Conclusion": run.conclusion,
        }
        for run in runs
    ])


def _replace_files(landing_dir: Path, files: dict[Path, bytes]) -> None:
    """Write `files`, and delete what the previous run listed in its manifest but this one
    does not write. The manifest is written first, so even an interrupted run is cleaned up."""
    landing_dir.mkdir(parents=True, exist_ok=True)
    manifest = landing_dir / MANIFEST
    root = landing_dir.resolve()
    new = {rel.as_posix() for rel in files}
    if manifest.is_file():
        old = [line for line in manifest.read_text(encoding="utf-8").splitlines() if line]
        dirs: set[Path] = set()
        for rel in old:
            if rel in new:
                continue  # overwritten below
            path = (landing_dir / rel).resolve()
            if not path.is_relative_to(root) or path == root:
                continue  # never delete outside the landing dir
            path.unlink(missing_ok=True)
            dirs.update(p for p in path.parents if p.is_relative_to(root) and p != root)
        for directory in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                directory.rmdir()  # only when empty
    manifest.write_text("".join(f"{rel}\n" for rel in sorted(new)), encoding="utf-8")
    made: set[Path] = set()
    for rel, data in sorted(files.items()):
        path = landing_dir / rel
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        path.write_bytes(data)


# --- formatting -----------------------------------------------------------------------------

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _epoch_ms(value: dt.datetime) -> int:
    return (value - _EPOCH) // dt.timedelta(milliseconds=1)


def _from_epoch_ms(ms: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(milliseconds=ms)


def _format_ms(ms: int) -> str:
    return f"{_from_epoch_ms(ms):%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def _format_s(value: dt.datetime) -> str:
    return f"{value:%Y-%m-%dT%H:%M:%S}Z"


def _duration_ns(run: _Run) -> int:
    return int((run.updated - run.started).total_seconds()) * 1_000_000_000


def _url(run: _Run) -> str:
    return f"https://github.com/{run.workflow.repo}/actions/runs/{run.run_id}"


def _dumps_line(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def _pretty(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def go_duration(ns: int) -> str:
    """Go's `time.Duration.String()` for a non-negative duration: `4m12.5s`, `350ms`, `1h0m5s`."""
    if ns == 0:
        return "0s"
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return _trim(ns, size) + unit
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = f"{hours}h" if hours else ""
    if hours or minutes:
        text += f"{minutes}m"
    return text + _trim(rest, 1_000_000_000) + "s"


def _trim(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    digits = len(str(unit)) - 1
    frac_text = f"{frac:0{digits}d}".rstrip("0") if digits else ""
    return f"{whole}.{frac_text}" if frac_text else str(whole)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write synthetic `gh aw logs` landing data.")
    parser.add_argument("landing_dir", type=Path)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--end-day", type=dt.date.fromisoformat, default=None)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    print(generate_landing(args.landing_dir, args.days, args.end_day, args.seed))


if __name__ == "__main__":
    main()
