"""The `gh aw logs` source: run folders and `gh aw logs --json` files on local disk.

What `gh aw logs` leaves behind (see docs/sources.md):

* `run-<id>/run_summary.json`: `{"run_id", "run": {databaseId, workflowName, createdAt,
  Duration (ns), TokenUsage, Turns, ...}, "token_usage_summary": {...}, ...}`, plus the
  downloaded artifacts, among them the api-proxy's `token-usage.jsonl` (canonically at
  `sandbox/firewall/logs/api-proxy-logs/token-usage.jsonl`) and `aw_info.json`;
* the JSON printed by `gh aw logs --json`: an object with `runs[]` in snake_case (current), or a
  bare array of runs with Go field names such as `WorkflowName`, `Duration` in ns (legacy).

This module only finds and extracts: it turns a day's files into two raw frames (runs, and
token-usage lines) with the file and line each came from. Parsing fields, validation and
normalization happen in `transforms/`, so every bad value is quarantined with its location.

A run and everything in it belongs to the UTC day the run was created. To materialize one day
without re-reading every file ever landed, a small index (`state/gh_aw_logs_index.json`) maps
each run folder and JSON file, by size and mtime, to the days it holds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from finops_pipeline.config import Settings
from finops_pipeline.lake import DataPaths, lazy_from_batches
from finops_pipeline.schemas.gh_aw_layout import (
    AGENT_USAGE,
    AW_INFO,
    PREFERRED_TOKEN_USAGE,
    RUN_FIELD_PATHS,
    RUN_SUMMARY,
    TOKEN_USAGE_NAMES,
)
from finops_pipeline.schemas.raw import RAW_RUNS_SCHEMA, RAW_TOKEN_LINES_SCHEMA
from finops_pipeline.schemas.timeparse import parse_utc_days
from finops_pipeline.sources.base import SourceContext, SourceDay
from finops_pipeline.sources.jsontext import (
    TokenFile,
    get_path,
    iter_array,
    line_of,
    object_member_offsets,
    token_lines_of_files,
    unreadable_token_file,
)
from finops_pipeline.sources.paths import expand_globs

SOURCE = "gh_aw_logs"
LANDING_NAME = "gh-aw-logs"
INDEX_VERSION = 2
_RUN_DIR = re.compile(r"^run-(\d+)$")

log = logging.getLogger(__name__)
# What reading one hostile file may raise; the file is then quarantined, the day goes on.
UNREADABLE = (OSError, ValueError, RecursionError)


@dataclass
class IndexEntry:
    kind: str  # run_summary | logs_json
    size: int
    mtime_ns: int
    days: list[str]
    undated_day: str | None = None  # the day undated runs of this file are filed under


@dataclass
class Discovery:
    """What a scan of the configured folders found."""

    run_summaries: list[Path] = field(default_factory=list)
    json_files: list[Path] = field(default_factory=list)
    run_dirs_without_summary: list[Path] = field(default_factory=list)


@dataclass
class DayExtract:
    """A day's raw runs, the token files of those runs, and how many files the day read.

    The token lines are read from `token_files` when asked for: streamed a batch of files at
    a time (`token_lines_lazy`, what the source delivers) or whole (`token_lines`).
    """

    runs: pl.DataFrame
    token_files: list[tuple[str, Path, int]]  # (run ref, file, rank)
    files: int

    def token_bytes(self) -> int:
        """The size of the day's token files (an unreadable one counts as empty)."""
        total = 0
        for _ref, path, _rank in self.token_files:
            with contextlib.suppress(OSError):  # reported as unreadable when read
                total += path.stat().st_size
        return total

    def token_line_batches(self) -> Iterator[pl.DataFrame]:
        return _token_line_batches(self.token_files)

    @property
    def token_lines(self) -> pl.DataFrame:
        """Every token line of the day in one frame."""
        return pl.concat([*self.token_line_batches(),
                          pl.DataFrame(schema=RAW_TOKEN_LINES_SCHEMA)])

    def token_lines_lazy(self) -> pl.LazyFrame:
        """The token lines as a LazyFrame that reads the files a batch at a time when it is
        collected or sunk, so writing the day holds one batch, not the day."""
        return lazy_from_batches(self.token_line_batches, RAW_TOKEN_LINES_SCHEMA,
                                 "gh_aw_logs token files")


