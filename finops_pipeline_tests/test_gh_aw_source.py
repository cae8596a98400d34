"""sources/gh_aw_logs.py: discovery, the day index and a day's raw extract."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from finops_pipeline.sources.gh_aw_logs import (
    Discovery,
    LogsIndex,
    discover,
    extract_day,
)
from finops_pipeline.transforms.runs import parse_runs
from finops_pipeline_tests.builders import (
    CANONICAL,
    json_run,
    set_mtime,
    token_record,
    write_logs_json,
    write_run_folder,
    write_token_usage,
)

D1 = dt.date(2024, 5, 1)
D2 = dt.date(2024, 5, 2)
MTIME = dt.datetime(2024, 6, 15, 12, 0, tzinfo=dt.UTC)  # the day undated runs are filed under


def _index(tmp_path: Path, *roots: Path) -> tuple[LogsIndex, int]:
    index = LogsIndex(tmp_path / "state" / "gh_aw_logs_index.json")
    return index, index.refresh(discover(roots))


# --- discover ----------------------------------------------------------------------------


def test_discover_finds_nested_run_folders_and_json_files(tmp_path):
    land = tmp_path / "land"
    r1 = write_run_folder(land / "2024-05", 1, "2024-05-01T10:00:00Z", records=[token_record()],
                          aw_info={"repository": "o/r"})
    r2 = write_run_folder(land / "a" / "b" / "c", 2, "2024-05-01T11:00:00Z")
    (r1 / "agent_usage.json").write_text("{}")  # JSON inside a run folder is not a listing
    logs = write_logs_json(land / "logs.json", [json_run(3, "2024-05-01T12:00:00Z")])
    legacy = write_logs_json(land / "sub" / "old.json", [], legacy=True)
    (land / "notes.txt").write_text("not json")
    (land / "run-4").mkdir()  # a run folder gh aw logs did not finish
    write_token_usage(land / "nested" / "run-5" / "token-usage.jsonl", [token_record()])

    found = discover([land])

    assert found.run_summaries == [r1 / "run_summary.json", r2 / "run_summary.json"]
    assert found.json_files == [logs, legacy]
    assert sorted(found.run_dirs_without_summary) == [land / "nested" / "run-5", land / "run-4"]


def test_discover_takes_files_and_ignores_missing_roots(tmp_path):
    listing = write_logs_json(tmp_path / "x" / "listing.json", [])
    found = discover([listing, listing, tmp_path / "missing", tmp_path / "x" / "none.txt"])
    assert found == Discovery(run_summaries=[], json_files=[listing],
                              run_dirs_without_summary=[])


def test_discover_overlapping_roots_report_each_file_once(tmp_path):
    run_dir = write_run_folder(tmp_path / "land", 1, "2024-05-01T10:00:00Z")
    listing = write_logs_json(tmp_path / "land" / "l.json", [])
    found = discover([tmp_path / "land", tmp_path, listing])
    assert found.run_summaries == [run_dir / "run_summary.json"]
    assert found.json_files == [listing]


def test_discover_a_run_folder_given_as_root(tmp_path):
    run_dir = write_run_folder(tmp_path, 1, "2024-05-01T10:00:00Z", aw_info={"repository": "o/r"})
    found = discover([run_dir])
    assert found.run_summaries == [run_dir / "run_summary.json"]
    assert found.json_files == []


# --- the index ---------------------------------------------------------------------------


def test_refresh_reads_new_files_once_then_nothing(tmp_path):
    land = tmp_path / "land"
    write_run_folder(land, 1, "2024-05-01T10:00:00Z")
    write_run_folder(land, 2, "2024-05-02T10:00:00Z")
    write_logs_json(land / "l.json", [json_run(3, "2024-05-01T12:00:00Z")])
    index, read = _index(tmp_path, land)
    assert read == 3
    assert index.refresh(discover([land])) == 0
    # A new process loads the saved index and has nothing to read either.
    again = LogsIndex(index.path)
    assert again.refresh(discover([land])) == 0
    assert again.files_for_day(D1) == index.files_for_day(D1)


def test_refresh_rereads_only_a_touched_file(tmp_path):
    land = tmp_path / "land"
    a = write_run_folder(land, 1, "2024-05-01T10:00:00Z") / "run_summary.json"
    write_run_folder(land, 2, "2024-05-01T11:00:00Z")
    index, _ = _index(tmp_path, land)
    before = index.entries[str(a)].mtime_ns
    os.utime(a, ns=(before + 5_000_000_000, before + 5_000_000_000))
    assert index.refresh(discover([land])) == 1
    assert index.entries[str(a)].mtime_ns == before + 5_000_000_000


def test_refresh_rereads_a_rewritten_file_and_moves_its_day(tmp_path):
    land = tmp_path / "land"
    listing = write_logs_json(land / "l.json", [json_run(3, "2024-05-01T12:00:00Z")])
    index, _ = _index(tmp_path, land)
    assert index.files_for_day(D1) == [("logs_json", listing)]
    write_logs_json(listing, [json_run(3, "2024-05-02T12:00:00Z"),
                              json_run(4, "2024-05-02T13:00:00Z")])
    assert index.refresh(discover([land])) == 1
    assert index.files_for_day(D1) == []
    assert index.files_for_day(D2) == [("logs_json", listing)]


def test_a_deleted_file_leaves_the_index(tmp_path):
    land = tmp_path / "land"
    gone = write_run_folder(land, 1, "2024-05-01T10:00:00Z") / "run_summary.json"
    kept = write_run_folder(land, 2, "2024-05-01T11:00:00Z") / "run_summary.json"
    index, _ = _index(tmp_path, land)
    gone.unlink()
    assert index.refresh(discover([land])) == 0
    assert list(index.entries) == [str(kept)]
    assert index.files_for_day(D1) == [("run_summary", kept)]


def test_index_of_another_version_is_rebuilt(tmp_path):
    land = tmp_path / "land"
    write_run_folder(land, 1, "2024-05-01T10:00:00Z")
    path = tmp_path / "state" / "gh_aw_logs_index.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"version": 1, "entries": {}}))
    index, read = _index(tmp_path, land)
    assert read == 1
    assert json.loads(path.read_text())["version"] == 2


@pytest.mark.parametrize("content", ["not json", '{"version": 2, "entries": {"x": 5}}'])
def test_unreadable_index_is_rebuilt(tmp_path, content):
    land = tmp_path / "land"
    write_run_folder(land, 1, "2024-05-01T10:00:00Z")
    path = tmp_path / "state" / "gh_aw_logs_index.json"
    path.parent.mkdir()
    path.write_text(content)
    _index_obj, read = _index(tmp_path, land)
    assert read == 1


@pytest.mark.parametrize("content", ["[]", '{"version": 2, "entries": []}'])
def test_index_of_the_wrong_json_shape_is_rebuilt(tmp_path, content):
    path = tmp_path / "state" / "gh_aw_logs_index.json"
    path.parent.mkdir()
    path.write_text(content)
    assert LogsIndex(path).entries == {}


def test_days_are_the_utc_day_the_run_was_created(tmp_path):
    land = tmp_path / "land"
    late = write_run_folder(land, 1, "2024-05-01T23:30:00-02:00") / "run_summary.json"
    early = write_run_folder(land, 2, "2024-05-02T01:00:00+05:30") / "run_summary.json"
    index, _ = _index(tmp_path, land)
    assert index.entries[str(late)].days == ["2024-05-02"]
    assert index.entries[str(early)].days == ["2024-05-01"]
    assert index.files_for_day(D1) == [("run_summary", early)]
    assert index.files_for_day(D2) == [("run_summary", late)]

    ex = extract_day(index, D2)
    assert ex.runs["_source"].to_list() == [str(late)]
    runs = parse_runs(ex.runs, D2, "gh_aw_logs").runs
    assert runs["created_at"].to_list() == [dt.datetime(2024, 5, 2, 1, 30, tzinfo=dt.UTC)]


LISTING = """{
  "summary": {"total_runs": 3},
  "runs": [
    {
      "database_id": 11,
      "workflow_name": "a",
      "created_at": "2024-05-01T10:00:00Z"
    },
    {"database_id": 12, "workflow_name": "b", "created_at": "2024-05-02T00:10:00+01:00"},
    {"database_id": 13, "workflow_name": "c", "created_at": "2024-05-02T09:00:00Z"}
  ]
}
"""


def test_a_listing_with_runs_of_several_days(tmp_path):
    listing = tmp_path / "land" / "listing.json"
    listing.parent.mkdir()
    listing.write_text(LISTING)
    index, _ = _index(tmp_path, tmp_path / "land")
    assert index.entries[str(listing)].days == ["2024-05-01", "2024-05-02"]
    assert index.entries[str(listing)].undated_day is None

    d1 = extract_day(index, D1)
    assert d1.runs.select("_line", "_shape", "_run_ref").rows() == [
        (4, "logs_json", f"{listing}#0"), (9, "logs_json", f"{listing}#1")]
    assert [json.loads(r)["database_id"] for r in d1.runs["_raw"]] == [11, 12]
    assert d1.files == 1
    d2 = extract_day(index, D2)
    assert d2.runs.select("_line", "_run_ref").rows() == [(10, f"{listing}#2")]
    assert d2.token_lines.height == 0
    assert d2.runs["_token_files"].to_list() == [0]


def test_legacy_array_listing_lines_and_shape(tmp_path):
    listing = tmp_path / "land" / "legacy.json"
    listing.parent.mkdir()
    listing.write_bytes(b'\xef\xbb\xbf[\r\n  {"DatabaseID": 21, "CreatedAt": '
                        b'"2024-05-01T10:00:00Z"},\r\n\r\n  {"DatabaseID": 22, '
                        b'"CreatedAt": "2024-05-01T11:00:00Z"}\r\n]\r\n')
    index, _ = _index(tmp_path, tmp_path / "land")
    ex = extract_day(index, D1)
    assert ex.runs.select("_line", "_shape").rows() == [(2, "logs_json_legacy"),
                                                        (4, "logs_json_legacy")]


def test_a_run_with_an_invalid_created_at_is_filed_under_the_mtime_day(tmp_path):
    land = tmp_path / "land"
    summary = write_run_folder(land, 7, "garbage") / "run_summary.json"
    set_mtime(summary, MTIME)
    index, _ = _index(tmp_path, land)
    entry = index.entries[str(summary)]
    assert entry.days == ["2024-06-15"]
    assert entry.undated_day == "2024-06-15"

    ex = extract_day(index, dt.date(2024, 6, 15))
    assert ex.runs.height == 1
    parsed = parse_runs(ex.runs, dt.date(2024, 6, 15), "gh_aw_logs")
    assert parsed.runs.height == 0
    assert parsed.rejected.select("_source", "_line", "_reason").rows() == [
        (str(summary), 1, "created_at: an ISO 8601 timestamp (got 'garbage')")]


def test_undated_runs_of_a_listing_go_to_the_mtime_day_dated_ones_to_their_day(tmp_path):
    listing = write_logs_json(tmp_path / "land" / "l.json", [
        json_run(1, "2024-05-01T10:00:00Z"), json_run(2, None),
        json_run(3, "0001-01-01T00:00:00Z")])
    set_mtime(listing, MTIME)
    index, _ = _index(tmp_path, tmp_path / "land")
    assert index.entries[str(listing)].days == ["2024-05-01", "2024-06-15"]
    assert extract_day(index, D1).runs["_run_ref"].to_list() == [f"{listing}#0"]
    undated = extract_day(index, dt.date(2024, 6, 15))
    assert undated.runs["_run_ref"].to_list() == [f"{listing}#1", f"{listing}#2"]
    reasons = parse_runs(undated.runs, dt.date(2024, 6, 15), "gh_aw_logs").rejected["_reason"]
    assert reasons.to_list() == ["created_at: is required (missing, null or blank)",
                                 "created_at: an ISO 8601 timestamp (got '0001-01-01T00:00:00Z')"]


def test_every_token_usage_file_is_read_the_canonical_one_ranked_0(tmp_path):
    run_dir = write_run_folder(
        tmp_path / "land", 1, "2024-05-01T10:00:00Z",
        records=[token_record(request_id="c1"), token_record(request_id="c2")],
        extra_token_files={"a-first/token-usage.jsonl": [token_record(request_id="a1")],
                           "token-usage.jsonl": [token_record(request_id="t1")],
                           "zzz/deep/token-usage.jsonl": [token_record(request_id="z1")]},
        aw_info={"repository": "o/r"})
    index, _ = _index(tmp_path, tmp_path / "land")
    ex = extract_day(index, D1)

    assert ex.files == 5  # the run summary and four token-usage files
    assert ex.runs["_token_files"].to_list() == [4]
    assert json.loads(ex.runs["_aw_info"][0]) == {"repository": "o/r"}
    lines = ex.token_lines
    assert set(lines["_run_ref"]) == {str(run_dir)}
    got = [(Path(s).relative_to(run_dir).as_posix(), rank, line, json.loads(raw)["request_id"])
           for s, rank, line, raw in lines.select("_source", "_file_rank", "_line", "_raw").rows()]
    assert got == [
        (CANONICAL, 0, 1, "c1"),
        (CANONICAL, 0, 2, "c2"),
        ("a-first/token-usage.jsonl", 1, 1, "a1"),
        ("token-usage.jsonl", 2, 1, "t1"),
        ("zzz/deep/token-usage.jsonl", 3, 1, "z1"),
    ]


def test_token_lines_keep_file_line_numbers_decode_errors_and_the_last_line(tmp_path):
    run_dir = write_run_folder(tmp_path / "land", 1, "2024-05-01T10:00:00Z")
    path = run_dir / CANONICAL
    path.parent.mkdir(parents=True)
    path.write_bytes(b'\xef\xbb\xbf{"request_id": "a"}\r\n\r\n{"request_id": "\xff"}\r\n'
                     b'{"request_id": "b"}\n{"request_id": "tru')
    index, _ = _index(tmp_path, tmp_path / "land")
    lines = extract_day(index, D1).token_lines
    assert lines.select("_line", "_raw", "_is_last_line").rows() == [
        (1, '{"request_id": "a"}', False),
        (3, None, False),
        (4, '{"request_id": "b"}', False),
        (5, '{"request_id": "tru', True),
    ]
    assert lines["_decode_error"].is_null().to_list() == [True, False, True, True]


def test_a_run_folder_without_token_usage(tmp_path):
    write_run_folder(tmp_path / "land", 1, "2024-05-01T10:00:00Z")
    index, _ = _index(tmp_path, tmp_path / "land")
    ex = extract_day(index, D1)
    assert ex.runs["_token_files"].to_list() == [0]
    assert ex.runs["_aw_info"].to_list() == [None]
    assert ex.token_lines.height == 0
    assert ex.files == 1


@pytest.mark.parametrize(
    ("content", "reason_part"),
    [('{"summary": {}, "items": []}', "without 'runs'"),
     ("42", "expected '{'"),
     ('{"runs": {"a": 1}}', "expected '['"),
     ('{"runs": [{"database_id": 1}', "file is not valid JSON"),
     ("", "empty file"),
     ("  \n", "empty file")],
)
def test_a_json_file_of_neither_shape_is_kept_visible_as_one_quarantined_row(
        tmp_path, content, reason_part):
    bad = tmp_path / "land" / "bad.json"
    bad.parent.mkdir()
    bad.write_text(content)
    set_mtime(bad, MTIME)
    index, read = _index(tmp_path, tmp_path / "land")
    assert read == 1
    assert index.entries[str(bad)].days == ["2024-06-15"]
    ex = extract_day(index, dt.date(2024, 6, 15))
    assert ex.runs.select("_source", "_line").rows() == [(str(bad), 1)]
    parsed = parse_runs(ex.runs, dt.date(2024, 6, 15), "gh_aw_logs")
    assert parsed.runs.height == 0
    [reason] = parsed.rejected["_reason"].to_list()
    assert reason.startswith("file is not valid JSON")
    assert reason_part in reason


def test_a_deeply_nested_json_file_does_not_abort_the_refresh(tmp_path):
    land = tmp_path / "land"
    write_run_folder(land, 1, "2024-05-01T10:00:00Z")
    (land / "deep.json").write_text("[" * 100_000)
    index, read = _index(tmp_path, land)
    assert read == 2


def test_glob_roots_are_expanded(tmp_path):
    from finops_pipeline.sources.gh_aw_logs import discover
    from finops_pipeline.sources.paths import expand_globs
    for name in ("a", "b"):
        run = tmp_path / name / "run-1"
        run.mkdir(parents=True)
        (run / "run_summary.json").write_text("{}")
    (tmp_path / "logs-1.json").write_text("[]")
    roots = expand_globs([tmp_path / "*" / "run-*", tmp_path / "logs-*.json"])
    found = discover(roots)
    assert len(found.run_summaries) == 2 and [p.name for p in found.json_files] == ["logs-1.json"]
    assert expand_globs([tmp_path / "nothing-*"]) == []


def test_a_day_of_several_batches_streams_to_the_raw_slice_with_the_same_rows(
        tmp_path, monkeypatch):
    """A day bigger than one batch of token files is delivered as a LazyFrame, read a batch at
    a time while the raw slice is written, and counted then; its rows are those of the
    whole-frame path (an unreadable file among them included)."""
    import polars as pl

    import finops_pipeline.sources.gh_aw_logs as gh
    from finops_pipeline.config import load_settings
    from finops_pipeline.lake import DataPaths, read_raw_day, write_raw_day
    from finops_pipeline.sources.base import SourceContext

    land = tmp_path / "data" / "landing" / "gh-aw-logs"
    for run_id in (1, 2, 3):
        write_run_folder(land, run_id, "2024-05-01T10:00:00Z",
                         records=[token_record(request_id=f"{run_id}-{n}") for n in range(3)])
    gone = land / "run-2" / CANONICAL  # unreadable: one quarantinable row, the day goes on
    gone.unlink()
    gone.symlink_to(tmp_path / "nowhere.jsonl")
    index, _ = _index(tmp_path, land)
    whole = extract_day(index, D1).token_lines
    monkeypatch.setattr(gh, "BATCH_BYTES", 10)  # every file is a batch of its own
    settings = load_settings(data_dir=tmp_path / "data", env={})
    paths = DataPaths(tmp_path / "data")
    ctx = SourceContext(settings=settings, landing=land, state=paths.state, say=lambda _: None)
    [got] = gh.GhAwLogsSource().extract(ctx, [D1])
    assert isinstance(got.frames["token_usage"], pl.LazyFrame)
    written = write_raw_day(paths, "gh_aw_logs", D1, got.frames)
    assert written["token_usage"] == whole.height == 7  # 3 + 3 lines, 1 unreadable file
    raw = read_raw_day(paths, "gh_aw_logs", ["runs", "token_usage"], D1)["token_usage"]
    assert raw.collect().sort("_source", "_line").equals(whole.sort("_source", "_line"))
    assert got.counted == {"token_lines": "token_usage"}
