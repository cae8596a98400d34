"""Builders of gh-aw telemetry on disk for the parsing and normalization tests.

Every builder writes plain files into a directory the test owns (`tmp_path`), in the shapes
`gh aw logs` and the api-proxy leave behind (DESIGN section 4):

* run folders: `run-<id>/run_summary.json` with the run nested under `run` (lowerCamel GitHub
  names, Go names for the computed fields such as `Duration` in nanoseconds), plus any
  `token-usage.jsonl` (canonically `sandbox/firewall/logs/api-proxy-logs/token-usage.jsonl`)
  and optionally `aw_info.json`;
* the output of `gh aw logs --json`: an object with `runs[]` in snake_case (current) or a bare
  array of runs with Go field names (legacy).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from finops_pipeline.schemas.raw import RAW_RUNS_SCHEMA, RAW_TOKEN_LINES_SCHEMA
from finops_pipeline.schemas.runs import RUN_REFS_SCHEMA

CANONICAL = "sandbox/firewall/logs/api-proxy-logs/token-usage.jsonl"
DROP = object()  # token_record(field=DROP) removes the field from the default record
DEFAULT_REPO = "octo/app"
DEFAULT_WORKFLOW = "daily-report"

Record = Mapping[str, Any] | str  # a dict is dumped as JSON, a str is written as it is


def token_record(**overrides: Any) -> dict[str, Any]:
    """A valid, current (`_schema` + `event`) api-proxy token-usage record.

    Defaults: anthropic / claude-sonnet-4, input 100, output 20, no cache, status 200.
    Pass `field=DROP` to remove a field.
    """
    record: dict[str, Any] = {
        "_schema": "token-usage/v1.2.0",
        "event": "token_usage",
        "timestamp": "2024-05-01T10:00:01.250Z",
        "request_id": "req-1",
        "provider": "anthropic",
        "model": "claude-sonnet-4",
        "path": "/v1/messages",
        "status": 200,
        "streaming": True,
        "input_tokens": 100,
        "output_tokens": 20,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "duration_ms": 1500,
    }
    for key, value in overrides.items():
        if value is DROP:
            record.pop(key, None)
        else:
            record[key] = value
    return record


def jsonl_bytes(records: Iterable[Record], trailing_newline: bool = True) -> bytes:
    """JSONL text of `records`: dicts dumped compactly, strings written verbatim."""
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    text = "\n".join(lines) + ("\n" if trailing_newline and lines else "")
    return text.encode("utf-8")


def write_token_usage(path: Path, records: Iterable[Record],
                      trailing_newline: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(jsonl_bytes(records, trailing_newline))
    return path


def summary_run(run_id: int, created_at: str | None, *, workflow: str | None = DEFAULT_WORKFLOW,
                repo: str | None = DEFAULT_REPO, url: str | None = None,
                duration_ns: int | None = 252_500_000_000, legacy: bool = False,
                **extra: Any) -> dict[str, Any]:
    """The `run` object of a run_summary.json (lowerCamel, or Go names when `legacy`)."""
    names = (("DatabaseID", "WorkflowName", "CreatedAt", "Repository", "URL") if legacy
             else ("databaseId", "workflowName", "createdAt", "repository", "url"))
    values = (run_id, workflow, created_at, repo, url)
    run: dict[str, Any] = {k: v for k, v in zip(names, values, strict=True) if v is not None}
    if duration_ns is not None:
        run["Duration"] = duration_ns
    run.update(extra)
    return run


def write_run_folder(root: Path, run_id: int, created_at: str | None, *,
                     workflow: str | None = DEFAULT_WORKFLOW, repo: str | None = DEFAULT_REPO,
                     url: str | None = None, records: Iterable[Record] | None = None,
                     token_path: str = CANONICAL,
                     extra_token_files: Mapping[str, Iterable[Record]] | None = None,
                     legacy: bool = False, aw_info: Mapping[str, Any] | str | None = None,
                     duration_ns: int | None = 252_500_000_000,
                     trailing_newline: bool = True, summary: Any = None,
                     **run_fields: Any) -> Path:
    """Write `root/run-<id>/` as `gh aw logs` downloads it; returns the run folder.

    Args:
        records: token-usage records of the file at `token_path` (None: no token file).
        extra_token_files: more token-usage.jsonl files, relative path -> records.
        aw_info: aw_info.json content (a dict is dumped, a str written verbatim).
        summary: a whole run_summary.json document replacing the generated one.
        run_fields: extra keys of the nested `run` object.
    """
    run_dir = root / f"run-{run_id}"
    run_dir.mkdir(parents=True, exist_ok=True)
    if summary is None:
        summary = {
            "cli_version": "v0.40.0",
            "run_id": run_id,
            "processed_at": "2024-05-03T00:00:00Z",
            "run": summary_run(run_id, created_at, workflow=workflow, repo=repo, url=url,
                               duration_ns=duration_ns, legacy=legacy, **run_fields),
        }
    text = summary if isinstance(summary, str) else json.dumps(summary, indent=2)
    (run_dir / "run_summary.json").write_text(text, encoding="utf-8")
    if records is not None:
        write_token_usage(run_dir / token_path, records, trailing_newline)
    for rel, recs in (extra_token_files or {}).items():
        write_token_usage(run_dir / rel, recs)
    if aw_info is not None:
        aw_text = aw_info if isinstance(aw_info, str) else json.dumps(aw_info)
        (run_dir / "aw_info.json").write_text(aw_text, encoding="utf-8")
    return run_dir


def json_run(run_id: int, created_at: str | None, *, workflow: str = DEFAULT_WORKFLOW,
             url: str | None = None, duration: str | None = "4m12.5s",
             **extra: Any) -> dict[str, Any]:
    """One element of `runs[]` in the current `gh aw logs --json` output (snake_case)."""
    run: dict[str, Any] = {"database_id": run_id, "number": 7, "workflow_name": workflow,
                           "status": "completed", "conclusion": "success",
                           "token_usage": 1200, "estimated_cost": 0.05, "turns": 3}
    if created_at is not None:
        run["created_at"] = created_at
    if url is not None:
        run["url"] = url
    if duration is not None:
        run["duration"] = duration
    run.update(extra)
    return run


def legacy_run(run_id: int, created_at: str | None, *, workflow: str = DEFAULT_WORKFLOW,
               url: str | None = None, duration_ns: int | None = 252_500_000_000,
               **extra: Any) -> dict[str, Any]:
    """One element of the legacy bare-array `--json` output (Go field names)."""
    run: dict[str, Any] = {"DatabaseID": run_id, "WorkflowName": workflow, "TokenUsage": 1200,
                           "EstimatedCost": 0.05, "Turns": 3}
    if created_at is not None:
        run["CreatedAt"] = created_at
    if url is not None:
        run["url"] = url
    if duration_ns is not None:
        run["Duration"] = duration_ns
    run.update(extra)
    return run


def write_logs_json(path: Path, runs: list[Any], legacy: bool = False) -> Path:
    """Write a `gh aw logs --json` file, pretty-printed (indent 2) like the CLI prints it."""
    doc: Any = runs if legacy else {
        "summary": {"total_runs": len(runs)},
        "runs": runs,
        "token_usage_summary": {"total_requests": 0},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return path


def set_mtime(path: Path, when: dt.datetime) -> None:
    """Set a file's atime and mtime (the day undated runs are filed under)."""
    ts = when.timestamp()
    os.utime(path, (ts, ts))


