"""GitHubClient against the fake GitHub on loopback: auth, pagination, retries, rate limits."""

from __future__ import annotations

import email.utils
import logging
import random
from urllib.parse import parse_qs

import pytest

from finops_pipeline.sources.github import errors as errors_mod
from finops_pipeline.sources.github.client import (
    GitHubAuthError,
    GitHubClient,
    GitHubError,
    GitHubGone,
    GitHubNotFound,
    GitHubPermissionError,
    GitHubRetriesExhausted,
    redact_url,
)
from finops_pipeline_tests.fake_github import FakeClock, FakeGitHub, Fault

TOKEN = "ghp_" + "clienttest" + "0" * 26
REPO = "acme/api"
RUNS = f"/repos/{REPO}/actions/runs"


@pytest.fixture
def gh():
    with FakeGitHub(token=TOKEN) as fake:
        fake.add_runs(REPO, "2026-03-01", 250)
        yield fake


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def client(gh, clock):
    c = GitHubClient(gh.api_url, TOKEN, clock=clock, timeout=2.0, rng=random.Random(7))
    yield c
    c.close()


def _ids(client: GitHubClient) -> list[int]:
    pages = client.paginate(RUNS, {"created": "2026-03-01", "per_page": 100}, "workflow_runs")
    return [run["id"] for run in pages]


# -- token and headers ----------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "   "])
def test_missing_token_fails_before_any_request(gh, token):
    with pytest.raises(GitHubAuthError, match="GITHUB_TOKEN is not set.*actions:read"):
        GitHubClient(gh.api_url, token)
    assert gh.requests == []


def test_token_with_control_characters_is_refused_without_echo(gh):
    bad = TOKEN + "\r\nX-Evil: 1"
    with pytest.raises(GitHubAuthError) as info:
        GitHubClient(gh.api_url, bad)
    assert TOKEN not in str(info.value)
    assert gh.requests == []


def test_api_url_is_validated():
    with pytest.raises(ValueError, match="http"):
        GitHubClient("ftp://example.com", TOKEN)
    with pytest.raises(ValueError, match="credentials"):
        GitHubClient("https://user:pw@example.com", TOKEN)


def test_requests_carry_bearer_token_and_github_headers(gh, client):
    data = client.get_json("/rate_limit")
    assert data["resources"]["core"]["limit"] == 5000
    (request,) = gh.requests
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["accept"] == "application/vnd.github+json"
    assert request.headers["x-github-api-version"] == "2022-11-28"
    assert request.headers["user-agent"] == "finops-pipeline"


def test_ghes_style_api_url_with_path_prefix(gh):
    # GHES serves the API under /api/v3; the client must keep the prefix (here it 404s).
    c = GitHubClient(gh.api_url + "/api/v3/", TOKEN, clock=FakeClock())
    with pytest.raises(GitHubNotFound):
        c.get_json("/rate_limit")
    assert gh.requests[-1].path == "/api/v3/rate_limit"


def test_absolute_url_on_another_host_is_refused(gh, client):
    with pytest.raises(GitHubError, match="refusing to send the token"):
        client.get_json(gh.blob_url + "/blobs/1?sig=x")
    assert gh.requests == []


# -- pagination -----------------------------------------------------------------------------


def test_paginate_follows_link_headers_and_exposes_total_count(gh, client):
    pages = client.paginate(RUNS, {"created": "2026-03-01", "per_page": 100}, "workflow_runs")
    assert pages.total_count == 250
    assert len(gh.requests) == 1  # total_count only needs the first page
    ids = [run["id"] for run in pages]
    assert sorted(ids) == list(range(1, 251))
    assert len(ids) == 250
    assert pages.pages == 3
    queries = [parse_qs(r.query) for r in gh.requests]
    assert "page" not in queries[0] and "cursor" not in queries[0]
    # later pages are exactly the Link URLs the fake handed out, opaque cursor included
    assert queries[1]["page"] == ["2"] and queries[2]["page"] == ["3"]
    assert all("cursor" in q for q in queries[1:])
    assert all(q["created"] == ["2026-03-01"] and q["per_page"] == ["100"] for q in queries)


def test_paginate_is_lazy(gh, client):
    pages = client.paginate(RUNS, {"created": "2026-03-01", "per_page": 100}, "workflow_runs")
    first = [next(pages) for _ in range(100)]
    assert len(first) == 100
    assert len(gh.requests) == 1


