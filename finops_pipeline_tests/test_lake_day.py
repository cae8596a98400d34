"""transforms/lake_day.py: one source's day, de-duplicated, with the ingest_log accounting."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl

from finops_pipeline.lake import DataPaths, write_sorted_parquet_atomic
from finops_pipeline.schemas.datasets import DATASETS
from finops_pipeline.sources.gh_aw_logs import LogsIndex, discover, extract_day
from finops_pipeline.transforms.lake_day import LakeDay, build_source_day, combine
from finops_pipeline_tests.builders import (
    CANONICAL,
    json_run,
    legacy_run,
    raw_line_rows,
    raw_run_rows,
    summary_run,
    token_record,
    write_logs_json,
    write_run_folder,
)

DAY = dt.date(2024, 5, 1)
SRC = "gh_aw_logs"


def _build(land: Path, tmp_path: Path, day: dt.date = DAY) -> LakeDay:
    index = LogsIndex(tmp_path / "state" / "idx.json")
    index.refresh(discover([land]))
    ex = extract_day(index, day)
    return build_source_day({"runs": ex.runs, "token_usage": ex.token_lines}, day, SRC)


def _log(lake: LakeDay, dataset: str) -> dict:
    rows = lake.ingest_log.filter(pl.col("dataset") == dataset).to_dicts()
    assert len(rows) == 1
    row = rows[0]
    assert row["rows_in"] == row["rows_valid"] + row["rows_quarantined"] + row["rows_duplicate"]
    return row


def test_a_request_in_two_token_files_is_kept_once_from_the_canonical_file(tmp_path):
    land = tmp_path / "land"
    run_dir = write_run_folder(
        land, 101, "2024-05-01T10:00:00Z",
        records=[token_record(request_id="r1", input_tokens=100),
                 token_record(request_id="r2", input_tokens=200)],
        # sorts before the canonical path, so only _file_rank can prefer the canonical copy
        extra_token_files={"a/token-usage.jsonl": [
            token_record(request_id="r1", input_tokens=999),
            token_record(request_id="r3", input_tokens=300)]})
    lake = _build(land, tmp_path)

    assert lake.llm_requests.select("request_id", "input_tokens", "_file_rank").rows() == [
        ("r1", 100, 0), ("r2", 200, 0), ("r3", 300, 1)]
    assert lake.llm_requests["_source"][0] == str(run_dir / CANONICAL)
    log = _log(lake, "llm_requests")
    assert (log["rows_in"], log["rows_valid"], log["rows_quarantined"], log["rows_duplicate"],
            log["files"]) == (4, 3, 0, 1, 2)
    assert lake.workflow_runs["requests"].to_list() == [3]


def test_a_request_id_repeated_in_one_file_keeps_the_first_line(tmp_path):
    land = tmp_path / "land"
    write_run_folder(land, 101, "2024-05-01T10:00:00Z",
                     records=[token_record(request_id="r1", output_tokens=1),
                              token_record(request_id="r2"),
                              token_record(request_id="r1", output_tokens=2),
                              token_record(request_id=" r1 ", output_tokens=3)])
    lake = _build(land, tmp_path)
    assert lake.llm_requests.select("request_id", "output_tokens", "_line").rows() == [
        ("r1", 1, 1), ("r2", 20, 2)]
    assert _log(lake, "llm_requests")["rows_duplicate"] == 2


def test_the_same_request_id_in_two_runs_is_not_a_duplicate(tmp_path):
    land = tmp_path / "land"
    write_run_folder(land, 101, "2024-05-01T10:00:00Z", records=[token_record(request_id="r1")])
    write_run_folder(land, 102, "2024-05-01T11:00:00Z", records=[token_record(request_id="r1")])
    lake = _build(land, tmp_path)
    assert lake.llm_requests.select("run_id", "request_id").rows() == [(101, "r1"), (102, "r1")]
    assert _log(lake, "llm_requests")["rows_duplicate"] == 0


def test_a_run_in_a_run_folder_and_a_listing_is_kept_once_from_the_run_folder(tmp_path):
    land = tmp_path / "land"
    url = "https://github.com/octo/app/actions/runs/4242"
    run_dir = write_run_folder(land / "runs", 4242, "2024-05-01T10:00:00Z", workflow="folder",
                               repo=None, url=url, records=[token_record()])
    # "aaa.json" sorts before "runs/", so only the shape priority keeps the run folder's copy.
    write_logs_json(land / "aaa.json", [json_run(4242, "2024-05-01T10:00:00Z", workflow="json",
                                                 url=url, duration="1m"),
                                        json_run(5, "2024-05-01T12:00:00Z", url=url)])
    write_logs_json(land / "aab.json", [legacy_run(4242, "2024-05-01T10:00:00Z", url=url,
                                                   workflow="legacy")], legacy=True)
    lake = _build(land, tmp_path)

    runs = lake.workflow_runs
    assert runs.select("repo", "run_id", "workflow", "duration_ms", "_shape").rows() == [
        ("octo/app", 5, "daily-report", 252_500, "logs_json"),
        ("octo/app", 4242, "folder", 252_500, "run_summary")]
    assert runs.filter(pl.col("run_id") == 4242)["_source"].to_list() == [
        str(run_dir / "run_summary.json")]
    assert runs.select("run_id", "has_token_data", "requests").rows() == [
        (5, False, 0), (4242, True, 1)]
    log = _log(lake, "workflow_runs")
    assert (log["rows_in"], log["rows_valid"], log["rows_quarantined"], log["rows_duplicate"],
            log["files"]) == (4, 2, 0, 2, 3)


def test_ingest_log_accounts_for_every_row_of_both_datasets(tmp_path):
    land = tmp_path / "land"
    # run 1: 5 lines -> 2 valid, 1 duplicate, 2 quarantined (bad status, truncated last line)
    write_run_folder(land, 1, "2024-05-01T10:00:00Z",
                     records=[token_record(request_id="a"), token_record(request_id="b"),
                              token_record(request_id="a"), token_record(status="oops"),
                              '{"request_id": "c", "tim'],
                     trailing_newline=False)
    # run 2 is quarantined (bad run_id): its 2 lines are quarantined with it
    write_run_folder(land, 2, "2024-05-01T11:00:00Z",
                     summary={"run": summary_run("two", "2024-05-01T11:00:00Z")},
                     records=[token_record(request_id="x"), token_record(request_id="y")])
    # run 3 has no token-usage.jsonl
    write_run_folder(land, 3, "2024-05-01T12:00:00Z")
    # a listing repeating run 3 and bringing run 4 (no token data either) and a bad run
    write_logs_json(land / "l.json", [
        json_run(3, "2024-05-01T12:00:00Z", url="https://github.com/octo/app/actions/runs/3"),
        json_run(4, "2024-05-01T13:00:00Z"), json_run(-1, "2024-05-01T14:00:00Z")])
    lake = _build(land, tmp_path)

    assert lake.workflow_runs.select("repo", "run_id", "has_token_data", "requests").rows() == [
        ("octo/app", 1, True, 2), ("octo/app", 3, False, 0), ("unknown", 4, False, 0)]
    assert lake.llm_requests["request_id"].to_list() == ["a", "b"]

    runs_log = _log(lake, "workflow_runs")
    assert {k: runs_log[k] for k in ("day", "source", "rows_in", "rows_valid",
                                     "rows_quarantined", "rows_duplicate", "files",
                                     "runs_skipped")} == {
        "day": DAY, "source": SRC, "rows_in": 6, "rows_valid": 3, "rows_quarantined": 2,
        "rows_duplicate": 1, "files": 4, "runs_skipped": 0}
    req_log = _log(lake, "llm_requests")
    assert (req_log["rows_in"], req_log["rows_valid"], req_log["rows_quarantined"],
            req_log["rows_duplicate"], req_log["files"]) == (7, 2, 4, 1, 2)
    # runs 3 and 4 have no token data; the reason is recorded with the count
    assert req_log["runs_skipped"] == 2
    assert json.loads(req_log["skip_reasons"]) == {"no token-usage.jsonl in the run": 2}

    q_runs = lake.quarantine["workflow_runs"]
    assert q_runs.columns == ["day", "source", "_source", "_line", "_reason", "_raw"]
    assert q_runs.height == runs_log["rows_quarantined"]
    assert sorted(r.split(":")[0] for r in q_runs["_reason"]) == ["run_id", "run_id"]
    q_req = lake.quarantine["llm_requests"]
    assert q_req.height == req_log["rows_quarantined"]
    by_file = {(Path(s).relative_to(land).parts[0], line): reason
               for s, line, reason in q_req.select("_source", "_line", "_reason").rows()}
    assert by_file[("run-1", 4)] == "status: an HTTP status 100-599 (got 'oops')"
    assert "truncated" in by_file[("run-1", 5)]
    assert "quarantined" in by_file[("run-2", 1)]
    assert "quarantined" in by_file[("run-2", 2)]


def test_a_day_with_only_runs_without_token_data(tmp_path):
    land = tmp_path / "land"
    write_run_folder(land, 1, "2024-05-01T10:00:00Z")
    lake = _build(land, tmp_path)
    log = _log(lake, "llm_requests")
    assert (log["rows_in"], log["files"], log["runs_skipped"]) == (0, 0, 1)
    assert json.loads(log["skip_reasons"]) == {"no token-usage.jsonl in the run": 1}
    assert lake.workflow_runs["requests"].to_list() == [0]


def test_skip_reasons_empty_when_every_run_has_token_data():
    lake = build_source_day(
        {"runs": raw_run_rows([{"_raw": {"run": summary_run(1, "2024-05-01T10:00:00Z")}}]),
         "token_usage": raw_line_rows([token_record()])}, DAY, SRC)
    log = _log(lake, "llm_requests")
    assert (log["runs_skipped"], json.loads(log["skip_reasons"])) == (0, {})


def test_an_empty_day():
    lake = build_source_day({"runs": raw_run_rows([]), "token_usage": raw_line_rows([])},
                            DAY, SRC)
    assert lake.workflow_runs.height == lake.llm_requests.height == 0
    assert lake.ingest_log.select("dataset", "rows_in", "rows_valid", "rows_quarantined",
                                  "rows_duplicate", "files").rows() == [
        ("workflow_runs", 0, 0, 0, 0, 0), ("llm_requests", 0, 0, 0, 0, 0)]


def test_rebuilding_a_day_gives_the_same_rows(tmp_path):
    land = tmp_path / "land"
    write_run_folder(land, 2, "2024-05-01T11:00:00Z",
                     records=[token_record(request_id="b"), token_record(request_id="a")])
    write_run_folder(land, 1, "2024-05-01T10:00:00Z", records=[token_record(request_id="c")])
    # The day's files are written sorted by each dataset's `sort` (lake.py), once.
    paths = DataPaths(tmp_path / "data")
    written = []
    for n in (1, 2):
        day = combine([_build(land, tmp_path)], priority=[SRC])
        for name in ("workflow_runs", "llm_requests"):
            write_sorted_parquet_atomic(paths, day.data[name], DATASETS[name].sort,
                                        tmp_path / f"{name}-{n}.parquet")
        written.append([(tmp_path / f"{name}-{n}.parquet").read_bytes()
                        for name in ("workflow_runs", "llm_requests")])
    assert written[0] == written[1]
    assert pl.read_parquet(tmp_path / "llm_requests-1.parquet").select(
        "run_id", "request_id").rows() == [(1, "c"), (2, "a"), (2, "b")]


def test_parsing_in_chunks_gives_the_same_day_as_one_pass(tmp_path, monkeypatch):
    """Token lines are parsed a chunk at a time (memory); chunk borders must change nothing:
    not the rows, not the quarantine, not the books, not a duplicate across two chunks."""
    import finops_pipeline.transforms.run_requests as run_requests

    land = tmp_path / "land"
    write_run_folder(land, 1, "2024-05-01T10:00:00Z",
                     records=[token_record(request_id="a"), token_record(request_id="b"),
                              token_record(status="oops"), token_record(request_id="a"),
                              token_record(request_id="c"), '{"request_id": "d", "tim'],
                     trailing_newline=False)
    write_run_folder(land, 2, "2024-05-01T11:00:00Z",
                     records=[token_record(request_id="a"), token_record(request_id="e")])
    whole = _build(land, tmp_path / "one")
    monkeypatch.setattr(run_requests, "CHUNK_LINES", 2)
    chunked = _build(land, tmp_path / "chunks")
    for name in ("workflow_runs", "llm_requests"):
        assert chunked.data[name].equals(whole.data[name])
        assert chunked.quarantine[name].equals(whole.quarantine[name])
    assert chunked.ingest_log.equals(whole.ingest_log)
    assert _log(chunked, "llm_requests")["rows_duplicate"] == 1
    assert chunked.quarantine["llm_requests"].height == 2


def test_the_shortcut_for_a_source_without_rows_is_what_each_normalizer_returns():
    from finops_pipeline.schemas.raw import RAW_KINDS
    from finops_pipeline.transforms.lake_day import NORMALIZERS, empty_outputs

    for normalizer in NORMALIZERS:
        frames = {k: RAW_KINDS[k].empty() for k in normalizer.reads}
        real = normalizer.run(frames, DAY, SRC)
        short = empty_outputs(normalizer)
        assert real.keys() == short.keys()
        for name, out in real.items():
            assert out.rows.equals(short[name].rows), name
            assert out.rejected.equals(short[name].rejected), name
            assert (out.rows_in, out.duplicates, out.files, out.runs_skipped,
                    dict(out.skip_reasons)) == (0, 0, 0, 0, {}), name
