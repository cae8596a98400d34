"""Where token usage hides: gh-aw's alternative paths and agent_usage.json run totals."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from finops_pipeline.sources import gh_aw_logs
from finops_pipeline.sources.github.archive import read_archive
from finops_pipeline.transforms.lake_day import build_source_day
from finops_pipeline_tests.fake_github import make_zip
from finops_pipeline_tests.test_pipeline_e2e import land_run, record

DAY = dt.date(2026, 3, 1)


def lake_day(root: Path):
    index = gh_aw_logs.LogsIndex(root.parent / "index.json")
    index.refresh(gh_aw_logs.discover([root]))
    ex = gh_aw_logs.extract_day(index, DAY)
    return build_source_day({"runs": ex.runs, "token_usage": ex.token_lines}, DAY, "gh_aw_logs")


def test_usage_artifact_spelling_and_audit_dir_are_read(tmp_path: Path):
    root = tmp_path / "logs"
    run = land_run(root, 1, "2026-03-01T10:00:00Z", "W", "acme/api", None)
    for rel, rid in (("usage/agent/token_usage.jsonl", "u1"),
                     ("sandbox/firewall/audit/api-proxy-logs/token-usage.jsonl", "a1")):
        (run / rel).parent.mkdir(parents=True)
        (run / rel).write_text(json.dumps(record(rid)) + "\n" + json.dumps(record("shared")))
    files = gh_aw_logs.run_folder_files(run).token_usage
    assert [f.relative_to(run).as_posix() for f in files] == [
        "sandbox/firewall/audit/api-proxy-logs/token-usage.jsonl",
        "usage/agent/token_usage.jsonl"]
    lake = lake_day(root)
    assert sorted(lake.llm_requests["request_id"]) == ["a1", "shared", "u1"]
    # "shared" came from both files: kept from the preferred (audit) file, counted once.
    kept = lake.llm_requests.filter(request_id="shared")["_source"].item()
    assert "audit" in kept
    assert lake.ingest_log.filter(dataset="llm_requests")["rows_duplicate"].item() == 1


def test_agent_usage_json_gives_run_totals_without_requests(tmp_path: Path):
    root = tmp_path / "logs"
    run = land_run(root, 2, "2026-03-01T11:00:00Z", "Uninstrumented", "acme/web", None)
    (run / "agent").mkdir()
    (run / "agent" / "agent_usage.json").write_text(json.dumps({
        "primary_model": "claude-sonnet-4-6", "input_tokens": 120, "output_tokens": 3400,
        "cache_read_tokens": 50_000, "cache_write_tokens": 9000, "ai_credits": 1.75}))
    runs = lake_day(root).workflow_runs
    assert runs.select("has_token_data", "requests", "summary_input_tokens",
                       "summary_output_tokens", "summary_cache_read_tokens",
                       "summary_cache_write_tokens", "reported_ai_credits",
                       "primary_model").row(0) == (
        False, 0, 120, 3400, 50_000, 9000, 1.75, "claude-sonnet-4-6")


def test_archive_reads_the_underscore_spelling_after_the_canonical_path():
    canonical = "sandbox/firewall/logs/api-proxy-logs/token-usage.jsonl"
    both = read_archive(make_zip({"usage/agent/token_usage.jsonl": "u", canonical: "c"}))
    assert (both.token_usage, both.token_usage_path) == (b"c", canonical)
    assert both.ignored_copies == ["usage/agent/token_usage.jsonl"]
    only = read_archive(make_zip({"usage/agent/token_usage.jsonl": "u"}))
    assert only.token_usage == b"u"
