"""The token never shows up in logs, exceptions, reprs, results, or at the blob host."""

from __future__ import annotations

import logging
import random
import traceback

import pytest

from finops_pipeline.schemas.gh_aw_layout import CANONICAL_TOKEN_USAGE
from finops_pipeline.sources.github.client import GitHubClient, GitHubError
from finops_pipeline.sources.github.fetch import fetch_day
from finops_pipeline_tests.fake_github import FakeClock, FakeGitHub, Fault, make_zip

# Built at runtime so no real-looking token sits in the repository.
SENTINEL = "ghp_" + "SENTINEL" + "".join(chr(ord("a") + i % 26) for i in range(28))
REPO = "acme/api"


def _everything_said(caplog, errors: list[BaseException], *objects: object) -> str:
    parts = [caplog.text]
    parts += [r.getMessage() for r in caplog.records]
    parts += [repr(r.args) for r in caplog.records]
    for exc in errors:
        parts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    parts += [repr(o) for o in objects] + [str(o) for o in objects]
    return "\n".join(parts)


@pytest.fixture
def gh():
    with FakeGitHub(token=SENTINEL) as fake:
        for run in fake.add_runs(REPO, "2026-03-01", 6):
            fake.add_artifact(
                REPO, run["id"], "agent", make_zip({CANONICAL_TOKEN_USAGE: b'{"x":1}\n'})
            )
        yield fake


def test_token_never_leaks_after_forced_failures(gh, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, urllib3's included
    clock = FakeClock()
    client = GitHubClient(
        gh.api_url, SENTINEL, clock=clock, timeout=0.4, max_retries=2, rng=random.Random(0)
    )
    errors: list[BaseException] = []

    # a server that echoes the token back in an error message
    gh.inject("/rate_limit", Fault.http(422, {"message": f"bad token {SENTINEL}"}))
    # a 401, a permission 403, a 404, retries that run out, timeouts, resets, truncations
    gh.inject("/repos/acme/api/actions/runs/1/artifacts", Fault.http(401, {"message": "no"}))
    gh.inject("/repos/acme/api/actions/runs/2/artifacts", Fault.permission_denied())
    gh.inject("/repos/acme/api/actions/runs/3/artifacts", *[Fault.server_error(502)] * 3)
    gh.inject("/blobs/*", Fault.truncated(), Fault.connection_reset(), host="blob")
    gh.inject("/blobs/*", Fault.slow(1.0), Fault.http(403, b"AuthenticationFailed"), host="blob")
    for call in (
        lambda: client.get_json("/rate_limit"),
        lambda: client.get_json("/repos/acme/api/actions/runs/1/artifacts"),
        lambda: client.get_json("/repos/acme/api/actions/runs/2/artifacts"),
        lambda: client.get_json("/repos/acme/api/actions/runs/3/artifacts"),
        lambda: client.get_json("/repos/nobody/nothing"),
        lambda: client.get_json("https://evil.example/steal"),
        lambda: client.download(gh.api_url + gh.artifact_zip_path(REPO, 9), max_bytes=9),
    ):
        with pytest.raises(GitHubError) as info:
            call()
        errors.append(info.value)
    assert "***" in str(errors[0])  # the echoed token was scrubbed

    day = fetch_day(client, [REPO], "2026-03-01")
    assert len(day.token_files) == 6

    # a refused token: the fetch stops with an error that does not show it
    bad = GitHubClient(gh.api_url, SENTINEL + "x", clock=clock)
    with pytest.raises(GitHubError) as info:
        fetch_day(bad, [REPO], "2026-03-01")
    errors.append(info.value)

    said = _everything_said(caplog, errors, client, bad, day, day.problems, client._api.auth)
    assert SENTINEL not in said
    assert len(caplog.records) > 10  # the failures above were logged
    for request in gh.requests_to("blob"):
        assert "authorization" not in request.headers
        assert not any(SENTINEL in value for value in request.headers.values())
    api = gh.requests_to("api")
    assert all(r.headers.get("authorization", "").startswith("Bearer ") for r in api)
    client.close()
    bad.close()


def test_token_is_not_in_the_client_repr_or_vars():
    client = GitHubClient("https://api.github.com", SENTINEL)
    assert SENTINEL not in repr(client)
    assert SENTINEL not in repr(vars(client))
    assert SENTINEL not in str(client._auth)
    client.close()
