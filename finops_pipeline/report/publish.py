"""Publish a day's report as a GitHub issue, as the agent firewall's daily token-usage
workflow does: one issue per day titled "Token Usage Report: YYYY-MM-DD" with the report label,
and older report issues closed (gh-aw's `close-older-issues`).

* Re-publishing a day edits that day's issue (found by its exact title among the label's
  issues, open or closed) instead of posting a second one; an unchanged body is not written.
* After publishing, only the newest report stays open: every open issue with the label and a
  report title of an earlier day is closed. Backfilling an old day therefore updates (or
  creates, then closes) its issue without reopening it or closing the newer one.
* A create that failed in a way that may have happened anyway (a 5xx, a lost connection) is
  not blindly retried: the label's issues are listed again, and only if the day's issue is
  still missing is it created once more.
* The charts cannot be attached: GitHub's REST API has no upload for issue images. Each image
  becomes a note naming the PNG beside the report in the data directory.
* An issue body holds at most 65,536 characters: past that, the per-workflow `<details>`
  blocks are dropped from the end, with a note saying so and where the whole report is.

The token is the GitHub source's (GITHUB_TOKEN, sent to the API host only); the client scrubs it
from every message.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from finops_pipeline.report.markdown import TITLE
from finops_pipeline.sources.github.client import GitHubClient
from finops_pipeline.sources.github.errors import GitHubError, GitHubPermissionError

#: GitHub's limit on an issue body.
BODY_LIMIT = 65_536
#: Attempts at creating the day's issue when a failure leaves it unknown whether it was made.
CREATE_ATTEMPTS = 3
_TITLE_RE = re.compile(r"^Token Usage Report: (\d{4}-\d{2}-\d{2})$")
_IMAGE_RE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+\.png)\)")
_DETAILS_RE = re.compile(r"<details><summary><b>.*?</details>\n\n", re.DOTALL)


class PublishError(Exception):
    """Publishing failed; the message says what to fix (never the token)."""


@dataclass
class Published:
    day: dt.date
    action: str  # created, updated, unchanged
    number: int
    url: str
    closed: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def issue_body(markdown: str, report_path: str) -> tuple[str, list[str]]:
    """The issue's body for a report (images as notes, cut to GitHub's limit) and what was
    changed, for the publish log."""
    notes = []
    body, images = _IMAGE_RE.subn(
        lambda m: f"> 📈 *{m.group(1)}*: `{m.group(2)}` beside the report (GitHub's API cannot "
                  "attach images to an issue).", markdown)
    if images:
        notes.append(f"{images} charts replaced by notes naming their PNG files")
    if len(body) > BODY_LIMIT:
        blocks = list(_DETAILS_RE.finditer(body))
        tail = (f"\n\n> ✂️ Per-workflow details cut to fit GitHub's {BODY_LIMIT:,}-character "
                f"limit; the whole report: `{report_path}`.\n")
        dropped = 0
        while blocks and len(body) + len(tail) > BODY_LIMIT:
            last = blocks.pop()
            body = body[:last.start()] + body[last.end():]
            dropped += 1
        body = body.rstrip() + tail
        notes.append(f"{dropped} per-workflow blocks cut to fit the body limit")
        if len(body) > BODY_LIMIT:
            body = body[: BODY_LIMIT - len(tail)] + tail
    return body, notes


def _report_day(title: str) -> dt.date | None:
    match = _TITLE_RE.match(title or "")
    return dt.date.fromisoformat(match.group(1)) if match else None


def _label_issues(client: GitHubClient, repo: str, label: str) -> list[dict]:
    """The label's issues, open and closed (pull requests, which the endpoint also lists,
    left out)."""
    return [i for i in client.paginate(f"/repos/{repo}/issues",
                                       {"labels": label, "state": "all", "per_page": 100})
            if "pull_request" not in i]


def _create(client: GitHubClient, repo: str, label: str, title: str, body: str) -> dict:
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        try:
            return client.write_json("POST", f"/repos/{repo}/issues",
                                     {"title": title, "body": body, "labels": [label]},
                                     retry_unsure=False)
        except GitHubPermissionError:
            raise
        except GitHubError:
            # Did it happen anyway? Look before trying again: never two issues for a day.
            made = [i for i in _label_issues(client, repo, label) if i["title"] == title]
            if made:
                return made[0]
            if attempt == CREATE_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def publish_report(client: GitHubClient, repo: str, label: str, day: dt.date, markdown: str,
                   report_path: str) -> Published:
    """Create or edit the day's issue in `repo`, then close the label's older open reports."""
    title = TITLE.format(day=day.isoformat())
    body, notes = issue_body(markdown, report_path)
    try:
        issues = _label_issues(client, repo, label)
        same_day = sorted((i for i in issues if i.get("title") == title),
                          key=lambda i: i["number"])
        if same_day:
            issue = same_day[0]
            if (issue.get("body") or "") == body:
                action = "unchanged"
            else:
                issue = client.write_json("PATCH", f"/repos/{repo}/issues/{issue['number']}",
                                          {"body": body}, retry_unsure=True)
                action = "updated"
        else:
            issue = _create(client, repo, label, title, body)
            action = "created"
            issues.append(issue)
        newest = max((d for d in (_report_day(i.get("title")) for i in issues) if d),
                     default=day)
        closed = []
        for other in issues:
            other_day = _report_day(other.get("title"))
            if other.get("state") == "open" and other_day and other_day < newest:
                client.write_json("PATCH", f"/repos/{repo}/issues/{other['number']}",
                                  {"state": "closed", "state_reason": "completed"},
                                  retry_unsure=True)
                closed.append(other["number"])
    except GitHubPermissionError as exc:
        raise PublishError(f"cannot publish the report to {repo}: the token needs "
                           f"issues:write there ({exc})") from None
    except GitHubError as exc:
        raise PublishError(f"cannot publish the report of {day} to {repo}: {exc}") from None
    return Published(day, action, int(issue["number"]), issue.get("html_url", ""),
                     sorted(closed), notes)