def raw_run_rows(rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """A raw runs frame (RAW_RUNS_SCHEMA) from partial rows; `_raw` may be a dict."""
    out = []
    for i, row in enumerate(rows):
        full: dict[str, Any] = {"_source": "mem/runs.json", "_line": i + 1,
                                "_shape": "run_summary", "_run_ref": f"ref-{i}",
                                "_raw": None, "_aw_info": None, "_token_files": 1}
        full.update(row)
        for key in ("_raw", "_aw_info"):
            if full[key] is not None and not isinstance(full[key], str):
                full[key] = json.dumps(full[key])
        out.append(full)
    return pl.DataFrame(out, schema=RAW_RUNS_SCHEMA)


def raw_line_rows(records: Iterable[Record], *, run_ref: str = "ref-0",
                  source: str = "mem/token-usage.jsonl", rank: int = 0,
                  last_is_last: bool = True) -> pl.DataFrame:
    """A raw token-lines frame (RAW_TOKEN_LINES_SCHEMA), one line per record, lines 1..n."""
    recs = list(records)
    rows = [{"_run_ref": run_ref, "_source": source, "_line": i + 1, "_file_rank": rank,
             "_is_last_line": last_is_last and i == len(recs) - 1,
             "_raw": r if isinstance(r, str) else json.dumps(r), "_decode_error": None}
            for i, r in enumerate(recs)]
    return pl.DataFrame(rows, schema=RAW_TOKEN_LINES_SCHEMA)


def refs_frame(rows: Iterable[tuple[str, str, int, int, str]]) -> pl.DataFrame:
    """Run references (_run_ref, repo, run_id, run_attempt, workflow) of valid runs."""
    return pl.DataFrame(list(rows), schema=RUN_REFS_SCHEMA, orient="row")
