"""Copilot coding-agent pull requests: filtering, states, and paging that stops early."""

from __future__ import annotations

import datetime as dt

import pytest

from finops_pipeline.sources.github.client import GitHubClient
from finops_pipeline.sources.github.pulls import is_copilot_pull, list_copilot_pulls, pull_state
from finops_pipeline_tests.fake_github import FakeClock, FakeGitHub

TOKEN = "ghp_" + "pullstest" + "3" * 27
REPO = "acme/web"
DAY = dt.date(2026, 3, 1)


@pytest.fixture
def gh():
    with FakeGitHub(token=TOKEN) as fake:
        fake.add_repo(REPO)
        yield fake


@pytest.fixture
def client(gh):
    c = GitHubClient(gh.api_url, TOKEN, clock=FakeClock())
    yield c
    c.close()


def test_filter_and_states(gh, client):
    gh.add_pull(REPO, 1, created_at="2026-03-01T01:00:00Z", merged_at="2026-03-01T05:00:00Z")
    gh.add_pull(
        REPO,
        2,
        created_at="2026-03-01T02:00:00Z",
        author="copilot-swe-agent[bot]",
        closed_at="2026-03-02T00:00:00Z",
    )
    gh.add_pull(REPO, 3, created_at="2026-03-01T03:00:00Z", author="Copilot")
    gh.add_pull(
        REPO, 4, created_at="2026-03-01T04:00:00Z", author="octocat", head_ref="copilot/fix-x"
    )
    gh.add_pull(REPO, 5, created_at="2026-03-01T05:00:00Z", author="octocat", head_ref="feature")
    gh.add_pull(REPO, 6, created_at="2026-02-28T23:59:59Z")  # the day before
    gh.add_pull(REPO, 7, created_at="2026-03-02T00:00:00Z")  # the day after
    # opened a week earlier, merged on the day: the day's slice holds its current outcome
    gh.add_pull(REPO, 8, created_at="2026-02-22T10:00:00Z", merged_at="2026-03-01T09:00:00Z")
    pulls = list_copilot_pulls(client, REPO, DAY)
    # 2 was opened on the day and closed the next: both days list it, in its state now
    assert [(p["number"], p["state"]) for p in pulls] == [
        (1, "merged"),
        (2, "rejected"),
        (3, "open"),
        (4, "open"),
        (8, "merged"),
    ]
    assert [p["number"] for p in list_copilot_pulls(client, REPO, "2026-03-02")] == [2, 7]
    # the day 8 was opened lists it too, merged: a backfill of that week sees the outcome
    assert [(p["number"], p["state"]) for p in
            list_copilot_pulls(client, REPO, "2026-02-22")] == [(8, "merged")]
    first = pulls[0]
    assert first == {
        "repo": REPO,
        "number": 1,
        "state": "merged",
        "created_at": "2026-03-01T01:00:00Z",
        "updated_at": "2026-03-01T05:00:00Z",
        "merged_at": "2026-03-01T05:00:00Z",
        "closed_at": "2026-03-01T05:00:00Z",
        "head_ref": "copilot/task-1",
        "author": "Copilot",
        "title": "PR 1",
        "url": f"https://github.com/{REPO}/pull/1",
    }
    query = gh.requests[0].query
    for part in ("state=all", "sort=updated", "direction=desc", "per_page=100"):
        assert part in query


def test_paging_stops_before_older_pull_requests(gh, client):
    # 450 PRs, three an hour from Feb 25 to Mar 3; listed newest first, 100 a page
    start = dt.datetime(2026, 2, 25, tzinfo=dt.UTC)
    for n in range(1, 451):
        gh.add_pull(REPO, n, created_at=start + dt.timedelta(hours=n // 3))
    pulls = list_copilot_pulls(client, REPO, DAY)
    expected = [n for n in range(1, 451) if (start + dt.timedelta(hours=n // 3)).date() == DAY]
    assert len(expected) == 72
    assert [p["number"] for p in pulls] == expected
    # page 2 reaches Feb 28: pages 3 to 5 are never fetched
    assert len(gh.requests) == 2


@pytest.mark.parametrize(
    ("pull", "expected"),
    [
        ({"user": {"login": "Copilot"}, "head": {"ref": "main"}}, True),
        ({"user": {"login": "COPILOT-SWE-AGENT[BOT]"}, "head": {"ref": "x"}}, True),
        ({"user": {"login": "dev"}, "head": {"ref": "copilot/issue-3"}}, True),
        ({"user": {"login": "dev"}, "head": {"ref": "feature/copilot"}}, False),
        ({"user": None, "head": None}, False),
    ],
)
def test_is_copilot_pull(pull, expected):
    assert is_copilot_pull(pull) is expected


def test_pull_state():
    assert pull_state({"merged_at": "x", "closed_at": "x", "state": "closed"}) == "merged"
    assert pull_state({"merged_at": None, "closed_at": "x", "state": "closed"}) == "rejected"
    assert pull_state({"merged_at": None, "closed_at": None, "state": "open"}) == "open"
