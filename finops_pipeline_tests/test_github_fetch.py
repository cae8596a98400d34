"""fetch_day end to end against the fake GitHub: choices, skips, faults, concurrency."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from finops_pipeline.schemas.gh_aw_layout import CANONICAL_TOKEN_USAGE
from finops_pipeline.sources.github.archive import ArchiveLimits
from finops_pipeline.sources.github.client import (
    GitHubAuthError,
    GitHubClient,
    GitHubRetriesExhausted,
)
from finops_pipeline.sources.github.fetch import GitHubDay, fetch_day
from finops_pipeline_tests.fake_github import FakeClock, FakeGitHub, Fault, make_zip

TOKEN = "ghp_" + "fetchtest" + "4" * 27
API = "acme/api"
WEB = "acme/web"
DAY = dt.date(2026, 3, 1)
LIMITS = ArchiveLimits(max_member_bytes=10_000)


def line(n: int) -> bytes:
    return b'{"timestamp":"2026-03-01T10:00:00Z","request_id":"r%d","provider":"anthropic"}\n' % n


def build(gh: FakeGitHub) -> None:
    """A day with one run for every case fetch_day must handle."""
    t = "2026-03-01T10:00:00Z"

    def run(run_id: int, repo: str = API, **kw) -> int:
        gh.add_run(repo, created_at=t, id=run_id, **kw)
        return run_id

    r = run(101)  # the plain case: canonical token usage, aw_info and agent_usage
    gh.add_artifact(
        API,
        r,
        "agent",
        make_zip(
            {
                CANONICAL_TOKEN_USAGE: line(101),
                "aw_info.json": b'{"engine":"claude"}',
                "agent_usage.json": b'{"turns":3}',
            }
        ),
    )
    r = run(102)  # the canonical copy in another artifact wins over the agent's copy
    gh.add_artifact(API, r, "agent", make_zip({"logs/token-usage.jsonl": b"agent copy\n"}))
    gh.add_artifact(API, r, "firewall-audit-logs", make_zip({CANONICAL_TOKEN_USAGE: line(102)}))
    r = run(103)  # no canonical copy anywhere: artifact name order decides
    gh.add_artifact(API, r, "agent-artifacts", make_zip({"token-usage.jsonl": b"second\n"}))
    gh.add_artifact(API, r, "agent", make_zip({"x/token-usage.jsonl": line(103)}))
    r = run(104)  # nothing matching the patterns
    gh.add_artifact(API, r, "build-output", make_zip({CANONICAL_TOKEN_USAGE: line(104)}))
    r = run(105)  # listed as expired
    gh.add_artifact(API, r, "agent", make_zip({CANONICAL_TOKEN_USAGE: line(105)}), expired=True)
    r = run(106)  # expires between listing and download: 410
    gh.add_artifact(API, r, "agent", make_zip({CANONICAL_TOKEN_USAGE: line(106)}), gone=True)
    r = run(107)  # corrupt zip
    gh.add_artifact(API, r, "agent", b"PK\x03\x04 definitely not a zip")
    r = run(108)  # a zip without token usage
    gh.add_artifact(API, r, "agent", make_zip({"aw_info.json": b'{"engine":"copilot"}'}))
    run(109, status="in_progress")  # pending: its artifacts are not fetched
    run(113, status="queued")
    r = run(110)  # hostile names beside a good member
    gh.add_artifact(
        API,
        r,
        "agent",
        make_zip(
            {
                "../../etc/x": b"evil",
                "/abs/token-usage.jsonl": b"evil\n",
                "t/token-usage.jsonl": line(110),
            }
        ),
    )
    r = run(111)  # token usage over the member limit; aw_info still kept
    gh.add_artifact(
        API,
        r,
        "firewall-logs-2",
        make_zip({"token-usage.jsonl": line(111) * 200, "aw_info.json": b"{}"}),
    )
    r = run(112, run_attempt=2)
    gh.add_artifact(API, r, "agent", make_zip({CANONICAL_TOKEN_USAGE: line(112)}))
    gh.add_run(API, created_at="2026-02-28T10:00:00Z", id=99)  # another day
    r = run(201, repo=WEB)
    gh.add_artifact(WEB, r, "agent", make_zip({CANONICAL_TOKEN_USAGE: line(201)}))
    gh.add_pull(WEB, 7, created_at=t, merged_at="2026-03-01T12:00:00Z")
    gh.add_pull(WEB, 8, created_at=t, author="octocat", head_ref="feature")
    gh.add_pull(WEB, 9, created_at=t, closed_at="2026-03-01T13:00:00Z")


@pytest.fixture
def gh():
    with FakeGitHub(token=TOKEN) as fake:
        build(fake)
        yield fake


@pytest.fixture
def clock():
    return FakeClock()


def client_for(gh: FakeGitHub, clock: FakeClock, **kw) -> GitHubClient:
    kw.setdefault("timeout", 0.4)
    return GitHubClient(gh.api_url, TOKEN, clock=clock, rng=random.Random(5), **kw)


def fetch(gh: FakeGitHub, clock: FakeClock, repos=(API, WEB), **kw) -> GitHubDay:
    with client_for(gh, clock) as c:
        return fetch_day(c, list(repos), DAY, limits=LIMITS, **kw)


def snapshot(day: GitHubDay) -> dict:
    return {
        "runs": day.runs,
        "token_files": [
            (t.repo, t.run_id, t.run_attempt, t.artifact_name, t.member_path, t.data)
            for t in day.token_files
        ],
        "aw_info": day.aw_info,
        "agent_usage": day.agent_usage,
        "pull_requests": day.pull_requests,
        "skipped": day.skipped,
        "problems": day.problems,
        "ignored_copies": day.ignored_copies,
    }


def test_fetch_day_end_to_end(gh, clock):
    day = fetch(gh, clock)
    assert [(r["repository"]["full_name"], r["id"]) for r in day.runs] == [
        (API, i) for i in range(101, 114)
    ] + [(WEB, 201)]
    assert {r["id"] for r in day.pending_runs} == {109, 113}
    files = {t.run_id: t for t in day.token_files}
    assert sorted(files) == [101, 102, 103, 110, 112, 201]
    assert files[101].data == line(101) and files[101].member_path == CANONICAL_TOKEN_USAGE
    assert (files[102].artifact_name, files[102].data) == ("firewall-audit-logs", line(102))
    assert (files[103].artifact_name, files[103].member_path) == ("agent", "x/token-usage.jsonl")
    assert files[110].data == line(110)
    assert files[112].run_attempt == 2
    assert day.aw_info == {
        (API, 101): b'{"engine":"claude"}',
        (API, 108): b'{"engine":"copilot"}',
        (API, 111): b"{}",
    }
    assert day.agent_usage == {(API, 101): b'{"turns":3}'}
    assert day.skipped == {
        "archive limit exceeded": 1,
        "artifact expired": 1,
        "artifact expired (410)": 1,
        "corrupt zip": 1,
        "no matching artifact": 1,
        "no token-usage.jsonl in artifacts": 2,  # 108, and 111 whose copy was over the limit
        "run not completed": 2,
    }
    states = [(p["number"], p["state"]) for p in day.pull_requests]
    assert states == [(7, "merged"), (9, "rejected")]
    assert any("run 107" in p and "corrupt zip" in p for p in day.problems)
    assert any("run 110" in p and "'../../etc/x'" in p for p in day.problems)
    assert any("run 111" in p and "archive limit exceeded" in p for p in day.problems)
    assert any("run 102" in p and "logs/token-usage.jsonl" in p for p in day.ignored_copies)
    assert any("run 103" in p and "'agent-artifacts'" in p for p in day.ignored_copies)
    # pending runs cost no artifact listing
    assert not gh.requests_to("api", "/repos/acme/api/actions/runs/109/*")
    # the blob host never saw a credential
    assert gh.requests_to("blob")
    assert all("authorization" not in r.headers for r in gh.requests_to("blob"))


def test_fetch_day_is_repeatable(gh, clock):
    assert snapshot(fetch(gh, clock)) == snapshot(fetch(gh, clock))


FAULTS = [
    Fault.server_error(500),
    Fault.server_error(502),
    Fault.too_many_requests(3),
    Fault.secondary_rate_limit(403),
    "primary",
    Fault.connection_reset(),
    Fault.connection_close(),
    Fault.slow(1.5),
    Fault.truncated(),
]
WHERE = {
    "runs": ("api", "/repos/acme/api/actions/runs"),
    "artifacts": ("api", "/repos/acme/api/actions/runs/101/artifacts"),
    "zip": ("api", "/repos/acme/api/actions/artifacts/*/zip"),
    "blob": ("blob", "/blobs/*"),
    "pulls": ("api", "/repos/acme/web/pulls"),
}


@pytest.mark.parametrize("where", list(WHERE))
@pytest.mark.parametrize(
    "fault", FAULTS, ids=lambda f: f if isinstance(f, str) else f.kind + str(f.status or "")
)
def test_faults_end_with_the_same_day(gh, clock, where, fault):
    expected = snapshot(fetch(gh, clock))
    clock.sleeps.clear()
    host, path = WHERE[where]
    if fault == "primary":
        fault = Fault.primary_rate_limit(clock.now() + 600)
    gh.inject(path, fault, fault, host=host)  # twice in a row
    assert snapshot(fetch(gh, clock)) == expected
    assert gh.pending_faults() == 0
    if not (where == "zip" and fault.kind == "truncated"):  # a 302's body is never read
        assert len(clock.sleeps) >= 2
    if host == "api" and fault.status in (403,) and b"secondary" in fault.body:
        assert max(clock.sleeps) >= 60
    if host == "api" and fault.headers and dict(fault.headers).get("x-ratelimit-remaining"):
        assert max(clock.sleeps) >= 500


def test_concurrency_is_bounded_by_the_client(clock):
    with FakeGitHub(token=TOKEN, latency=0.015) as fake:
        for run in fake.add_runs(API, DAY, 24):
            fake.add_artifact(API, run["id"], "agent", make_zip({"token-usage.jsonl": line(1)}))
        for limit in (1, 3):
            fake.reset_log()
            with client_for(fake, clock, max_in_flight=limit) as c:
                day = fetch_day(c, [API], DAY, max_workers=8, pull_requests=False)
            assert len(day.token_files) == 24
            assert fake.max_in_flight == limit  # never more, and the pool does use them all


def test_a_failing_run_does_not_stop_the_day(gh, clock):
    gh.inject("/repos/acme/api/actions/runs/101/artifacts", Fault.http(404, {"message": "x"}))
    (artifact_id,) = gh._run_artifacts[(API, 112)]
    gh.inject(gh.artifact_zip_path(API, artifact_id), *[Fault.server_error(502)] * 7)
    day = fetch(gh, clock)
    assert day.skipped["artifact listing failed"] == 1
    assert day.skipped["artifact download failed"] == 1
    assert {t.run_id for t in day.token_files} == {102, 103, 110, 201}
    assert any("run 101: artifacts not listed" in p for p in day.problems)


def test_a_refused_token_stops_the_day(gh, clock):
    gh.inject("/repos/acme/api/actions/runs/*/artifacts", Fault.http(401, {"message": "Bad"}))
    with pytest.raises(GitHubAuthError):
        fetch(gh, clock)


def test_a_failed_runs_listing_raises_rather_than_return_a_partial_day(gh, clock):
    gh.inject("/repos/acme/web/actions/runs", *[Fault.server_error(500)] * 7)
    with pytest.raises(GitHubRetriesExhausted):
        fetch(gh, clock)


def test_an_inaccessible_repository_is_recorded(gh, clock):
    gh.inject("/repos/acme/web/actions/runs", Fault.permission_denied())
    day = fetch(gh, clock, repos=(API, WEB, "acme/missing"))
    assert day.skipped["repository not accessible"] == 2
    assert not any(r["repository"]["full_name"] == WEB for r in day.runs)
    assert len([p for p in day.problems if "repository not accessible" in p]) == 2


def test_too_large_artifact_is_skipped(gh, clock):
    with client_for(gh, clock) as c:
        day = fetch_day(c, [API], DAY, limits=ArchiveLimits(max_archive_bytes=150))
    assert day.skipped["artifact too large"] > 0
    assert clock.sleeps == []


def test_artifact_patterns_are_configurable(gh, clock):
    with client_for(gh, clock) as c:
        day = fetch_day(c, [API], DAY, artifact_patterns=["build-*"], pull_requests=False)
    assert [(t.run_id, t.artifact_name) for t in day.token_files] == [(104, "build-output")]
    assert day.pull_requests == []
