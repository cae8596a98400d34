"""Pull requests opened by the Copilot coding agent, with their current outcome."""

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
        "updated_at": pull.get("updated_at"),
        "merged_at": pull.get("merged_at"),
        "closed_at": pull.get("closed_at"),
        "head_ref": (pull.get("head") or {}).get("ref"),
        "author": (pull.get("user") or {}).get("login"),
        "title": pull.get("title"),
        "url": pull.get("html_url"),
    }


def list_copilot_pulls(client: GitHubClient, repo: str, day: dt.date | str) -> list[dict]:
    """Copilot coding-agent pull requests of `repo` last updated, or created, on the UTC
    `day`, in their state now, by number.

    A pull request's outcome comes after its run (merged a week later), so the day's slice is
    the pull requests that *changed* that day: the fetch of the day a pull request merged
    records it merged, whatever day it was opened. The day it was opened lists it too, in its
    state at that fetch. The warehouse counts each in its latest observed state (the greatest
    updated_at).
    Lists by last update, newest first, and stops paging at the first one updated before the
    day, so a busy repository costs a few pages, not its whole history.
    """
    repo = check_repo(repo)
    start, end = day_bounds(as_day(day))
    pages = client.paginate(
        f"/repos/{repo}/pulls",
        {"state": "all", "sort": "updated", "direction": "desc", "per_page": 100},
        None,
    )
    found: dict[int, dict] = {}
    for pull in pages:
        updated = parse_time(pull.get("updated_at") or pull.get("created_at"))
        if updated is None:
            continue
        if updated >= end:
            # Changed since: it belongs to a later day, and to its creation day too, so a
            # backfill of the day it was opened sees its outcome even when the day it changed
            # is never fetched. The listing pages through these anyway (newest first) to
            # reach the day, so keeping them costs no request; a backfill of an old day pages
            # through every pull request updated since.
            created = parse_time(pull.get("created_at"))
            if created is None or not start <= created < end:
                continue
        elif updated < start:
            break
        if is_copilot_pull(pull) and isinstance(pull.get("number"), int):
            found[pull["number"]] = normalize_pull(repo, pull)
    return [found[n] for n in sorted(found)]
