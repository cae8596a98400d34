"""The synthetic `gh aw logs` landing data: deterministic, on the requested days, and exactly as
imperfect as its summary says.

Records are checked here by an independent validator (not the generator's own bookkeeping), so
a generator bug cannot hide behind itself.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from finops_pipeline.demo import DemoSummary, generate_landing, go_duration

END_DAY = dt.date(2026, 3, 10)
DAYS = 5
REQUESTED_DAYS = {END_DAY - dt.timedelta(days=i) for i in range(DAYS)}
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
                "duration_ms")
REQUIRED = ("timestamp", "request_id", "provider", "model", "path", "status", "streaming",
            *TOKEN_FIELDS)
INCLUSIVE = ("openai", "copilot")
TOTAL_KEYS = {"total_input_tokens": "input_tokens", "total_output_tokens": "output_tokens",
              "total_cache_read_tokens": "cache_read_tokens",
              "total_cache_write_tokens": "cache_write_tokens",
              "total_duration_ms": "duration_ms"}


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _lines(path: Path) -> list[str]:
    """Non-blank lines of a JSONL file, BOM and CR of CRLF removed."""
    text = path.read_bytes().decode("utf-8").removeprefix("\ufeff")
    return [line.removesuffix("\r") for line in text.split("\n") if line.strip()]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _problem(line: str) -> str | None:
    """Why a token-usage line is not a valid record (DESIGN sections 4 and 5), else None."""
    try:
        rec = json.loads(line)
    except ValueError:
        return "invalid JSON"
    if not isinstance(rec, dict):
        return "not an object"
    for key in REQUIRED:
        if key not in rec or rec[key] is None:
            return f"missing {key}"
    if not isinstance(rec["request_id"], str) or not rec["request_id"].strip():
        return "blank request_id"
    if not _is_int(rec["status"]) or not 100 <= rec["status"] <= 599:
        return "bad status"
    if not isinstance(rec["streaming"], bool):
        return "bad streaming"
    for key in (*TOKEN_FIELDS, "reasoning_tokens", "response_bytes"):
        if key in rec and (not _is_int(rec[key]) or rec[key] < 0):
            return f"bad {key}"
    if rec.get("reasoning_tokens", 0) > rec["output_tokens"]:
        return "reasoning above output"
    if rec["provider"] in INCLUSIVE and rec["cache_read_tokens"] > rec["input_tokens"]:
        return "cache reads above inclusive input"
    if "_schema" in rec and not rec["_schema"].startswith("token-usage/v"):
        return "bad _schema"
    return None


def _created_day(text: str) -> dt.date:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC).date()


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoSummary, Path]:
    root = tmp_path_factory.mktemp("demo") / "landing" / "gh-aw-logs"
    return generate_landing(root, days=DAYS, end_day=END_DAY, seed=7), root


@pytest.fixture(scope="module")
def token_files(landing: tuple[DemoSummary, Path]) -> dict[Path, list[str]]:
    _, root = landing
    return {p: _lines(p) for p in sorted(root.rglob("token-usage.jsonl"))}


def _listings(root: Path) -> tuple[list[dict], list[dict]]:
    """(runs of current-shape files, runs of legacy bare-array files)."""
    current, legacy = [], []
    for path in sorted((root / "listings").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, list):
            legacy.extend(data)
        else:
            current.extend(data["runs"])
    return current, legacy


def test_same_arguments_give_identical_bytes(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert generate_landing(a, DAYS, END_DAY, seed=7) == generate_landing(b, DAYS, END_DAY, 7)
    assert _tree(a) == _tree(b)
    assert len(_tree(a)) > 100
    generate_landing(tmp_path / "c", DAYS, END_DAY, seed=8)
    assert _tree(tmp_path / "c") != _tree(a)


def test_rerun_replaces_what_the_previous_run_wrote(tmp_path: Path) -> None:
    fresh, reused = tmp_path / "fresh", tmp_path / "reused"
    generate_landing(fresh, DAYS, END_DAY, seed=7)
    (reused / "other").mkdir(parents=True)
    (reused / "other" / "keep.txt").write_text("not ours")
    generate_landing(reused, DAYS + 3, END_DAY + dt.timedelta(days=9), seed=3)
    generate_landing(reused, DAYS, END_DAY, seed=7)
    left = _tree(reused)
    assert left.pop("other/keep.txt") == b"not ours"
    assert left == _tree(fresh)
    assert not [p for p in reused.rglob("*") if p.is_dir() and not any(p.iterdir())]


def test_runs_are_created_on_the_requested_days(landing: tuple[DemoSummary, Path]) -> None:
    summary, root = landing
    seen: Counter[dt.date] = Counter()
    for path in root.rglob("run_summary.json"):
        run = json.loads(path.read_text(encoding="utf-8"))["run"]
        seen[_created_day(run["createdAt"])] += 1
        assert run["startedAt"] <= run["updatedAt"]
        assert path.parent.name == f"run-{run['databaseId']}"
        assert path.parent.parent.name == run["repository"].replace("/", "__")
    current, legacy = _listings(root)
    for run in current:
        seen[_created_day(run["created_at"])] += 1
    for run in legacy:
        seen[_created_day(run["CreatedAt"])] += 1
    assert set(seen) == REQUESTED_DAYS
    assert sum(seen.values()) == summary.runs
    assert all(15 <= n <= 35 for n in seen.values()), seen


def test_summary_counts_match_the_files(landing: tuple[DemoSummary, Path],
                                        token_files: dict[Path, list[str]]) -> None:
    summary, root = landing
    summaries = sorted(root.rglob("run_summary.json"))
    current, legacy = _listings(root)
    run_ids = [json.loads(p.read_text(encoding="utf-8"))["run_id"] for p in summaries]
    run_ids += [r["run_id"] for r in current] + [r["DatabaseID"] for r in legacy]
    assert len(run_ids) == len(set(run_ids)), "run ids must be unique, listings not duplicated"
    assert all(i >= 19_000_000_000 for i in run_ids)

    malformed = duplicates = valid = 0
    for lines in token_files.values():
        seen: set[str] = set()
        for line in lines:
            if _problem(line) is not None:
                malformed += 1
                continue
            request_id = json.loads(line)["request_id"]
            if request_id in seen:
                duplicates += 1
            else:
                seen.add(request_id)
                valid += 1
    assert summary == DemoSummary(
        days=DAYS,
        runs=len(summaries) + len(current) + len(legacy),
        run_folders=len(summaries),
        json_listed_runs=len(current) + len(legacy),
        requests=valid,
        malformed_lines=malformed,
        runs_without_token_data=len(summaries) - len(token_files) + len(current) + len(legacy),
        failed_runs=summary.failed_runs,
    )
    conclusions = Counter(json.loads(p.read_text(encoding="utf-8"))["run"]["conclusion"]
                          for p in summaries)
    conclusions.update(r["conclusion"] for r in current)
    conclusions.update(r["Conclusion"] for r in legacy)
    assert summary.failed_runs == conclusions["failure"] + conclusions["cancelled"]
    assert 0.03 < conclusions["failure"] / summary.runs < 0.2
    assert 0.05 < summary.runs_without_token_data / summary.runs < 0.3
    assert duplicates >= 1
    assert 6 <= summary.malformed_lines <= 15


def test_run_totals_are_the_sums_of_valid_records(
        token_files: dict[Path, list[str]]) -> None:
    for path, lines in token_files.items():
        run_dir = path.parents[4]
        summary = json.loads((run_dir / "run_summary.json").read_text(encoding="utf-8"))
        records: dict[str, dict] = {}
        for line in lines:
            if _problem(line) is None:
                rec = json.loads(line)
                records.setdefault(rec["request_id"], rec)
        totals = summary["token_usage_summary"]
        assert totals["total_requests"] == len(records)
        for total, key in TOTAL_KEYS.items():
            assert totals[total] == sum(r[key] for r in records.values()), (path, total)
        assert 5 <= len(lines) <= 62
        started = summary["run"]["startedAt"].replace("Z", ".000Z")
        updated = summary["run"]["updatedAt"].replace("Z", ".000Z")
        stamps = [r["timestamp"] for r in records.values()]
        assert started < min(stamps) and max(stamps) < updated, path


def test_run_folder_files_agree(
        landing: tuple[DemoSummary, Path]) -> None:
    _, root = landing
    for path in root.rglob("run_summary.json"):
        summary = json.loads(path.read_text(encoding="utf-8"))
        has_file = (path.parent / "sandbox/firewall/logs/api-proxy-logs/token-usage.jsonl"
                    ).is_file()
        assert ("token_usage_summary" in summary) == has_file
        info = json.loads((path.parent / "aw_info.json").read_text(encoding="utf-8"))
        assert info["run_id"] == summary["run_id"]
        assert info["run_attempt"] == str(summary["run"]["attempt"])


def test_provider_token_conventions(token_files: dict[Path, list[str]]) -> None:
    inclusive_violations = 0
    providers: Counter[str] = Counter()
    for lines in token_files.values():
        for line in lines:
            problem = _problem(line)
            if problem == "cache reads above inclusive input":
                inclusive_violations += 1
            if problem is not None:
                continue
            rec = json.loads(line)
            providers[rec["provider"]] += 1
            assert 300 <= rec["duration_ms"] <= 60_000
            if rec["status"] != 200:
                assert rec["output_tokens"] <= 50 and rec["cache_read_tokens"] == 0
                continue
            if rec["provider"] == "anthropic":
                assert rec["model"].startswith("claude-") and "." not in rec["model"]
                assert rec["input_tokens"] <= 2_000
            else:
                assert rec["cache_write_tokens"] == 0
                assert rec["input_tokens"] >= rec["cache_read_tokens"]
            if rec["provider"] == "copilot" and rec["model"].startswith("claude"):
                assert rec["model"] == "claude-sonnet-4.6"
    assert set(providers) == {"anthropic", "copilot", "openai"}
    assert inclusive_violations == 1  # the deliberate one (one per kind for 5 days)


def test_deliberate_imperfections(token_files: dict[Path, list[str]]) -> None:
    raw = {p: p.read_bytes() for p in token_files}
    bom = [p for p, b in raw.items() if b.startswith(b"\xef\xbb\xbf")]
    assert len(bom) == 1 and b"\r\n" in raw[bom[0]]
    assert sum(1 for b in raw.values() if b"\r\n" in b) == 1
    truncated = [p for p, b in raw.items() if not b.endswith(b"\n")]
    assert truncated and all(_problem(token_files[p][-1]) == "invalid JSON" for p in truncated)
    problems = Counter(_problem(line) for lines in token_files.values() for line in lines)
    for expected in ("invalid JSON", "missing request_id", "bad status", "bad input_tokens",
                     "cache reads above inclusive input"):
        assert problems[expected] >= 1, expected
    assert problems["invalid JSON"] >= 2  # one mid-file, one truncated last line


def test_both_listing_shapes(landing: tuple[DemoSummary, Path]) -> None:
    _, root = landing
    files = sorted((root / "listings").glob("*.json"))
    shapes = {type(json.loads(p.read_text(encoding="utf-8"))).__name__ for p in files}
    assert shapes == {"dict", "list"}
    current, legacy = _listings(root)
    assert current and legacy
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            assert data["summary"]["total_runs"] == len(data["runs"])
            assert path.read_text(encoding="utf-8").startswith('{\n  "summary": {')
    for run in current:
        assert run["url"].endswith(f"/actions/runs/{run['run_id']}")
        assert run["duration"][-1] == "s" and run["token_usage"] >= 0
    for run in legacy:
        assert set(run) >= {"DatabaseID", "WorkflowName", "TokenUsage", "EstimatedCost",
                            "Turns", "Duration", "CreatedAt", "url"}
        assert run["Duration"] % 1_000_000_000 == 0


def test_thirty_days_volume_and_per_workflow_character(tmp_path: Path) -> None:
    summary = generate_landing(tmp_path, days=30, end_day=END_DAY, seed=7)
    assert 15 * 30 <= summary.runs <= 30 * 30
    assert 15_000 <= summary.requests <= 25_000
    assert 8 <= summary.malformed_lines <= 15
    stats: dict[str, Counter[str]] = {}
    per_day: dict[str, Counter[str]] = {}
    for path in tmp_path.rglob("token-usage.jsonl"):
        run = json.loads(path.parents[4].joinpath("run_summary.json").read_text("utf-8"))["run"]
        s = stats.setdefault(run["workflowName"], Counter())
        for line in _lines(path):
            if _problem(line) is None:
                rec = json.loads(line)
                s["requests"] += 1
                s["input"] += rec["input_tokens"]
                s["output"] += rec["output_tokens"]
                s["cache_read"] += rec["cache_read_tokens"]
                s["small"] += rec["output_tokens"] < 50
                s["errors"] += rec["status"] >= 400
                per_day.setdefault(run["workflowName"], Counter())[run["createdAt"][:10]] += 1
    assert "Docs Updater" not in stats  # never instrumented
    assert stats["Daily Plan"]["cache_read"] == 0
    assert stats["CI Doctor"]["input"] > 100 * stats["CI Doctor"]["output"]
    assert stats["Issue Triage"]["small"] > 10 * 30
    growth = sorted(per_day["Copilot SWE Agent"].items())
    assert sum(n for _, n in growth[-5:]) > 4 * sum(n for _, n in growth[:5])
    errors = sum(s["errors"] for s in stats.values()) / sum(s["requests"] for s in stats.values())
    assert 0.01 < errors < 0.04


@pytest.mark.parametrize(("ns", "text"), [
    (0, "0s"), (387_000_000, "387ms"), (252_500_000_000, "4m12.5s"),
    (3_605_000_000_000, "1h0m5s"), (60_000_000_000, "1m0s"),
])
def test_go_duration(ns: int, text: str) -> None:
    assert go_duration(ns) == text


def test_the_demo_agent_app_is_clean_deterministic_and_routed_by_workflow_start(tmp_path):
    import polars as pl

    from finops_pipeline.demo.agents import generate_agent_calls
    from finops_pipeline.sources.agent_calls import SUFFIXES, read_file, route_to_days
    from finops_pipeline.sources.paths import find_files
    from finops_pipeline.transforms.agent_events import normalize_agent_events

    end = dt.date(2026, 3, 10)
    summary = generate_agent_calls(tmp_path / "a", days=4, end_day=end, seed=3)
    generate_agent_calls(tmp_path / "b", days=4, end_day=end, seed=3)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.json*"))
    assert files_a == sorted(p.relative_to(tmp_path / "b")
                             for p in (tmp_path / "b").rglob("*.json*"))
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
               for f in files_a)
    rows = route_to_days(pl.concat([read_file(p) for p in find_files([tmp_path / "a"], SUFFIXES)]))
    calls = 0
    for day in rows["_day"].unique().sort():
        out = normalize_agent_events(
            {"agent_events": rows.filter(pl.col("_day") == day).drop("_day")}, day, "demo")
        assert out["agent_calls"].rejected.height == 0
        assert out["workflow_executions"].rejected.height == 0
        calls += out["agent_calls"].rows.height
    assert calls == summary.calls
    # workflows started late in the evening keep their after-midnight calls on their day
    assert rows["_day"].max() <= end


def test_the_demo_otel_service_is_clean_deterministic_and_counted_once(tmp_path):
    """The traced service's lines: no rejection; each day's traces delivered on their day
    (the late trace sharing the next day's first line); every chat a call, the invoke_agent
    span summing them dropped, so tokens are counted once."""
    import polars as pl

    from finops_pipeline.demo.otel_service import generate_otel_traces
    from finops_pipeline.sources.otel import read_lines, route_lines
    from finops_pipeline.transforms.agent_events import normalize_agent_events
    from finops_pipeline.transforms.otel_traces import AGGREGATE_SPAN

    end = dt.date(2026, 3, 10)
    summary = generate_otel_traces(tmp_path / "a", days=3, end_day=end, seed=3)
    generate_otel_traces(tmp_path / "b", days=3, end_day=end, seed=3)
    names = sorted(p.name for p in (tmp_path / "a").glob("*.jsonl"))
    assert names == [f"2026-03-0{d}.jsonl" for d in (8, 9)] + ["2026-03-10.jsonl"]
    assert all((tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes()
               for n in names)
    routed = route_lines(read_lines(sorted((tmp_path / "a").glob("*.jsonl"))))
    calls = executions = aggregates = 0
    for day in routed["_day"].unique().sort():
        out = normalize_agent_events(
            {"agent_events": routed.filter(pl.col("_day") == day).drop("_day", "_file_day")},
            day, "otel")
        assert out["agent_calls"].rejected.height == 0
        assert set(out["agent_calls"].rows["agent_name"]) == {"Classifier", "Responder"}
        assert out["agent_calls"].rows["user_id"].null_count() == 0
        calls += out["agent_calls"].rows.height
        executions += out["workflow_executions"].rows.height
        aggregates += out["agent_calls"].skip_reasons.get(AGGREGATE_SPAN, 0)
    assert (calls, executions, aggregates) == (summary.calls, summary.traces, summary.traces)
    assert routed.filter(pl.col("_primary").not_()).height == 2  # the two late traces' lines
