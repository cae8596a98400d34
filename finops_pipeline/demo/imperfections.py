"""Deliberate flaws in token-usage.jsonl files, so the demo exercises the quarantine.

The kinds and their order are data (`catalog.MALFORMED`); here they are applied. Each flawed
file gets one flaw, so every broken line is attributable to a single cause.
"""

from __future__ import annotations

import random

from finops_pipeline.demo.catalog import ENGINES, INCLUSIVE_PROVIDERS, MALFORMED, STATUS_TEXTS
from finops_pipeline.demo.formats import dumps_line
from finops_pipeline.demo.runs import Entry, Run

# Kinds that may break any line, so they need no successful record before the last line.
_ANY_LINE = ("truncated_last_line", "duplicate", "bom_crlf")


def add_imperfections(rng: random.Random, runs: list[Run], days: int) -> int:
    """Break a few lines of `runs` on purpose; returns the number of malformed lines."""
    candidates = [r for r in runs if r.entries is not None]
    rng.shuffle(candidates)
    per_kind = max(1, round(days / 15))
    malformed = 0
    for kind in (m.kind for m in MALFORMED):
        for _ in range(per_kind):
            run = _take(candidates, kind)
            if run is None:
                break
            assert run.entries is not None
            if kind == "truncated_last_line":
                entry = run.entries[-1]
                text = dumps_line(entry.record)
                entry.text = text[: int(len(text) * rng.uniform(0.3, 0.8))]
                entry.malformed = True
                run.truncated = True
                malformed += 1
                continue
            # Not the last line: a flaw there would look like a truncated file.
            ok = [e for e in run.entries[:-1] if e.record["status"] == 200]
            entry = rng.choice(ok)
            rec = entry.record
            if kind == "invalid_json":
                text = dumps_line(rec)
                entry.text = text[: int(len(text) * rng.uniform(0.3, 0.8))]
            elif kind == "negative_tokens":
                rec["input_tokens"] = -rng.randint(1, 5_000)
            elif kind == "status_text":
                rec["status"] = rng.choice(STATUS_TEXTS)
            elif kind == "missing_request_id":
                del rec["request_id"]
            elif kind == "cache_read_above_input":
                rec["cache_read_tokens"] = rec["input_tokens"] + rng.randint(128, 8_192)
            else:
                raise ValueError(f"no way to apply imperfection {kind!r}")
            entry.malformed = True
            malformed += 1
    for _ in range(max(2, days // 6)):  # the writer repeated a line
        run = _take(candidates, "duplicate")
        if run is None:
            break
        assert run.entries is not None
        i = rng.randrange(len(run.entries) - 1)
        run.entries.insert(i + 1, Entry(run.entries[i].record, duplicate=True))
    run = _take(candidates, "bom_crlf")
    if run is not None:
        run.bom_crlf = True
    return malformed


def _take(candidates: list[Run], kind: str) -> Run | None:
    """Remove and return the first candidate run that suits `kind` (a file gets one flaw)."""
    for i, run in enumerate(candidates):
        assert run.entries is not None
        if len(run.entries) < 3:
            continue
        if kind == "cache_read_above_input" and (
                ENGINES[run.workflow.engine].provider not in INCLUSIVE_PROVIDERS
                or run.workflow.profile == "no_cache"):  # keep that workflow cache-free
            continue
        if kind not in _ANY_LINE and not any(
                e.record["status"] == 200 for e in run.entries[:-1]):
            continue
        return candidates.pop(i)
    return None
