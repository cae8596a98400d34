"""The three stages of a day: sources -> lake -> warehouse, as plain functions.

Dagster assets call these (thin glue); tests and tools can call them directly. Each stage
reads only what the previous stage wrote for the same day, so every stage can be re-run alone.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import polars as pl

from finops_pipeline.config import GitHubSource, Settings
from finops_pipeline.lake import (
    DataPaths,
    read_parquet_or_none,
    write_or_remove,
    write_parquet_atomic,
)
from finops_pipeline.pricing import price_requests, unpriced_summary
from finops_pipeline.sources import gh_aw_logs
from finops_pipeline.sources.github import landing as github_landing
from finops_pipeline.sources.github.client import (
    GitHubAuthError,
    GitHubClient,
    GitHubError,
    GitHubPermissionError,
)
from finops_pipeline.sources.github.fetch import fetch_day
from finops_pipeline.transforms.kpis import (
    history_daily,
    kpi_model_daily,
    kpi_workflow_daily,
    kpi_workflow_model_daily,
)
from finops_pipeline.transforms.lake_day import (
    INGEST_LOG_SCHEMA,
    SCHEMAS,
    build_source_day,
    combine,
)
from finops_pipeline.warehouse.load import replace_day
from finops_pipeline.warehouse.publish import open_for_update

Progress = Callable[[str], None]
log = logging.getLogger(__name__)
# How the GitHub source builds its client: tests swap in one with a fake clock, so retries
# and rate-limit waits are exercised end to end without sleeping.
GITHUB_CLIENT_FACTORY: Callable[..., object] | None = None

from finops_pipeline.schemas.raw import RAW_KINDS as _KINDS  # noqa: E402

RAW_KINDS = {k: v.schema for k, v in _KINDS.items()}
REQUIRED_RAW_KINDS = ("runs", "token_usage")  # the others only some sources write
LAKE_SCHEMAS = {**SCHEMAS, "ingest_log": INGEST_LOG_SCHEMA}


@dataclass
class StageReport:
    """Per-day figures of one stage, for logs and Dagster metadata."""

    rows: list[dict] = field(default_factory=list)

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(self.rows)

    def total(self, key: str) -> int:
        return int(sum(r.get(key, 0) for r in self.rows))


def _progress(progress: Progress | None) -> Progress:
    return progress or log.info


def extract_gh_aw_logs(settings: Settings, days: Sequence[dt.date],
                       progress: Progress | None = None) -> StageReport:
    """Sources stage for `gh aw logs` folders: write each day's raw runs and token lines."""
    say = _progress(progress)
    paths = DataPaths(settings.data_dir)
    index = gh_aw_logs.LogsIndex(paths.state / "gh_aw_logs_index.json")
    roots = [gh_aw_logs.landing_dir(paths), *settings.gh_aw_logs_paths]
    found = gh_aw_logs.discover(roots)
    read = index.refresh(found)
    say(f"gh_aw_logs: {len(found.run_summaries)} run folders and {len(found.json_files)} JSON "
        f"files under {len(roots)} roots; {read} new or changed files indexed")
    if found.run_dirs_without_summary:
        say(f"gh_aw_logs: {len(found.run_dirs_without_summary)} run-* folders have no "
            f"run_summary.json yet (download in progress?) and were skipped, e.g. "
            f"{found.run_dirs_without_summary[0]}")
    report = StageReport()
    for i, day in enumerate(days, start=1):
        ex = gh_aw_logs.extract_day(index, day)
        src = gh_aw_logs.SOURCE
        write_parquet_atomic(paths, ex.runs, paths.raw_file(src, "runs", day))
        write_parquet_atomic(paths, ex.token_lines, paths.raw_file(src, "token_usage", day))
        report.rows.append({"day": day.isoformat(), "files": ex.files, "runs": ex.runs.height,
                            "token_lines": ex.token_lines.height})
        say(f"[{i}/{len(days)}] {day} gh_aw_logs: {ex.runs.height} runs, "
            f"{ex.token_lines.height} token-usage lines from {ex.files} files")
    return report