def landing_dir(paths: DataPaths) -> Path:
    return paths.landing_source(LANDING_NAME)


def discover(roots: Iterable[Path]) -> Discovery:
    """Walk roots for run folders (`run-<id>/run_summary.json`) and `--json` output files."""
    found = Discovery()
    seen: set[Path] = set()
    for root in roots:
        if root.is_file() and root.name == RUN_SUMMARY:
            root = root.parent  # a run folder named by its summary file
        if root.is_file():
            if root.suffix == ".json" and root not in seen:
                seen.add(root)
                found.json_files.append(root)
        elif (root / RUN_SUMMARY).is_file():  # a run folder given as a root
            if root / RUN_SUMMARY not in seen:
                seen.add(root / RUN_SUMMARY)
                found.run_summaries.append(root / RUN_SUMMARY)
        elif root.is_dir():
            _walk(root, found, seen)
    found.run_summaries.sort()
    found.json_files.sort()
    return found


def _walk(directory: Path, found: Discovery, seen: set[Path]) -> None:
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        log.warning("cannot list %s: %s", directory, exc)
        return
    for entry in entries:
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            summary = path / RUN_SUMMARY
            if summary.is_file():
                if summary not in seen:
                    seen.add(summary)
                    found.run_summaries.append(summary)
            elif _RUN_DIR.match(entry.name):
                found.run_dirs_without_summary.append(path)
            else:
                _walk(path, found, seen)
        elif entry.is_file() and entry.name.endswith(".json") and path not in seen:
            seen.add(path)
            found.json_files.append(path)


class LogsIndex:
    """Maps landed files to the UTC days they hold, so a day reads only its own files."""

    def __init__(self, path: Path):
        self.path = path
        self.entries: dict[str, IndexEntry] = {}
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(data, dict) and data.get("version") == INDEX_VERSION:
                    self.entries = {k: IndexEntry(**v) for k, v in data["entries"].items()}
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                # The index is only a cache: rebuilding it costs one full scan, never data.
                log.warning("rebuilding unreadable index %s: %s", path, exc)
                self.entries = {}

    def refresh(self, found: Discovery) -> int:
        """Index new or changed files; drop entries of files that are gone. Returns files read."""
        live: dict[str, tuple[str, Path]] = {}
        for p in found.run_summaries:
            live[str(p)] = ("run_summary", p)
        for p in found.json_files:
            live[str(p)] = ("logs_json", p)
        self.entries = {k: v for k, v in self.entries.items() if k in live}
        stale: list[tuple[str, str, Path, os.stat_result]] = []
        for key, (kind, p) in live.items():
            try:
                st = p.stat()
            except OSError:
                continue
            cur = self.entries.get(key)
            if cur is None or cur.size != st.st_size or cur.mtime_ns != st.st_mtime_ns:
                stale.append((key, kind, p, st))
        created = [_created_at_values(kind, p) for _key, kind, p, _st in stale]
        # One vectorized parse for every timestamp of every changed file.
        parsed = iter(parse_utc_days([v for values in created for v in values]))
        for (key, kind, _p, st), values in zip(stale, created, strict=True):
            file_days = [next(parsed) for _ in values]
            days = {d.isoformat() for d in file_days if d is not None}
            undated = None
            if any(d is None for d in file_days):
                # Runs without a parsable created_at are filed under the file's mtime day, so
                # the lake stage quarantines them with the reason instead of losing them.
                undated = _mtime_day(st).isoformat()
                days.add(undated)
            self.entries[key] = IndexEntry(kind, st.st_size, st.st_mtime_ns, sorted(days), undated)
        if stale:
            self.save()
        return len(stale)

    def files_for_day(self, day: dt.date) -> list[tuple[str, Path]]:
        iso = day.isoformat()
        return sorted((e.kind, Path(k)) for k, e in self.entries.items() if iso in e.days)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        payload = {"version": INDEX_VERSION,
                   "entries": {k: vars(v) for k, v in sorted(self.entries.items())}}
        tmp.write_text(json.dumps(payload, indent=0), encoding="utf-8")
        os.replace(tmp, self.path)


def _mtime_day(st: os.stat_result) -> dt.date:
    return dt.datetime.fromtimestamp(st.st_mtime, tz=dt.UTC).date()


