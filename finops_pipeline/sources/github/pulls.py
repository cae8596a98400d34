"""Pull requests opened by the Copilot coding agent, with their outcome."""

from __future__ import annotations

import datetime as dt

from finops_pipeline.sources.github._common import as_day, check_repo, day_bounds, parse_time
from finops_pipeline.sources.github.client import GitHubClient

#: Logins the Copilot coding agent opens pull requests as (compared case-insensitively).
COPILOT_LOGINS = frozenset({"copilot", "copilot-swe-agent[bot]", "copilot-swe-agent"})
COPILOT_BRANCH_PREFIX = "copilot/"


def is_copilot_pull(pull: dict) -> bool:
    """Opened by the Copilot coding agent: its login, or a `copilot/` head branch."""
    login = ((pull.get("user") or {}).get("login") or "").lower()
    ref = (pull.get("head") or {}).get("ref") or ""
    return login in COPILOT_LOGINS or ref.startswith(COPILOT_BRANCH_PREFIX)


def pull_state(pull: dict) -> str:
    """`merged` when merged_at is set; `rejected` when closed unmerged; else `open`."""
    if pull.get("merged_at"):
        return "merged"
    if pull.get("closed_at") or pull.get("state") == "closed":
        return "rejected"
    return "open"


def normalize_pull(repo: str, pull: dict) -> dict:
    """The fields the pipeline keeps of a pull request."""
    return {
        "repo": repo,
        "number": pull.get("number"),
        "state": pull_state(pull),
        "created_at": pull.get("created_at"),
        "merged_at": pull.get("merged_at"),
        "closed_at": pull.get("closed_at"),
        "head_ref": (pull.get("head") or {}).get("ref"),
        "author": (pull.get("user") or {}).get("login"),
        "title": pull.get("title"),
        "url": pull.get("html_url"),
    }


def list_copilot_pulls(client: GitHubClient, repo: str, day: dt.date | str) -> list[dict]:
    """Copilot coding-agent pull requests of `repo` created on the UTC `day`, by number.

    Lists newest first and stops paging at the first pull request created before the day,
    so a busy repository costs a few pages, not its whole history.
    """
    repo = check_repo(repo)
    start, end = day_bounds(as_day(day))
    pages = client.paginate(
        f"/repos/{repo}/pulls",
        {"state": "all", "sort": "created", "direction": "desc", "per_page": 100},
        None,
    )
    found: dict[int, dict] = {}
    for pull in pages:
        created = parse_time(pull.get("created_at"))
        if created is None or created >= end:
            continue
        if created < start:
            break
        if is_copilot_pull(pull) and isinstance(pull.get("number"), int):
            found[pull["number"]] = normalize_pull(repo, pull)
    return [found[n] for n in sorted(found)]