@dataclass
class SourceOutcome:
    """How a source's extraction went: days delivered, and why it delivered nothing if so."""

    report: StageReport
    enabled: bool = True
    error: str | None = None  # the source failed: its earlier slices were kept
    failed_days: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def extract_github(settings: Settings, days: Sequence[dt.date],
                   progress: Progress | None = None) -> SourceOutcome:
    """Sources stage for the GitHub REST API: each day's runs, token lines and Copilot PRs.

    Off when no repos are configured. A day is written only when it was fetched completely;
    a missing or refused token, or a listing that fails after every retry, leaves the slices
    delivered before untouched (DESIGN section 8) and is reported as `error`.
    """
    say = _progress(progress)
    outcome = SourceOutcome(StageReport())
    if not settings.github_repos:
        outcome.enabled = False
        say("github: off (no repos in finops.yaml sources.github or FINOPS_GITHUB_REPOS)")
        return outcome
    if not settings.github_token:
        outcome.error = ("GITHUB_TOKEN is not set: the github source is on (repos: "
                         f"{', '.join(settings.github_repos)}) but cannot authenticate; its "
                         "earlier data was kept. Set a token with actions:read (and "
                         "pull-requests:read for private repos).")
        say(f"github: {outcome.error}")
        return outcome
    cfg = settings.config.sources.github or GitHubSource()  # repos may come from the env
    factory = GITHUB_CLIENT_FACTORY or GitHubClient
    paths = DataPaths(settings.data_dir)
    src = github_landing.SOURCE
    with factory(settings.github_api_url, settings.github_token,
                 max_in_flight=cfg.max_concurrency) as client:
        for i, day in enumerate(days, start=1):
            try:
                fetched = fetch_day(client, settings.github_repos, day,
                                    artifact_patterns=cfg.artifact_names,
                                    max_workers=cfg.max_concurrency)
            except GitHubError as exc:  # messages are free of the token by construction
                outcome.failed_days.append(day.isoformat())
                outcome.error = f"{type(exc).__name__}: {exc}"
                say(f"[{i}/{len(days)}] {day} github: FAILED, earlier data kept: {exc}")
                if isinstance(exc, GitHubAuthError) and not isinstance(
                        exc, GitHubPermissionError):
                    # A refused token fails every day alike: stop asking.
                    outcome.failed_days += [d.isoformat() for d in days[i:]]
                    break
                continue
            frames = github_landing.raw_frames(fetched)
            for kind, df in frames.items():
                write_parquet_atomic(paths, df, paths.raw_file(src, kind, day))
            outcome.problems += fetched.problems
            outcome.report.rows.append({
                "day": day.isoformat(), "runs": frames["runs"].height,
                "pending_runs": len(fetched.pending_runs),
                "token_lines": frames["token_usage"].height,
                "pull_requests": frames["pull_requests"].height,
                "runs_skipped": int(frames["skips"]["count"].sum()),
            })
            say(f"[{i}/{len(days)}] {day} github: {frames['runs'].height} runs "
                f"({len(fetched.pending_runs)} pending), {frames['token_usage'].height} "
                f"token-usage lines, {frames['pull_requests'].height} Copilot PRs"
                + (f"; skipped: {dict(fetched.skipped)}" if fetched.skipped else ""))
    return outcome


def _read_raw_day(paths: DataPaths, source: str, day: dt.date) -> dict[str, pl.DataFrame]:
    """A source's raw frames of a day; required kinds default to empty, optional ones absent."""
    raw: dict[str, pl.DataFrame] = {}
    for kind, schema in RAW_KINDS.items():
        df = read_parquet_or_none(paths.raw_file(source, kind, day))
        if df is not None:
            # Raw files written by an older version lack newer columns: add them as nulls.
            raw[kind] = df.with_columns(pl.lit(None, dtype).alias(col)
                                        for col, dtype in schema.items()
                                        if col not in df.columns)
        elif kind in REQUIRED_RAW_KINDS:
            raw[kind] = pl.DataFrame(schema=schema)
    return raw