def _first(obj: Any, paths: tuple[str, ...]) -> Any:
    for path in paths:
        value = get_path(obj, path)
        if value is not None:
            return value
    return None


def _created_at_values(kind: str, path: Path) -> list[str | None]:
    """created_at text of every run in a file (None where absent); [None] when unreadable."""
    try:
        runs = [obj for _, obj, _ in _runs_in_file(kind, path)]
    except UNREADABLE as exc:
        log.warning("cannot read %s: %s", path, exc)
        return [None]
    return [_created_at_text(obj) for obj in runs]


def _read_text(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace").removeprefix("\ufeff")


def _runs_in_file(kind: str, path: Path) -> Iterator[tuple[int, Any, str]]:
    """Yield (line, run object, shape) for each run in a run_summary or --json file."""
    text = _read_text(path)
    start = len(text) - len(text.lstrip())
    if start >= len(text):
        raise ValueError("empty file")
    if kind == "run_summary":
        yield line_of(text, start), json.loads(text), "run_summary"
        return
    if text[start] == "[":
        for pos, obj in iter_array(text, start):
            yield line_of(text, pos), obj, "logs_json_legacy"
        return
    members = object_member_offsets(text, start)
    if "runs" not in members:
        raise ValueError("a JSON object without 'runs' is not `gh aw logs --json` output")
    for pos, obj in iter_array(text, members["runs"]):
        yield line_of(text, pos), obj, "logs_json"


@dataclass(frozen=True)
class RunFolderFiles:
    """The files of a run folder the pipeline reads, found in one walk."""

    token_usage: list[Path]  # the preferred paths first, then by path
    aw_info: Path | None  # directly in the folder, else the first below it by path
    agent_usage: Path | None


def run_folder_files(run_dir: Path) -> RunFolderFiles:
    """Walk a run folder once for its token-usage files, aw_info.json and agent_usage.json."""
    found: dict[str, list[Path]] = {}
    for root, _dirs, names in os.walk(run_dir):
        for name in (*TOKEN_USAGE_NAMES, AW_INFO, AGENT_USAGE):
            if name in names:
                found.setdefault(name, []).append(Path(root) / name)
    preferred = [run_dir / p for p in PREFERRED_TOKEN_USAGE]
    token_usage = sorted((p for n in TOKEN_USAGE_NAMES for p in found.get(n, ())),
                         key=lambda p: (preferred.index(p) if p in preferred
                                        else len(preferred), str(p)))

    def member(name: str) -> Path | None:
        paths = found.get(name, [])
        return run_dir / name if run_dir / name in paths else min(paths, default=None)

    return RunFolderFiles(token_usage, member(AW_INFO), member(AGENT_USAGE))



def extract_day(index: LogsIndex, day: dt.date) -> DayExtract:
    """Raw runs and token-usage lines of the runs created on `day`."""
    run_rows: list[dict[str, Any]] = []
    token_files: list[tuple[str, Path, int]] = []
    read: list[tuple[str, Path, list[tuple[int, Any, str]] | str]] = []
    for kind, path in index.files_for_day(day):
        try:
            read.append((kind, path, list(_runs_in_file(kind, path))))
        except UNREADABLE as exc:
            read.append((kind, path, f"file is not valid JSON: {exc}"))
    # One vectorized parse of every run's created_at (per file, it cost a query per run folder).
    all_days = iter(parse_utc_days([_created_at_text(obj) for _, _, runs in read
                                    if isinstance(runs, list) for _, obj, _ in runs]))
    files = len(read)
    for kind, path, runs in read:
        if isinstance(runs, str):
            # Unreadable as a whole: one quarantined run row keeps the failure visible.
            run_rows.append(_raw_run(path, 1, kind, str(path), None, None, 0, error=runs))
            continue
        entry = index.entries[str(path)]
        run_days = [next(all_days) for _ in runs]
        for number, ((line, obj, shape), run_day) in enumerate(zip(runs, run_days, strict=True)):
            if run_day != day and not (run_day is None and entry.undated_day == day.isoformat()):
                continue
            if kind == "run_summary":
                run_dir = path.parent
                members = run_folder_files(run_dir)
                ref = str(run_dir)
                token_files += [(ref, tf, rank) for rank, tf in enumerate(members.token_usage)]
                files += len(members.token_usage)
                run_rows.append(_raw_run(
                    path, line, shape, ref, obj,
                    _read_text(members.aw_info) if members.aw_info else None,
                    len(members.token_usage),
                    agent_usage=_read_text(members.agent_usage) if members.agent_usage
                    else None))
            else:
                run_rows.append(_raw_run(path, line, shape, f"{path}#{number}", obj, None, 0))
    runs_df = pl.DataFrame(run_rows, schema=RAW_RUNS_SCHEMA)
    return DayExtract(runs_df, token_files, files)


def _created_at_text(obj: Any) -> str | None:
    value = _first(obj, RUN_FIELD_PATHS["created_at"]) if isinstance(obj, dict) else None
    return value if isinstance(value, str) else None


def _raw_run(path: Path, line: int, shape: str, ref: str, obj: Any, aw_info: str | None,
             token_files: int, error: str | None = None,
             agent_usage: str | None = None) -> dict[str, Any]:
    raw = json.dumps(obj) if error is None else json.dumps({"_unreadable": error})
    return {"_source": str(path), "_line": line, "_shape": shape, "_run_ref": ref,
            "_raw": raw, "_aw_info": aw_info, "_agent_usage": agent_usage,
            "_token_files": token_files}


# Token files are split in batches of about this many bytes: one vectorized pass per batch
# instead of per file, while the bytes, their text and their lines of one batch are all that is
# held at once besides the frame being built.
BATCH_BYTES = 128 * 1024 * 1024


def _token_line_batches(token_files: Sequence[tuple[str, Path, int]]) -> Iterator[pl.DataFrame]:
    """Raw token-usage rows of every (run ref, file, rank), in that order, a batch of files
    (or one unreadable file) per frame."""
    batch: list[TokenFile] = []
    size = 0
    for ref, path, rank in token_files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            if batch:  # keep the order of the files
                yield token_lines_of_files(batch)
                batch, size = [], 0
            yield unreadable_token_file(ref, str(path), rank, str(exc))
            continue
        batch.append(TokenFile(ref, str(path), rank, data))
        size += len(data)
        if size >= BATCH_BYTES:
            yield token_lines_of_files(batch)
            batch, size = [], 0
    if batch:
        yield token_lines_of_files(batch)


class GhAwLogsSource:
    """Runs and api-proxy token-usage lines from `gh aw logs` folders and `--json` files.

    Reads `landing/gh-aw-logs/` plus `sources.gh_aw_logs.paths` of finops.yaml. A run and its
    requests belong to the UTC day the run was created; a small index keeps one day's
    materialization from re-reading every file ever landed. Output: raw/gh_aw_logs/.
    """

    name = SOURCE
    landing_name = LANDING_NAME
    raw_kinds = ("runs", "token_usage")
    asset_kinds = frozenset({"python", "json"})
    resource_keys: frozenset[str] = frozenset()
    off_hint = ""

    def enabled(self, settings: Settings) -> bool:
        return True  # the landing folder is always read

    def extract(self, ctx: SourceContext, days: Sequence[dt.date]) -> Iterator[SourceDay]:
        index = LogsIndex(ctx.state / "gh_aw_logs_index.json")
        roots = expand_globs([p for p in (ctx.landing, *ctx.settings.source_paths(self.name))
                              if p])
        found = discover(roots)
        read = index.refresh(found)
        ctx.say(f"gh_aw_logs: {len(found.run_summaries)} run folders and {len(found.json_files)} "
                f"JSON files under {len(roots)} roots; {read} new or changed files indexed")
        if found.run_dirs_without_summary:
            ctx.say(f"gh_aw_logs: {len(found.run_dirs_without_summary)} run-* folders have no "
                    f"{RUN_SUMMARY} yet (download in progress?) and were skipped, e.g. "
                    f"{found.run_dirs_without_summary[0]}")
        for day in days:
            ex = extract_day(index, day)
            # A day of more than one batch of token files streams from its files to the raw
            # slice as it is written (and is counted then); a smaller day is one batch either
            # way, and a frame skips the streaming engine's fixed cost (~0.15 s a day).
            lines = ex.token_lines_lazy() if ex.token_bytes() > BATCH_BYTES else ex.token_lines
            yield SourceDay(day, {"runs": ex.runs, "token_usage": lines},
                            figures={"runs": ex.runs.height, "token_lines": 0,
                                     "files": ex.files},
                            counted={"token_lines": "token_usage"})