def test_link_to_another_host_is_not_followed(gh, client, monkeypatch):
    original = gh._page

    def evil_page(path, query, items, key, *, total=None):
        answer = original(path, query, items, key, total=total)
        if "Link" in answer.headers:
            answer.headers["Link"] = f'<{gh.blob_url}/steal?page=2>; rel="next"'
        return answer

    monkeypatch.setattr(gh, "_page", evil_page)
    with pytest.raises(GitHubError, match="refusing to send the token"):
        _ids(client)
    assert gh.requests_to("blob") == []


def test_renamed_repository_redirect_is_followed_on_the_api_host(gh, client):
    gh.inject("/repos/old/name/actions/runs", Fault.http(301, b"", {"Location": RUNS}))
    data = client.get_json("/repos/old/name/actions/runs", {"per_page": 1})
    assert data["total_count"] == 250


# -- faults: each ends with the same result as a clean run ----------------------------------


FAULTS = {
    "500": [Fault.server_error(500)],
    "502 twice": [Fault.server_error(502), Fault.server_error(502)],
    "503": [Fault.server_error(503)],
    "429 retry-after": [Fault.too_many_requests(7)],
    "secondary 403": [Fault.secondary_rate_limit(403)],
    "secondary 429": [Fault.secondary_rate_limit(429)],
    "primary exhausted": ["primary"],
    "connection reset": [Fault.connection_reset()],
    "connection close": [Fault.connection_close()],
    "read timeout": [Fault.slow(1.5)],
    "truncated body": [Fault.truncated()],
    "invalid json": [Fault.http(200, b"<html>proxy</html>")],
}


@pytest.mark.parametrize("page", [1, 2])
@pytest.mark.parametrize("name", list(FAULTS))
def test_fault_is_retried_to_the_same_result(gh, clock, name, page):
    c = GitHubClient(gh.api_url, TOKEN, clock=clock, timeout=0.4, rng=random.Random(1))
    expected = _ids(c)
    assert clock.sleeps == []
    gh.reset_log()
    reset_at = clock.now() + 300
    faults = [Fault.primary_rate_limit(reset_at) if f == "primary" else f for f in FAULTS[name]]
    if page == 1:
        gh.inject(RUNS, *faults)
    else:
        # the second page only: let the first request through, then fail
        original = gh._take_fault
        seen = {"n": 0}

        def take(host, path):
            if host == "api" and path == RUNS:
                seen["n"] += 1
                if seen["n"] >= 2 and faults:
                    return faults.pop(0)
            return original(host, path)

        gh._take_fault = take
    assert _ids(c) == expected
    assert gh.pending_faults() == 0
    assert len(clock.sleeps) == len(FAULTS[name])
    if name == "429 retry-after":
        assert clock.sleeps == [7.0]
    elif name.startswith("secondary"):
        assert min(clock.sleeps) >= 60.0
    elif name == "primary exhausted":
        assert clock.sleeps[0] >= 300.0
        assert clock.now() >= reset_at
    else:
        assert all(0 < s <= 60 for s in clock.sleeps)
    c.close()


def test_retry_after_as_http_date(gh, clock, client):
    when = email.utils.formatdate(clock.now() + 42, usegmt=True)
    gh.inject(RUNS, Fault.too_many_requests(when))
    client.get_json(RUNS, {"per_page": 1})
    assert len(clock.sleeps) == 1
    assert 41.0 <= clock.sleeps[0] <= 42.0


def test_retry_after_on_503_is_honoured(gh, clock, client):
    gh.inject(RUNS, Fault.http(503, {"message": "busy"}, {"Retry-After": "11"}))
    client.get_json(RUNS, {"per_page": 1})
    assert clock.sleeps == [11.0]


def test_retries_run_out(gh, clock, client):
    gh.inject(RUNS, *[Fault.server_error(502)] * 7)
    with pytest.raises(GitHubRetriesExhausted, match="after 7 attempts: server error 502"):
        client.get_json(RUNS)
    assert len(gh.requests) == 7
    assert len(clock.sleeps) == 6
    # exponential backoff with jitter: each wait within [d/2, d] for d = 1, 2, 4, ...
    for attempt, slept in enumerate(clock.sleeps):
        d = min(60.0, 2.0**attempt)
        assert d / 2 <= slept <= d


def test_backoff_jitter_comes_from_the_injected_rng(gh):
    waits = []
    for _ in range(2):
        fake_clock = FakeClock()
        c = GitHubClient(gh.api_url, TOKEN, clock=fake_clock, rng=random.Random(123))
        gh.inject(RUNS, *[Fault.server_error(500)] * 3)
        c.get_json(RUNS, {"per_page": 1})
        waits.append(fake_clock.sleeps)
        c.close()
    assert waits[0] == waits[1]
    assert len(set(waits[0])) == 3