def build_lake(settings: Settings, days: Sequence[dt.date],
               progress: Progress | None = None) -> StageReport:
    """Lake stage: validate, normalize and de-duplicate every source's raw rows of each day.

    A day's lake files are rebuilt from the raw slices of all sources, so a source that is off
    or failed today keeps the slice it delivered before (DESIGN section 8).
    """
    say = _progress(progress)
    paths = DataPaths(settings.data_dir)
    report = StageReport()
    for i, day in enumerate(days, start=1):
        per_source = [build_source_day(_read_raw_day(paths, source, day), day, source)
                      for source in paths.raw_sources("runs")]
        lake_day = combine(per_source)
        # Priced at lake time with today's price table and config: re-materializing re-prices.
        requests = price_requests(lake_day.llm_requests, settings.config.prices)
        unpriced = unpriced_summary(requests)
        frames = {**lake_day.data, "llm_requests": requests, "ingest_log": lake_day.ingest_log}
        for dataset, df in frames.items():
            write_parquet_atomic(paths, df, paths.lake_file(dataset, day))
        for dataset, df in lake_day.quarantine.items():
            write_or_remove(paths, df, paths.quarantine_file(dataset, day))
        ing = lake_day.ingest_log
        row = {"day": day.isoformat(),
               "runs": lake_day.workflow_runs.height,
               "requests": lake_day.llm_requests.height,
               "pull_requests": lake_day.pull_requests.height,
               "rows_in": int(ing["rows_in"].sum()),
               "rows_quarantined": int(ing["rows_quarantined"].sum()),
               "rows_duplicate": int(ing["rows_duplicate"].sum()),
               "cost_usd": round(float(requests["cost_usd"].sum()), 4),
               "unpriced_requests": int(unpriced["unpriced_requests"].sum()),
               "unpriced_models": ", ".join(sorted(set(unpriced["model"].to_list()))),
               "balanced": bool(
                   (ing["rows_in"] == ing["rows_valid"] + ing["rows_quarantined"]
                    + ing["rows_duplicate"]).all())}
        report.rows.append(row)
        say(f"[{i}/{len(days)}] {day} lake: {row['runs']} runs, {row['requests']} requests "
            f"(${row['cost_usd']:,.2f}), {row['rows_quarantined']} quarantined, "
            f"{row['rows_duplicate']} duplicates"
            + (f", {row['unpriced_requests']} unpriced ({row['unpriced_models']})"
               if row["unpriced_requests"] else ""))
    return report


def _read_lake(paths: DataPaths, dataset: str, day: dt.date) -> pl.DataFrame:
    df = read_parquet_or_none(paths.lake_file(dataset, day))
    if df is None:
        log.warning("no lake file for %s on %s; loading it as empty", dataset, day)
        return pl.DataFrame(schema=LAKE_SCHEMAS[dataset])
    return df


def load_warehouse(settings: Settings, days: Sequence[dt.date],
                   progress: Progress | None = None) -> StageReport:
    """Warehouse stage: facts and daily KPIs of each day, each day replaced in one transaction."""
    say = _progress(progress)
    paths = DataPaths(settings.data_dir)
    report = StageReport()
    with open_for_update(paths) as con:
        for i, day in enumerate(days, start=1):
            runs = _read_lake(paths, "workflow_runs", day)
            requests = _read_lake(paths, "llm_requests", day)
            ingest = _read_lake(paths, "ingest_log", day)
            frames = {
                "fact_workflow_runs": runs,
                "fact_llm_requests": requests,
                "fact_pull_requests": _read_lake(paths, "pull_requests", day),
                "kpi_workflow_daily": kpi_workflow_daily(runs, requests),
                "kpi_model_daily": kpi_model_daily(requests),
                "kpi_workflow_model_daily": kpi_workflow_model_daily(requests),
                "history_daily": history_daily(runs, requests, ingest),
                "ingest_log": ingest,
            }
            counts = replace_day(con, day, frames)
            report.rows.append({"day": day.isoformat(), **counts})
            say(f"[{i}/{len(days)}] {day} warehouse: "
                + ", ".join(f"{k} {v}" for k, v in counts.items()))
    say(f"warehouse published at {paths.warehouse}")
    return report
