"""GitHub REST source: workflow runs, their artifacts' token usage, Copilot pull requests.

Pure Python on `requests`: knows nothing of Dagster, the lake or the warehouse.
See docs/github.md.
"""

from finops_pipeline.config import DEFAULT_API_URL, DEFAULT_ARTIFACT_PATTERNS
from finops_pipeline.sources.github.archive import ArchiveContent, ArchiveLimits, read_archive
from finops_pipeline.sources.github.artifacts import (
    download_artifact,
    list_artifacts,
    select_artifacts,
)
from finops_pipeline.sources.github.client import (
    Clock,
    GitHubAuthError,
    GitHubClient,
    GitHubError,
    GitHubGone,
    GitHubNotFound,
    GitHubPermissionError,
    GitHubRetriesExhausted,
    GitHubTooLarge,
    SystemClock,
)
from finops_pipeline.sources.github.fetch import GitHubDay, TokenFile, fetch_day
from finops_pipeline.sources.github.pulls import list_copilot_pulls
from finops_pipeline.sources.github.runs import list_runs

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_ARTIFACT_PATTERNS",
    "ArchiveContent",
    "ArchiveLimits",
    "Clock",
    "GitHubAuthError",
    "GitHubClient",
    "GitHubDay",
    "GitHubError",
    "GitHubGone",
    "GitHubNotFound",
    "GitHubPermissionError",
    "GitHubRetriesExhausted",
    "GitHubTooLarge",
    "SystemClock",
    "TokenFile",
    "download_artifact",
    "fetch_day",
    "list_artifacts",
    "list_copilot_pulls",
    "list_runs",
    "read_archive",
    "select_artifacts",
]
