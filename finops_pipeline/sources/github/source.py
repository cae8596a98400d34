"""The GitHub REST source as the pipeline sees it: on when repos are configured, one raw slice
per day, and only after that day was fetched completely."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Protocol

from finops_pipeline.config import GitHubSource as GitHubSettings
from finops_pipeline.config import Settings
from finops_pipeline.sources.base import SourceContext, SourceDay, failed_days
from finops_pipeline.sources.github.client import (
    GitHubAuthError,
    GitHubClient,
    GitHubError,
    GitHubPermissionError,
)
from finops_pipeline.sources.github.fetch import fetch_day
from finops_pipeline.sources.github.landing import SOURCE, raw_frames

NO_TOKEN = ("GITHUB_TOKEN is not set: the github source is on (repos: {repos}) but cannot "
            "authenticate; its earlier data was kept. Set a token with actions:read (and "
            "pull-requests:read for private repos).")


def fetch_failed(exc: GitHubError, day: dt.date,
                 later_days: Sequence[dt.date]) -> tuple[list[SourceDay], bool]:
    """The days a GitHub failure on `day` leaves undelivered, and whether to stop asking: a
    refused token (401, not a 403 on one resource) fails every later day alike. The message
    is the client's, free of the token by construction."""
    error = f"{type(exc).__name__}: {exc}"
    refused = isinstance(exc, GitHubAuthError) and not isinstance(exc, GitHubPermissionError)
    return [SourceDay(day, None, error=error),
            *(failed_days(later_days, error) if refused else [])], refused


class GitHubAccess(Protocol):
    """How the source reaches GitHub: the Dagster resource `github` (defs/resources.py)."""

    def resolved_token(self) -> str | None:
        """The token, or None when there is none (the source then delivers nothing)."""
        ...

    def client(self, api_url: str, *, max_in_flight: int) -> GitHubClient:
        """A client for `api_url`, used as a context manager."""
        ...


class GitHubRestSource:
    """Workflow runs, api-proxy token usage from run artifacts, and Copilot coding-agent pull
    requests, from the GitHub REST API (or GitHub Enterprise Server via GITHUB_API_URL).

    On when repos are configured (finops.yaml `sources.github.repos` or FINOPS_GITHUB_REPOS);
    authenticated by GITHUB_TOKEN. A failure never erases what earlier runs delivered: the
    day's raw slice is only replaced by a complete fetch. Output: raw/github/.
    """

    name = SOURCE
    landing_name = None
    raw_kinds = ("runs", "token_usage", "pull_requests", "skips")
    asset_kinds = frozenset({"github", "python"})
    resource_keys = frozenset({"github"})
    off_hint = "no repos in finops.yaml sources.github or FINOPS_GITHUB_REPOS"

    def enabled(self, settings: Settings) -> bool:
        return bool(settings.github_repos)

    def extract(self, ctx: SourceContext, days: Sequence[dt.date]) -> Iterator[SourceDay]:
        settings = ctx.settings
        access: GitHubAccess = ctx.resources["github"]
        token = access.resolved_token()
        if not token:
            yield from failed_days(days, NO_TOKEN.format(repos=", ".join(settings.github_repos)))
            return
        cfg = settings.config.sources.github or GitHubSettings()  # repos may come from the env
        with access.client(settings.github_api_url, max_in_flight=cfg.max_concurrency) as client:
            for i, day in enumerate(days):
                try:
                    fetched = fetch_day(client, settings.github_repos, day,
                                        artifact_patterns=cfg.artifact_names,
                                        max_workers=cfg.max_concurrency)
                except GitHubError as exc:
                    undelivered, stop = fetch_failed(exc, day, days[i + 1:])
                    yield from undelivered
                    if stop:
                        return
                    continue
                frames = raw_frames(fetched)
                yield SourceDay(day, frames, problems=list(fetched.problems), figures={
                    "runs": frames["runs"].height,
                    "pending_runs": len(fetched.pending_runs),
                    "token_lines": frames["token_usage"].height,
                    "pull_requests": frames["pull_requests"].height,
                    "runs_skipped": int(frames["skips"]["count"].sum()),
                })
