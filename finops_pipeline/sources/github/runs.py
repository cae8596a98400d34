"""Workflow runs created on one UTC day, around GitHub's 1,000-result cap.

A filtered listing (`created=...`) serves at most 1,000 runs however many match, while its
`total_count` reports the true number. When a window reaches the cap it is split into smaller
windows (6 h, 1 h, 10 min, 1 min, 10 s, 1 s) until each is under it.
"""

from __future__ import annotations

import datetime as dt
import logging

from finops_pipeline.sources.github._common import as_day, check_repo, day_bounds
from finops_pipeline.sources.github.client import GitHubClient

log = logging.getLogger("finops_pipeline.github")

RESULT_CAP = 1000
PER_PAGE = 100
#: Window lengths (seconds) tried in turn when a window holds too many runs.
SPLIT_STEPS = (6 * 3600, 3600, 600, 60, 10, 1)


def window_filter(start: dt.datetime, seconds: int) -> str:
    """The `created` qualifier for `seconds` seconds from `start`, both ends inclusive."""
    end = start + dt.timedelta(seconds=seconds - 1)
    return f"{start:%Y-%m-%dT%H:%M:%SZ}..{end:%Y-%m-%dT%H:%M:%SZ}"


def list_runs(
    client: GitHubClient,
    repo: str,
    day: dt.date | str,
    *,
    problems: list[str] | None = None,
) -> list[dict]:
    """Every workflow run of `repo` created on the UTC `day`, raw JSON as the API sends it.

    Deduplicated by (id, run_attempt), sorted by id. A one-second window still at the cap
    (more than 1,000 runs created within one second) cannot be split further: what GitHub
    serves is kept and the shortfall is appended to `problems`.
    """
    repo = check_repo(repo)
    day = as_day(day)
    start, end = day_bounds(day)
    found: dict[tuple[int, int], dict] = {}
    _collect(
        client,
        repo,
        day.isoformat(),
        start,
        int((end - start).total_seconds()),
        found,
        problems,
    )
    return sorted(found.values(), key=lambda r: (r["id"], r.get("run_attempt") or 1))


def _collect(
    client: GitHubClient,
    repo: str,
    created: str,
    start: dt.datetime,
    seconds: int,
    found: dict[tuple[int, int], dict],
    problems: list[str] | None,
) -> None:
    pages = client.paginate(
        f"/repos/{repo}/actions/runs",
        {"created": created, "per_page": PER_PAGE},
        "workflow_runs",
    )
    total = pages.total_count or 0
    if total >= RESULT_CAP and seconds > 1:
        step = next(s for s in SPLIT_STEPS if s < seconds)
        log.info(
            "github: %s has %d runs in created=%s (cap %d); splitting into %d s windows",
            repo,
            total,
            created,
            RESULT_CAP,
            step,
        )
        for offset in range(0, seconds, step):
            part_start = start + dt.timedelta(seconds=offset)
            part = min(step, seconds - offset)
            _collect(
                client, repo, window_filter(part_start, part), part_start, part, found, problems
            )
        return
    if total >= RESULT_CAP:
        message = (
            f"{repo}: {total} runs created within one second ({created}); GitHub serves only "
            f"the first {RESULT_CAP}"
        )
        log.warning("github: %s", message)
        if problems is not None:
            problems.append(message)
    for run in pages:
        if not isinstance(run.get("id"), int):
            continue
        # The same run can show up twice when a listing shifts between pages.
        found[(run["id"], run.get("run_attempt") or 1)] = run
