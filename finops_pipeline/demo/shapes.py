"""Runs rendered in gh-aw's file shapes (DESIGN section 4), as bytes keyed by relative path.

* a run folder `<owner>__<repo>/run-<id>/`: `run_summary.json`, `aw_info.json` and, for
  instrumented runs, the api-proxy's token-usage.jsonl at its canonical path;
* `gh aw logs --json` listings: the current shape (an object with `summary` and `runs[]`) and
  the legacy one (a bare array with Go field names).

JSON keys are written in the order gh-aw writes them; nothing here draws random numbers.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from finops_pipeline.demo.catalog import CLI_VERSION_NEW, CLI_VERSION_OLD, ENGINES, LOGS_LOCATION
from finops_pipeline.demo.costs import PriceKey, UnitPrices, estimated_cost, token_usage
from finops_pipeline.demo.formats import dumps_line, format_s, go_duration, pretty
from finops_pipeline.demo.runs import Run
from finops_pipeline.schemas.gh_aw_layout import AW_INFO, CANONICAL_TOKEN_USAGE, RUN_SUMMARY

_UTF8_BOM = b"\xef\xbb\xbf"


def run_folder(run: Run) -> dict[Path, bytes]:
    """The files `gh aw logs` leaves in a run's folder."""
    folder = Path(run.workflow.repo.replace("/", "__")) / f"run-{run.run_id}"
    files = {
        folder / RUN_SUMMARY: pretty(_run_summary(run)),
        folder / AW_INFO: pretty(_aw_info(run)),
    }
    if run.entries is not None:
        files[folder / CANONICAL_TOKEN_USAGE] = _token_usage_file(run)
    return files


def _token_usage_file(run: Run) -> bytes:
    assert run.entries is not None
    lines = [e.text if e.text is not None else dumps_line(e.record) for e in run.entries]
    eol = "\r\n" if run.bom_crlf else "\n"
    text = eol.join(lines) + ("" if run.truncated else eol)
    data = text.encode("utf-8")
    return _UTF8_BOM + data if run.bom_crlf else data


def _run_summary(run: Run) -> dict[str, Any]:
    wf = run.workflow
    tokens = token_usage(run)
    summary: dict[str, Any] = {
        "cli_version": CLI_VERSION_NEW if run.new_format else CLI_VERSION_OLD,
        "run_id": run.run_id,
        "processed_at": format_s(run.created + dt.timedelta(days=1)),
        "run": {
            "databaseId": run.run_id,
            "number": run.number,
            "url": _url(run),
            "status": "completed",
            "conclusion": run.conclusion,
            "workflowName": wf.name,
            "workflowPath": wf.path,
            "createdAt": format_s(run.created),
            "startedAt": format_s(run.started),
            "updatedAt": format_s(run.updated),
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


def _aw_info(run: Run) -> dict[str, Any]:
    wf = run.workflow
    return {
        "engine_id": wf.engine,
        "engine_name": ENGINES[wf.engine].name,
        "model": run.model,
        "workflow_name": wf.name,
        "run_id": run.run_id,
        "run_attempt": str(run.attempt),
        "repository": wf.repo,
        "actor": run.actor,
        "event_name": run.event,
        "created_at": format_s(run.created),
    }


def current_listing(runs: list[Run], prices: dict[PriceKey, UnitPrices]) -> bytes:
    """`gh aw logs --json` today: run-level totals only, plus a summary over the runs."""
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
            "token_usage": token_usage(run),
            "turns": run.turns,
            "created_at": format_s(run.created),
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
        "total_tokens": sum(token_usage(r) for r in runs),
        "total_cost": round(sum(estimated_cost(r, prices) for r in runs), 4),
        "total_turns": sum(r.turns for r in runs),
        "total_errors": sum(r.errors for r in runs),
        "total_warnings": sum(r.warnings for r in runs),
    }
    return pretty({"summary": summary, "runs": entries, "logs_location": LOGS_LOCATION})


def legacy_listing(runs: list[Run], prices: dict[PriceKey, UnitPrices]) -> bytes:
    """`gh aw logs --json` of older gh-aw: a bare array of Go structs, EstimatedCost per run."""
    return pretty([
        {
            "DatabaseID": run.run_id,
            "Number": run.number,
            "WorkflowName": run.workflow.name,
            "TokenUsage": token_usage(run),
            "EstimatedCost": estimated_cost(run, prices),
            "Turns": run.turns,
            "Duration": _duration_ns(run),
            "CreatedAt": format_s(run.created),
            "url": _url(run),
            "Status": "completed",
            "Conclusion": run.conclusion,
        }
        for run in runs
    ])


def _duration_ns(run: Run) -> int:
    """Go's time.Duration of the run, in whole seconds like GitHub's timestamps."""
    return int((run.updated - run.started).total_seconds()) * 1_000_000_000


def _url(run: Run) -> str:
    return f"https://github.com/{run.workflow.repo}/actions/runs/{run.run_id}"
