"""Artifacts of a workflow run: list, select by name pattern, download."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase

from finops_pipeline.config import DEFAULT_ARTIFACT_PATTERNS
from finops_pipeline.sources.github._common import check_repo
from finops_pipeline.sources.github.client import GitHubClient, GitHubGone, redact_url


def list_artifacts(client: GitHubClient, repo: str, run_id: int) -> list[dict]:
    """Every artifact of a run (raw API JSON), following `Link` headers."""
    repo = check_repo(repo)
    pages = client.paginate(
        f"/repos/{repo}/actions/runs/{int(run_id)}/artifacts", {"per_page": 100}, "artifacts"
    )
    return list(pages)


def match_artifacts(artifacts: Iterable[dict], patterns: Sequence[str]) -> list[dict]:
    """Artifacts whose name matches one of the fnmatch `patterns` (case-sensitive),
    expired ones included, in (name, id) order."""
    chosen = [
        a
        for a in artifacts
        if isinstance(a.get("name"), str) and any(fnmatchcase(a["name"], p) for p in patterns)
    ]
    return sorted(chosen, key=lambda a: (a["name"], a.get("id") or 0))


def select_artifacts(
    artifacts: Iterable[dict], patterns: Sequence[str] = DEFAULT_ARTIFACT_PATTERNS
) -> list[dict]:
    """The artifacts worth downloading: name matches a pattern, not `expired`."""
    return [a for a in match_artifacts(artifacts, patterns) if not a.get("expired")]


def download_artifact(client: GitHubClient, artifact: dict, *, max_bytes: int) -> bytes:
    """The zip of one artifact. An artifact marked `expired` raises `GitHubGone` unasked."""
    url = artifact.get("archive_download_url")
    if artifact.get("expired"):
        raise GitHubGone(
            f"artifact {artifact.get('name')!r} ({artifact.get('id')}) has expired",
            status=410,
            url=redact_url(url) if isinstance(url, str) else None,
        )
    if not isinstance(url, str) or not url:
        raise ValueError(f"artifact {artifact.get('id')} has no archive_download_url")
    return client.download(url, max_bytes=max_bytes)
