"""transforms/runs.py: raw gh-aw runs of any shape -> canonical `workflow_runs` rows."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from finops_pipeline.sources.gh_aw_logs import LogsIndex, discover, extract_day
from finops_pipeline.transforms.runs import go_duration_ms, parse_runs
from finops_pipeline_tests.builders import (
    json_run,
    legacy_run,
    raw_run_rows,
    summary_run,
    write_logs_json,
    write_run_folder,
)

DAY = dt.date(2024, 5, 1)
CREATED = "2024-05-01T10:15:30Z"
CREATED_UTC = dt.datetime(2024, 5, 1, 10, 15, 30, tzinfo=dt.UTC)
URL = "https://github.com/octo/app/actions/runs/4242"
CANON = ("repo", "run_id", "workflow", "created_at", "duration_ms")


def _parse(rows, day=DAY):
    return parse_runs(raw_run_rows(rows), day, "gh_aw_logs")


def _one(row: dict) -> dict:
    parsed = _parse([row])
    assert parsed.rejected.height == 0, parsed.rejected["_reason"].to_list()
    assert parsed.runs.height == 1
    return parsed.runs.row(0, named=True)


# --- the three shapes --------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["run_summary", "logs_json", "logs_json_legacy"])
def test_the_same_run_in_each_shape_gives_the_same_canonical_row(tmp_path, shape):
    land = tmp_path / "land"
    if shape == "run_summary":
        write_run_folder(land, 4242, CREATED, workflow="Daily Report", repo="octo/app", url=URL,
                         duration_ns=252_500_000_000)
    elif shape == "logs_json":
        write_logs_json(land / "l.json", [json_run(4242, CREATED, workflow="Daily Report",
                                                   url=URL, duration="4m12.5s")])
    else:
        write_logs_json(land / "l.json", [legacy_run(4242, CREATED, workflow="Daily Report",
                                                     url=URL, duration_ns=252_500_000_000)],
                        legacy=True)
    index = LogsIndex(tmp_path / "idx.json")
    index.refresh(discover([land]))
    parsed = parse_runs(extract_day(index, DAY).runs, DAY, "gh_aw_logs")

    assert parsed.rejected.height == 0
    row = parsed.runs.row(0, named=True)
    assert {k: row[k] for k in CANON} == {
        "repo": "octo/app", "run_id": 4242, "workflow": "Daily Report",
        "created_at": CREATED_UTC, "duration_ms": 252_500}
    assert (row["day"], row["source"], row["run_attempt"], row["_shape"]) == (
        DAY, "gh_aw_logs", 1, shape)


def test_summary_with_go_field_names_in_run(tmp_path):
    row = _one({"_raw": {"run_id": 5, "run": summary_run(5, CREATED, legacy=True, url=URL,
                                                         repo=None)}})
    assert {k: row[k] for k in CANON} == {"repo": "octo/app", "run_id": 5,
                                          "workflow": "daily-report",
                                          "created_at": CREATED_UTC, "duration_ms": 252_500}


def test_current_listing_fields_are_typed():
    row = _one({"_shape": "logs_json", "_token_files": 0,
                "_raw": json_run(9, CREATED, url=URL, duration="1m", conclusion="failure",
                                 error_count=2, warning_count=0, branch="main")})
    assert (row["run_number"], row["turns"], row["reported_tokens"], row["error_count"],
            row["warning_count"]) == (7, 3, 1200, 2, 0)
    assert row["reported_cost_usd"] == pytest.approx(0.05)
    assert (row["conclusion"], row["is_failed"], row["head_branch"]) == ("failure", True, "main")
    assert (row["duration_ms"], row["has_token_data"], row["token_files"]) == (60_000, False, 0)


# --- durations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ms"),
    [("4m12.5s", 252_500.0), ("1h2m3.5s", 3_723_500.0), ("350ms", 350.0), ("2h", 7_200_000.0),
     ("1.5s", 1500.0), ("1m30s", 90_000.0), ("0s", 0.0), ("250us", 0.25), ("250µs", 0.25),
     ("2000000ns", 2.0), ("1h0m0.001s", 3_600_001.0)],
)
def test_go_duration_ms(text, ms):
    got = pl.select(go_duration_ms(pl.lit(text)).alias("ms"))["ms"].to_list()
    assert got == [pytest.approx(ms)]


def test_duration_from_ns_else_go_text_else_updated_minus_started():
    rows = [
        {"_raw": {"run": summary_run(1, CREATED, duration_ns=1_999_999)}},  # floor to 1 ms
        {"_raw": json_run(2, CREATED, duration="1m0.0004s")},  # rounds to 60000 ms
        {"_raw": {"run": summary_run(3, CREATED, duration_ns=None,
                                     startedAt="2024-05-01T10:16:00Z",
                                     updatedAt="2024-05-01T10:17:30.5Z")}},
        {"_raw": {"run": summary_run(4, CREATED, duration_ns=None)}},
        {"_raw": {"run": summary_run(5, CREATED, duration_ns=None,
                                     startedAt="2024-05-01T10:20:00Z",
                                     updatedAt="2024-05-01T10:19:00Z")}},
    ]
    runs = _parse(rows).runs
    assert runs.select("run_id", "duration_ms").rows() == [(1, 1), (2, 60_000), (3, 90_500),
                                                           (4, None), (5, 0)]


# --- repo and workflow -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("repository", "aw_info", "url", "expected"),
    [
        ("octo/app", {"repository": "aw/repo"}, "https://github.com/u/r/actions/runs/1",
         "octo/app"),
        (None, {"repository": "aw/repo"}, "https://github.com/u/r/actions/runs/1", "aw/repo"),
        (None, None, "https://github.com/u/r/actions/runs/1", "u/r"),
        (None, None, "https://github.com/u/r/actions/runs/1/attempts/2", "u/r"),
        (None, None, "https://ghe.example.com/api/v3/repos/o/r/actions/runs/1", "o/r"),
        (None, None, "https://ghe.example.com/o/r/actions/runs/1", "o/r"),
        (None, None, "https://api.github.com/repos/o/r/actions/runs/1", "o/r"),
        (None, "{not json", "https://github.com/u/r/actions/runs/1", "u/r"),
        (None, {"workflow_name": "x"}, None, "unknown"),
        (None, None, "https://github.com/u/r/pull/3", "unknown"),
        (None, None, None, "unknown"),
        ("  ", None, "https://github.com/u/r/actions/runs/1", "u/r"),
    ],
)
def test_repo_from_repository_else_aw_info_else_url_else_unknown(repository, aw_info, url,
                                                                  expected):
    row = _one({"_raw": {"run": summary_run(1, CREATED, repo=repository, url=url)},
                "_aw_info": aw_info})
    assert row["repo"] == expected


def test_blank_repository_in_the_run_falls_back_to_aw_info():
    row = _one({"_raw": {"run": summary_run(1, CREATED, repo="", workflow="")},
                "_aw_info": {"repository": "aw/repo", "workflow_name": "From AW"}})
    assert (row["repo"], row["workflow"]) == ("aw/repo", "From AW")


@pytest.mark.parametrize(
    ("run_fields", "aw_info", "expected"),
    [
        ({"workflow": "Named"}, {"workflow_name": "aw"}, "Named"),
        ({"workflow": None}, {"workflow_name": "aw"}, "aw"),
        ({"workflow": None, "workflowPath": ".github/workflows/ci.lock.yml"}, None, "ci"),
        ({"workflow": None, "workflowPath": ".github/workflows/nightly.yaml"}, None, "nightly"),
        ({"workflow": "  ", "workflowPath": ".github/workflows/ci.yml"}, None, "ci"),
        ({"workflow": None}, None, "unknown"),
    ],
)
def test_workflow_fallbacks(run_fields, aw_info, expected):
    run_fields = dict(run_fields)
    workflow = run_fields.pop("workflow")
    row = _one({"_raw": {"run": summary_run(1, CREATED, workflow=workflow, **run_fields)},
                "_aw_info": aw_info})
    assert row["workflow"] == expected


def test_run_attempt_defaults_to_1_and_comes_from_aw_info():
    runs = _parse([
        {"_raw": {"run": summary_run(1, CREATED)}},
        {"_raw": {"run": summary_run(2, CREATED)}, "_aw_info": {"run_attempt": "3"}},
        {"_raw": {"run": summary_run(3, CREATED, attempt=2)}, "_aw_info": {"run_attempt": "3"}},
    ]).runs
    assert runs.select("run_id", "run_attempt").rows() == [(1, 1), (2, 3), (3, 2)]


# --- quarantine --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("run", "reason"),
    [
        (summary_run("abc", CREATED), "run_id: a positive integer (got 'abc')"),
        (summary_run(0, CREATED), "run_id: a positive integer (got '0')"),
        (summary_run(-4, CREATED), "run_id: a positive integer (got '-4')"),
        (summary_run(1.5, CREATED), "run_id: a positive integer (got '1.5')"),
        (summary_run(None, CREATED), "run_id: is required (missing, null or blank)"),
        (summary_run(1, None), "created_at: is required (missing, null or blank)"),
        (summary_run(1, "yesterday"), "created_at: an ISO 8601 timestamp (got 'yesterday')"),
        (summary_run(1, "0001-01-01T00:00:00Z"),
         "created_at: an ISO 8601 timestamp (got '0001-01-01T00:00:00Z')"),
        (summary_run(1, CREATED, duration_ns=-5),
         "duration_ns: a non-negative integer (got '-5')"),
        (summary_run(1, CREATED, TokenUsage="many"),
         "token_usage: a non-negative integer (got 'many')"),
        (summary_run(1, CREATED, EstimatedCost=-0.5),
         "reported_cost_usd: a non-negative number (got '-0.5')"),
    ],
)
def test_bad_runs_are_quarantined_with_the_field_file_and_line(run, reason):
    raw = {"run": run}
    parsed = _parse([{"_raw": {"run": summary_run(99, CREATED)}},
                     {"_raw": raw, "_source": "land/run-1/run_summary.json", "_line": 3}])
    assert parsed.runs["run_id"].to_list() == [99]
    assert parsed.rejected.select("_source", "_line", "_reason").rows() == [
        ("land/run-1/run_summary.json", 3, reason)]
    assert json.loads(parsed.rejected["_raw"][0]) == raw


def test_a_listing_run_with_a_bad_go_duration_and_several_bad_fields():
    parsed = _parse([{"_shape": "logs_json", "_source": "l.json", "_line": 12,
                      "_raw": json_run("x", CREATED, duration="4 minutes")}])
    [reason] = parsed.rejected["_reason"].to_list()
    assert "run_id: a positive integer (got 'x')" in reason
    assert "duration_text: a Go duration such as 4m12.5s (got '4 minutes')" in reason
    assert parsed.rejected.select("_source", "_line").rows() == [("l.json", 12)]


def test_a_run_created_on_another_day_is_quarantined():
    parsed = _parse([{"_raw": {"run": summary_run(1, "2024-05-01T23:59:59-00:01")},
                      "_run_ref": "r1", "_line": 4},
                     {"_raw": {"run": summary_run(2, CREATED)}, "_run_ref": "r2"}])
    assert parsed.runs["run_id"].to_list() == [2]
    assert parsed.rejected.select("_line", "_reason").rows() == [
        (4, "created on the partition day (UTC)")]
    assert json.loads(parsed.rejected["_raw"][0])["run"]["databaseId"] == 1
    assert parsed.refs["_run_ref"].to_list() == ["r2"]


def test_an_unreadable_file_row_is_quarantined_with_its_error():
    parsed = _parse([{"_raw": {"_unreadable": "file is not valid JSON: empty file"},
                      "_source": "x.json", "_line": 1}])
    assert parsed.runs.height == 0
    assert parsed.rejected.select("_source", "_line", "_reason").rows() == [
        ("x.json", 1, "file is not valid JSON: empty file")]


def test_refs_name_only_valid_runs():
    parsed = _parse([
        {"_raw": {"run": summary_run(1, CREATED, url=URL, repo=None)}, "_run_ref": "a"},
        {"_raw": {"run": summary_run("bad", CREATED)}, "_run_ref": "b"},
        {"_raw": {"run": summary_run(3, CREATED)}, "_run_ref": "c",
         "_aw_info": {"run_attempt": 2}},
    ])
    assert parsed.refs.rows() == [("a", "octo/app", 1, 1, "daily-report"),
                                  ("c", "octo/app", 3, 2, "daily-report")]


def test_integral_float_ids_and_counts_are_accepted():
    row = _one({"_raw": {"run": summary_run(12.0, CREATED, Turns=4.0, duration_ns=1e9)}})
    assert (row["run_id"], row["turns"], row["duration_ms"]) == (12, 4, 1000)


def test_a_large_run_id_is_kept_exactly():
    row = _one({"_raw": {"run": summary_run(9_007_199_254_740_993, CREATED)}})
    assert row["run_id"] == 9_007_199_254_740_993


def test_empty_input():
    parsed = _parse([])
    assert parsed.runs.height == parsed.rejected.height == parsed.refs.height == 0


# --- gh aw logs --json: the current shape reports AI credits, the older one a cost -------------

BY_MODEL = {
    "claude-sonnet-4.6": {"provider": "copilot", "input_tokens": 1000, "output_tokens": 200,
                          "cache_read_tokens": 5000, "cache_write_tokens": 0,
                          "reasoning_tokens": 10, "effective_tokens": 900, "requests": 4,
                          "duration_ms": 9000, "response_bytes": 100, "aic": 12.5},
    "gpt-5-mini": {"provider": "copilot", "input_tokens": 300, "output_tokens": 50,
                   "cache_read_tokens": 0, "cache_write_tokens": 100, "requests": 2,
                   "aic": 0.75},
}


def current_run(run_id: int, **extra) -> dict:
    """A current `gh aw logs --json` run: run_id, aic and a per-model summary; no
    estimated_cost, total_cost or database_id."""
    run = {"run_id": run_id, "number": 7, "workflow_name": "Daily Report",
           "created_at": CREATED, "url": URL, "status": "completed", "conclusion": "success",
           "duration": "2m", "aic": 13.25,
           "token_usage_summary": {"total_aic": 13.25, "by_model": BY_MODEL}}
    run.update(extra)
    return run


def test_the_current_json_shape_reports_credits_and_per_model_totals():
    row = _one({"_shape": "logs_json", "_token_files": 0, "_raw": current_run(77)})
    assert (row["run_id"], row["reported_ai_credits"], row["reported_cost_usd"]) == (
        77, 13.25, None)
    # the run totals, summed over the models (the summary carries no totals of its own)
    assert (row["summary_input_tokens"], row["summary_output_tokens"],
            row["summary_cache_read_tokens"], row["summary_cache_write_tokens"],
            row["summary_requests"]) == (1300, 250, 5000, 100, 6)
    assert json.loads(row["reported_by_model"]) == BY_MODEL


def test_credits_come_from_total_aic_else_the_models():
    raw = current_run(78)
    del raw["aic"]
    assert _one({"_shape": "logs_json", "_raw": raw})["reported_ai_credits"] == 13.25
    del raw["token_usage_summary"]["total_aic"]
    assert _one({"_shape": "logs_json", "_raw": raw})["reported_ai_credits"] == 13.25


def test_the_older_json_shape_keeps_its_cost_and_totals():
    row = _one({"_shape": "logs_json", "_raw": json_run(
        79, CREATED, url=URL, total_cost=0.07, estimated_cost=None,
        token_usage_summary={"total_input_tokens": 10, "total_output_tokens": 2,
                             "total_requests": 1})})
    assert (row["reported_cost_usd"], row["reported_ai_credits"]) == (0.07, None)
    assert (row["summary_input_tokens"], row["summary_requests"]) == (10, 1)
    assert row["reported_by_model"] is None


def test_a_malformed_by_model_does_not_cost_the_run():
    row = _one({"_shape": "logs_json",
                "_raw": current_run(80, token_usage_summary={"by_model": ["not", "a", "map"]},
                                    aic=None)})
    assert row["summary_input_tokens"] is None and row["reported_ai_credits"] is None
    row = _one({"_shape": "logs_json", "_raw": current_run(81, token_usage_summary={
        "by_model": {"m": {"input_tokens": "lots", "aic": "x"}}}, aic=None)})
    assert row["summary_input_tokens"] is None and row["reported_ai_credits"] is None


def test_run_columns_keep_the_dataset_types_and_counts_must_be_whole():
    from finops_pipeline.schemas.runs import WORKFLOW_RUNS_SCHEMA

    parsed = _parse([{"_shape": "logs_json", "_raw": current_run(82, token_usage_summary={
        "by_model": {"m": {"input_tokens": 1.5, "output_tokens": 2, "requests": 1}}})}])
    assert parsed.runs.schema == pl.Schema(WORKFLOW_RUNS_SCHEMA)
    row = parsed.runs.row(0, named=True)
    assert (row["summary_input_tokens"], row["summary_output_tokens"]) == (None, 2)
