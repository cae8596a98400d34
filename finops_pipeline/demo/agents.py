"""A multi-agent app for the demo: agent-call events (seed 002) and pipeline results (seed 004).

`generate_agent_calls(landing_dir, days, end_day, seed)` writes, for each UTC day,
`events/<day>-a.jsonl` and `events/<day>-b.jsonl` (a day's events split over two files and
shuffled: calls before their workflow's start, workflows that end after midnight) and
`results/<day>.json` (one pipeline run of PM, Dev and QA agents). The scenario: two app
workflows of a support desk, chains of 3-4 agents on OpenAI and Anthropic models, six users
with a session a day each; a few workflows fail and one in a hundred never ends.
Deterministic for its arguments (one `random.Random(seed)`), re-runs replace what they wrote.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass
from pathlib import Path

from finops_pipeline.demo.writer import replace_files

# (agent, provider, model, typical prompt tokens, typical output tokens), parent index or None
APP_WORKFLOWS = {
    "Answer Ticket": [
        (("Router", "openai", "gpt-4o-mini", 1_200, 80), None),
        (("Retriever", "openai", "gpt-4o-mini", 6_000, 400), 0),
        (("Analyzer", "anthropic", "claude-sonnet-4-5", 14_000, 900), 0),
        (("Writer", "anthropic", "claude-sonnet-4-5", 9_000, 1_400), 2),
    ],
    "Generate Report": [
        (("Orchestrator", "openai", "gpt-4o", 3_000, 600), None),
        (("DataFetcher", "openai", "gpt-4o-mini", 2_000, 300), 0),
        (("Analyzer", "openai", "gpt-4o", 12_000, 1_500), 0),
        (("Summarizer", "openai", "gpt-4o-mini", 4_000, 700), 2),
    ],
}
USERS = [f"user_{n}" for n in range(101, 107)]
PIPELINE_AGENTS = (("PM", 1_300, 2_400), ("Dev", 2_300, 4_600), ("QA", 1_900, 1_200))


@dataclass(frozen=True)
class AgentsSummary:
    days: int
    workflows: int
    calls: int
    pipeline_runs: int


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _day_events(rng: random.Random, day: dt.date,
                serial: int) -> tuple[list[dict], int, int]:
    events: list[dict] = []
    calls = 0
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    for user_index, user in enumerate(USERS):
        session = f"sess-{day:%Y%m%d}-{user_index}"
        for _ in range(rng.randint(2, 5)):
            name = rng.choice(sorted(APP_WORKFLOWS))
            serial += 1
            wid = f"wf-{serial:06d}"
            # the last workflows of the day may run past midnight
            start = midnight + dt.timedelta(seconds=rng.randint(6 * 3600, 86_399))
            events.append({"type": "workflow_start", "workflow_id": wid, "workflow_name": name,
                           "user_id": user, "session_id": session,
                           "organization_id": "org_acme", "timestamp": _iso(start)})
            t = start
            ids: list[str] = []
            failed = rng.random() < 0.05
            for index, ((agent, provider, model, prompt, out), parent) in enumerate(
                    APP_WORKFLOWS[name]):
                scale = rng.lognormvariate(0, 0.35)
                prompt_tokens = int(prompt * scale)
                cache_read = int(prompt_tokens * 0.6) if provider == "anthropic" else 0
                latency = int(rng.lognormvariate(7.3, 0.4))
                t = t + dt.timedelta(milliseconds=latency)
                cid = f"{wid}-c{index + 1}"
                ids.append(cid)
                ok = not (failed and index == len(APP_WORKFLOWS[name]) - 1)
                events.append({
                    "type": "call", "call_id": cid,
                    "parent_call_id": ids[parent] if parent is not None else None,
                    "workflow_id": wid, "agent_name": agent, "provider": provider,
                    "model": model, "input_tokens": prompt_tokens - cache_read,
                    "cache_read_tokens": cache_read,
                    "output_tokens": int(out * rng.lognormvariate(0, 0.3)),
                    "latency_ms": latency, "success": ok, "timestamp": _iso(t)})
                calls += 1
            if rng.random() >= 0.01:  # one in a hundred never ends
                events.append({"type": "workflow_end", "workflow_id": wid,
                               "success": not failed,
                               "timestamp": _iso(t + dt.timedelta(milliseconds=200))})
    return events, calls, serial


def _pipeline_result(rng: random.Random, day: dt.date) -> tuple[dict, int]:
    run_id = f"pipe-{day:%Y%m%d}"
    agents = []
    for name, inp, out in PIPELINE_AGENTS:
        i, o = int(inp * rng.lognormvariate(0, 0.2)), int(out * rng.lognormvariate(0, 0.2))
        cost = round((i * 3 + o * 15) / 1e6, 6)
        agents.append({"agent_name": name, "usage": {
            "input_tokens": i, "output_tokens": o, "total_tokens": i + o,
            "model_name": "claude-3-5-sonnet-20241022", "estimated_cost_usd": cost}})
    stamp = f"{day.isoformat()}T12:00:00Z"
    doc = {"run_id": run_id, "timestamp_utc": stamp, "metadata": {
        "run_id": run_id, "timestamp_utc": stamp,
        "duration_seconds": round(rng.uniform(30, 90), 2),
        "token_usage": {"agents": agents}}}
    return doc, len(agents)


def generate_agent_calls(landing_dir: Path, days: int, end_day: dt.date,
                         seed: int = 7) -> AgentsSummary:
    """Write the app's events and pipeline results for the `days` days ending at `end_day`."""
    rng = random.Random(seed * 7919 + 1)
    first = end_day - dt.timedelta(days=days - 1)
    files: dict[Path, bytes] = {}
    serial = workflows = calls = 0
    for n in range(days):
        day = first + dt.timedelta(days=n)
        before = serial
        events, day_calls, serial = _day_events(rng, day, serial)
        workflows += serial - before
        calls += day_calls
        rng.shuffle(events)  # any order, across two files
        half = len(events) // 2
        for part, chunk in (("a", events[:half]), ("b", events[half:])):
            text = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in chunk)
            files[Path("events") / f"{day}-{part}.jsonl"] = text.encode()
        doc, agents = _pipeline_result(rng, day)
        calls += agents
        files[Path("results") / f"{day}.json"] = json.dumps(doc, indent=2).encode()
    replace_files(Path(landing_dir), files)
    return AgentsSummary(days, workflows + days, calls, days)
