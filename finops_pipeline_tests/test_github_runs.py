"""Listing a day's runs: Link pagination and splitting windows around the 1,000-result cap."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs

import pytest

from finops_pipeline.sources.github.client import GitHubClient
from finops_pipeline.sources.github.runs import list_runs, window_filter
from finops_pipeline_tests.fake_github import FakeClock, FakeGitHub

TOKEN = "ghp_" + "runstest" + "2" * 28
REPO = "acme/api"
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


def _created(gh: FakeGitHub) -> list[str]:
    return [parse_qs(r.query)["created"][0] for r in gh.requests if "cursor" not in r.query]


def test_window_filter_format():
    start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    assert window_filter(start, 6 * 3600) == "2026-03-01T00:00:00Z..2026-03-01T05:59:59Z"
    assert window_filter(start, 1) == "2026-03-01T00:00:00Z..2026-03-01T00:00:00Z"


def test_runs_of_the_day_only_sorted_by_id(gh, client):
    gh.add_run(REPO, created_at="2026-02-28T23:59:59Z", id=1)
    gh.add_run(REPO, created_at="2026-03-01T00:00:00Z", id=30)
    gh.add_run(REPO, created_at="2026-03-01T12:00:00Z", id=20, status="in_progress")
    gh.add_run(REPO, created_at="2026-03-01T23:59:59Z", id=10, run_attempt=2)
    gh.add_run(REPO, created_at="2026-03-02T00:00:00Z", id=2)
    runs = list_runs(client, REPO, DAY)
    assert [r["id"] for r in runs] == [10, 20, 30]
    assert runs[1]["status"] == "in_progress"  # pending runs are returned, not dropped
    assert runs[0]["run_attempt"] == 2
    assert _created(gh) == ["2026-03-01"]


def test_runs_are_returned_unchanged(gh, client):
    original = gh.add_run(REPO, created_at="2026-03-01T08:00:00Z", id=5, custom_field={"a": 1})
    assert list_runs(client, REPO, "2026-03-01") == [original]


def test_pagination_across_pages(gh, client):
    gh.add_runs(REPO, DAY, 999)
    runs = list_runs(client, REPO, DAY)
    assert [r["id"] for r in runs] == list(range(1, 1000))
    assert len(gh.requests) == 10  # no split under the cap
    assert _created(gh) == ["2026-03-01"]


def test_2500_runs_on_one_day_are_split_into_windows(gh, client):
    gh.add_runs(REPO, DAY, 2500)
    gh.add_run(REPO, created_at="2026-02-28T23:00:00Z", id=90_001)
    gh.add_run(REPO, created_at="2026-03-02T01:00:00Z", id=90_002)
    runs = list_runs(client, REPO, DAY)
    assert [r["id"] for r in runs] == list(range(1, 2501))
    created = _created(gh)
    assert created == [
        "2026-03-01",
        "2026-03-01T00:00:00Z..2026-03-01T05:59:59Z",
        "2026-03-01T06:00:00Z..2026-03-01T11:59:59Z",
        "2026-03-01T12:00:00Z..2026-03-01T17:59:59Z",
        "2026-03-01T18:00:00Z..2026-03-01T23:59:59Z",
    ]
    # never asked for a page beyond what GitHub serves for a filter
    pages = [int(parse_qs(r.query).get("page", ["1"])[0]) for r in gh.requests]
    assert max(pages) <= 10


def test_exactly_1000_runs_is_split(gh, client):
    gh.add_runs(REPO, DAY, 1000)
    runs = list_runs(client, REPO, DAY)
    assert len(runs) == 1000
    assert len(_created(gh)) == 5


def test_splitting_recurses_to_minutes_and_seconds(gh, client):
    # 1,500 runs in one hour, 1,100 of them in one minute
    start = dt.datetime(2026, 3, 1, 14, 0, tzinfo=dt.UTC)
    for i in range(400):
        gh.add_run(REPO, created_at=start + dt.timedelta(seconds=9 * i), id=10_000 + i)
    minute = dt.datetime(2026, 3, 1, 14, 30, tzinfo=dt.UTC)
    for i in range(1100):
        gh.add_run(REPO, created_at=minute + dt.timedelta(seconds=i % 60), id=20_000 + i)
    runs = list_runs(client, REPO, DAY)
    ids = [r["id"] for r in runs]
    assert ids == sorted(set(ids))
    assert len(ids) == 1500
    created = _created(gh)
    assert "2026-03-01T14:00:00Z..2026-03-01T14:59:59Z" in created
    assert "2026-03-01T14:30:00Z..2026-03-01T14:30:59Z" in created
    assert "2026-03-01T14:30:00Z..2026-03-01T14:30:09Z" in created


def test_more_than_1000_runs_in_one_second_is_reported(gh, client):
    moment = dt.datetime(2026, 3, 1, 9, 0, 0, tzinfo=dt.UTC)
    for i in range(1200):
        gh.add_run(REPO, created_at=moment, id=i + 1)
    problems: list[str] = []
    runs = list_runs(client, REPO, DAY, problems=problems)
    assert len(runs) == 1000
    assert len(problems) == 1
    assert "1200 runs created within one second" in problems[0]


def test_duplicates_are_removed_by_id_and_attempt(gh, client):
    run = gh.add_run(REPO, created_at="2026-03-01T08:00:00Z", id=5)
    gh._runs[REPO].append(dict(run))  # the listing shifted: same run twice
    gh.add_run(REPO, created_at="2026-03-01T08:00:00Z", id=5, run_attempt=2)
    runs = list_runs(client, REPO, DAY)
    assert [(r["id"], r["run_attempt"]) for r in runs] == [(5, 1), (5, 2)]


def test_bad_repo_name_is_refused(client):
    with pytest.raises(ValueError, match="owner/name"):
        list_runs(client, "acme/../../user", DAY)
    with pytest.raises(ValueError):
        list_runs(client, "acme", DAY)