def test_backoff_is_capped(gh, clock):
    c = GitHubClient(gh.api_url, TOKEN, clock=clock, max_retries=10, backoff_cap=5.0)
    gh.inject(RUNS, *[Fault.server_error(500)] * 10)
    c.get_json(RUNS, {"per_page": 1})
    assert max(clock.sleeps) <= 5.0
    c.close()


# -- no retries where a retry cannot help ---------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.http(401, {"message": "Bad credentials"}), GitHubAuthError),
        (Fault.http(404, {"message": "Not Found"}), GitHubNotFound),
        (Fault.http(410, {"message": "Gone"}), GitHubGone),
        (Fault.http(422, {"message": "Validation Failed"}), GitHubError),
        (Fault.permission_denied(), GitHubPermissionError),
        (Fault.http(400, {"message": "Bad request"}), GitHubError),
    ],
)
def test_no_retry_for_final_errors(gh, clock, client, fault, error):
    gh.inject(RUNS, fault)
    with pytest.raises(error) as info:
        client.get_json(RUNS)
    assert not isinstance(info.value, GitHubRetriesExhausted)
    assert len(gh.requests) == 1
    assert clock.sleeps == []
    assert info.value.status == fault.status


def test_wrong_token_is_an_auth_error(gh, clock):
    c = GitHubClient(gh.api_url, "ghp_" + "wrong", clock=clock)
    with pytest.raises(GitHubAuthError, match="401"):
        c.get_json(RUNS)
    assert len(gh.requests) == 1
    c.close()


def test_permission_403_names_the_needed_scope(gh, client):
    gh.inject(RUNS, Fault.permission_denied())
    with pytest.raises(GitHubPermissionError, match="actions:read"):
        client.get_json(RUNS)


# -- rate-limit budget guard ----------------------------------------------------------------


def test_low_budget_pauses_until_the_reset(clock):
    reset = clock.now() + 900
    with FakeGitHub(token=TOKEN, rate_limit=52, rate_limit_reset=reset) as fake:
        fake.add_runs(REPO, "2026-03-01", 5)
        c = GitHubClient(fake.api_url, TOKEN, clock=clock, low_budget=50)
        for _ in range(4):
            c.get_json("/rate_limit")
        # remaining went 51, 50, 49: the request after the one answering 49 waits for reset
        assert len(clock.sleeps) == 1
        assert clock.sleeps[0] >= 900
        assert clock.now() >= reset
        c.close()


def test_rate_limit_pause_holds_back_other_requests(gh, clock, client):
    gh.inject(RUNS, Fault.secondary_rate_limit())
    client.get_json(RUNS, {"per_page": 1})
    # the limit is per token: the client remembers the pause for every thread
    assert client._paused_until <= clock.now()
    assert clock.sleeps[0] >= 60


# -- logging --------------------------------------------------------------------------------


def test_retries_are_logged_without_query_strings(gh, client, caplog):
    caplog.set_level(logging.DEBUG, logger="finops_pipeline.github")
    gh.inject(RUNS, Fault.server_error(502))
    client.get_json(RUNS, {"created": "2026-03-01", "per_page": 100})
    ours = [r.getMessage() for r in caplog.records if r.name == "finops_pipeline.github"]
    assert any("retry 1 of 6" in m and RUNS in m for m in ours)
    assert not any("created=" in m or "per_page" in m for m in ours)


def test_redact_url():
    assert redact_url("https://u:p@blob.example:8443/a/b?sig=s&se=1#f") == (
        "https://blob.example:8443/a/b"
    )
    assert redact_url("http://[::1]:80/x?y") == "http://[::1]:80/x"


def test_describe_strips_signatures():
    exc = ConnectionError("Max retries exceeded with url: /blobs/1?sig=abc&se=2 (Caused by x)")
    text = errors_mod._describe(exc)
    assert "sig=" not in text and "/blobs/1?..." in text


def test_retry_after_comes_before_the_reset(gh, clock, client):
    headers = {
        "Retry-After": "5",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": str(int(clock.now()) + 1000),
    }
    gh.inject(RUNS, Fault.http(403, {"message": "API rate limit exceeded"}, headers))
    client.get_json(RUNS, {"per_page": 1})
    assert clock.sleeps == [5.0]


@pytest.mark.parametrize("limit", [1, 4])
def test_requests_in_flight_never_exceed_the_bound(clock, limit):
    from concurrent.futures import ThreadPoolExecutor

    with FakeGitHub(token=TOKEN, latency=0.02) as fake:
        c = GitHubClient(fake.api_url, TOKEN, clock=clock, max_in_flight=limit)
        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(lambda _: c.get_json("/rate_limit"), range(32)))
        assert len(results) == 32
        assert fake.max_in_flight == limit
        c.close()
