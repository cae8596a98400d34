"""One day of GitHub telemetry: runs, their token-usage files, Copilot pull requests.

`fetch_day` is the only entry point the pipeline needs. It never stops for one bad run or
artifact (recorded in `skipped` and `problems`), but it does raise when a listing that
defines the day's slice fails (runs or pull requests of a repository, after every retry),
or when the token is refused: a caller that replaces the source's slice of the day must not
replace it with a partial one.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from finops_pipeline.config import DEFAULT_ARTIFACT_PATTERNS
from finops_pipeline.schemas.gh_aw_layout import AGENT_USAGE, AW_INFO, CANONICAL_TOKEN_USAGE
from finops_pipeline.sources.github._common import as_day, check_repo
from finops_pipeline.sources.github.archive import ArchiveLimits, read_archive
from finops_pipeline.sources.github.artifacts import (
    download_artifact,
    list_artifacts,
    match_artifacts,
)
from finops_pipeline.sources.github.client import (
    GitHubAuthError,
    GitHubClient,
    GitHubError,
    GitHubGone,
    GitHubNotFound,
    GitHubPermissionError,
    GitHubTooLarge,
)
from finops_pipeline.sources.github.pulls import list_copilot_pulls
from finops_pipeline.sources.github.runs import list_runs

log = logging.getLogger("finops_pipeline.github")

# Reasons in `GitHubDay.skipped`. Per run: pending, no match, no token file, listing failed,
# repository not accessible (per repository). Per artifact: all the others.
SKIP_PENDING = "run not completed"
SKIP_REPO = "repository not accessible"
SKIP_LIST_FAILED = "artifact listing failed"
SKIP_NO_MATCH = "no matching artifact"
SKIP_EXPIRED = "artifact expired"
SKIP_GONE = "artifact expired (410)"
SKIP_TOO_LARGE = "artifact too large"
SKIP_DOWNLOAD_FAILED = "artifact download failed"
SKIP_CORRUPT = "corrupt zip"
SKIP_LIMIT = "archive limit exceeded"
SKIP_NO_TOKEN = "no token-usage.jsonl in artifacts"


@dataclass(frozen=True)
class TokenFile:
    """The one token-usage.jsonl kept for a run."""

    repo: str
    run_id: int
    run_attempt: int
    artifact_name: str
    member_path: str
    data: bytes = field(repr=False)


@dataclass
class GitHubDay:
    """Everything fetched for one UTC day.

    Attributes:
        runs: raw run JSON from the API, unchanged, queued and in-progress runs included.
        token_files: at most one per run (canonical path first, then artifact name order).
        aw_info, agent_usage: raw member bytes by (repo, run_id).
        pull_requests: normalized Copilot coding-agent pull requests created that day.
        skipped: reason -> count (see the SKIP_* constants).
        problems: human-readable, free of secrets.
        ignored_copies: token-usage / aw_info / agent_usage copies that were not used.
    """

    day: dt.date
    runs: list[dict] = field(default_factory=list)
    token_files: list[TokenFile] = field(default_factory=list)
    aw_info: dict[tuple[str, int], bytes] = field(default_factory=dict)
    agent_usage: dict[tuple[str, int], bytes] = field(default_factory=dict)
    pull_requests: list[dict] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    ignored_copies: list[str] = field(default_factory=list)

    @property
    def pending_runs(self) -> list[dict]:
        """Runs not completed yet: their data may still come; record them as pending."""
        return [r for r in self.runs if r.get("status") != "completed"]


@dataclass
class _RunOutcome:
    token_file: TokenFile | None = None
    aw_info: bytes | None = None
    agent_usage: bytes | None = None
    skipped: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    ignored_copies: list[str] = field(default_factory=list)


def _fatal(exc: GitHubError) -> bool:
    """A refused token fails every request: stop the day rather than record it N times."""
    return isinstance(exc, GitHubAuthError) and not isinstance(exc, GitHubPermissionError)


def _fetch_run(
    client: GitHubClient,
    repo: str,
    run: dict,
    patterns: Sequence[str],
    limits: ArchiveLimits,
) -> _RunOutcome:
    out = _RunOutcome()
    run_id = int(run["id"])
    attempt = int(run.get("run_attempt") or 1)
    tag = f"{repo} run {run_id}"
    try:
        artifacts = list_artifacts(client, repo, run_id)
    except GitHubError as exc:
        if _fatal(exc):
            raise
        out.skipped[SKIP_LIST_FAILED] += 1
        out.problems.append(f"{tag}: artifacts not listed: {exc}")
        return out
    matching = match_artifacts(artifacts, patterns)
    if not matching:
        out.skipped[SKIP_NO_MATCH] += 1
        return out

    # (rank, artifact name, artifact id, member path, bytes) of every token-usage.jsonl found
    candidates: list[tuple[tuple[int, str, int], str, str, bytes]] = []
    read_any = False
    for artifact in matching:
        name = str(artifact["name"])
        label = f"{tag} artifact {name!r}"
        if artifact.get("expired"):
            out.skipped[SKIP_EXPIRED] += 1
            continue
        try:
            data = download_artifact(client, artifact, max_bytes=limits.max_archive_bytes)
        except GitHubGone:
            out.skipped[SKIP_GONE] += 1
            continue
        except GitHubTooLarge as exc:
            out.skipped[SKIP_TOO_LARGE] += 1
            out.problems.append(f"{label}: {exc}")
            continue
        except GitHubError as exc:
            if _fatal(exc):
                raise
            out.skipped[SKIP_DOWNLOAD_FAILED] += 1
            out.problems.append(f"{label}: download failed: {exc}")
            continue
        content = read_archive(data, limits=limits)
        del data
        out.problems.extend(f"{label}: {p}" for p in content.problems)
        out.ignored_copies.extend(f"{label}: {p}" for p in content.ignored_copies)
        if content.corrupt:
            out.skipped[SKIP_CORRUPT] += 1
            continue
        if content.limit_exceeded:
            out.skipped[SKIP_LIMIT] += 1
        read_any = True
        if content.token_usage is not None and content.token_usage_path is not None:
            path = content.token_usage_path
            rank = (0 if path == CANONICAL_TOKEN_USAGE else 1, name, int(artifact.get("id") or 0))
            candidates.append((rank, name, path, content.token_usage))
        for member, attr in ((AW_INFO, "aw_info"), (AGENT_USAGE, "agent_usage")):
            found = content.members.get(member)
            if found is None:
                continue
            if getattr(out, attr) is None:
                setattr(out, attr, found)
            else:
                out.ignored_copies.append(f"{label}: {content.paths[member]}")

    if candidates:
        candidates.sort(key=lambda c: c[0])
        _rank, name, path, data = candidates[0]
        out.token_file = TokenFile(repo, run_id, attempt, name, path, data)
        out.ignored_copies.extend(
            f"{tag} artifact {n!r}: {p} (another artifact's copy was used)"
            for _r, n, p, _d in candidates[1:]
        )
    elif read_any:
        out.skipped[SKIP_NO_TOKEN] += 1
    return out


def fetch_day(
    client: GitHubClient,
    repos: Iterable[str],
    day: dt.date | str,
    *,
    artifact_patterns: Sequence[str] = DEFAULT_ARTIFACT_PATTERNS,
    limits: ArchiveLimits | None = None,
    max_workers: int = 8,
    pull_requests: bool = True,
) -> GitHubDay:
    """Fetch the runs, token-usage files and Copilot pull requests of `repos` on `day`.

    Runs are processed on a thread pool of `max_workers`; the client's own semaphore bounds
    the requests in flight. Runs not completed are returned but their artifacts not fetched.

    Raises:
        GitHubAuthError: no token, or the token was refused (401).
        GitHubError: a repository's runs or pull requests could not be listed.
    """
    day = as_day(day)
    limits = limits or ArchiveLimits()
    result = GitHubDay(day=day)
    skipped: Counter[str] = Counter()
    work: list[tuple[str, dict]] = []
    for repo in dict.fromkeys(check_repo(r) for r in repos):  # each repository once
        try:
            runs = list_runs(client, repo, day, problems=result.problems)
        except (GitHubNotFound, GitHubPermissionError) as exc:
            skipped[SKIP_REPO] += 1
            result.problems.append(f"{repo}: repository not accessible: {exc}")
            continue
        result.runs.extend(runs)
        latest: dict[int, dict] = {}
        for run in runs:
            known = latest.get(run["id"])
            if known is None or (run.get("run_attempt") or 1) > (known.get("run_attempt") or 1):
                latest[run["id"]] = run
        for run_id in sorted(latest):
            run = latest[run_id]
            if run.get("status") == "completed":
                work.append((repo, run))
            else:
                skipped[SKIP_PENDING] += 1
        if pull_requests:
            try:
                result.pull_requests.extend(list_copilot_pulls(client, repo, day))
            except (GitHubNotFound, GitHubPermissionError) as exc:
                result.problems.append(f"{repo}: pull requests not listed: {exc}")

    log.info("github: %s: %d runs, %d to fetch", day, len(result.runs), len(work))
    outcomes: list[_RunOutcome] = []
    if work:
        with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(work)))) as pool:
            futures = [
                pool.submit(_fetch_run, client, repo, run, artifact_patterns, limits)
                for repo, run in work
            ]
            try:
                outcomes = [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                raise

    for (repo, run), out in zip(work, outcomes, strict=True):
        skipped.update(out.skipped)
        result.problems.extend(out.problems)
        result.ignored_copies.extend(out.ignored_copies)
        if out.token_file is not None:
            result.token_files.append(out.token_file)
        if out.aw_info is not None:
            result.aw_info[(repo, int(run["id"]))] = out.aw_info
        if out.agent_usage is not None:
            result.agent_usage[(repo, int(run["id"]))] = out.agent_usage
    result.skipped = dict(sorted(skipped.items()))
    return result
