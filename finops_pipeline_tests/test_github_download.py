"""Artifact downloads: 302 to a signed URL on the blob host, without the token; 410; limits."""

from __future__ import annotations

import logging
import random

import pytest

from finops_pipeline.sources.github.artifacts import (
    download_artifact,
    list_artifacts,
    select_artifacts,
)
from finops_pipeline.sources.github.client import (
    GitHubClient,
    GitHubGone,
    GitHubNotFound,
    GitHubRetriesExhausted,
    GitHubTooLarge,
)
from finops_pipeline_tests.fake_github import FakeClock, FakeGitHub, Fault, make_zip

TOKEN = "ghp_" + "downloadtest" + "1" * 24
REPO = "acme/api"
ZIP = make_zip({"aw_info.json": b'{"engine": "copilot"}', "big.txt": b"x" * 5000})


@pytest.fixture
def gh():
    with FakeGitHub(token=TOKEN) as fake:
        run = fake.add_run(REPO, created_at="2026-03-01T10:00:00Z", id=77)
        fake.add_artifact(REPO, run["id"], "agent", ZIP, id=501)
        fake.add_artifact(REPO, run["id"], "old-logs", ZIP, id=502, expired=True)
        fake.add_artifact(REPO, run["id"], "firewall-logs-x", ZIP, id=503)
        fake.add_artifact(REPO, run["id"], "unrelated", ZIP, id=504)
        yield fake


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def client(gh, clock):
    c = GitHubClient(gh.api_url, TOKEN, clock=clock, timeout=2.0, rng=random.Random(3))
    yield c
    c.close()


def _url(gh: FakeGitHub, artifact_id: int) -> str:
    return gh.api_url + gh.artifact_zip_path(REPO, artifact_id)


def test_list_and_select_artifacts(gh, client):
    artifacts = list_artifacts(client, REPO, 77)
    assert [a["id"] for a in artifacts] == [501, 502, 503, 504]
    chosen = select_artifacts(artifacts)
    assert [a["name"] for a in chosen] == ["agent", "firewall-logs-x"]
    chosen = select_artifacts(artifacts, ["old-*", "unrel*"])
    assert [a["name"] for a in chosen] == ["unrelated"]  # the expired one is skipped


def test_download_follows_302_to_blob_host_without_credentials(gh, client):
    assert client.download(_url(gh, 501), max_bytes=1 << 20) == ZIP
    (api,) = gh.requests_to("api")
    (blob,) = gh.requests_to("blob")
    assert api.headers["authorization"] == f"Bearer {TOKEN}"
    assert blob.path == "/blobs/501" and "sig=" in blob.query
    assert "authorization" not in blob.headers
    assert not any(h.startswith("x-github") for h in blob.headers)
    assert not any(TOKEN in v for v in blob.headers.values())
    assert gh.blob_url != gh.api_url


def test_netrc_credentials_are_not_sent_to_the_blob_host(gh, client, tmp_path, monkeypatch):
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    client.download(_url(gh, 501), max_bytes=1 << 20)
    (blob,) = gh.requests_to("blob")
    assert "authorization" not in blob.headers


def test_410_is_gone_without_retry(gh, clock, client):
    gh.inject(gh.artifact_zip_path(REPO, 501), Fault.gone())
    with pytest.raises(GitHubGone):
        client.download(_url(gh, 501), max_bytes=1 << 20)
    assert len(gh.requests_to("api")) == 1
    assert gh.requests_to("blob") == []
    assert clock.sleeps == []


def test_410_from_the_blob_host_is_gone(gh, clock, client):
    gh.inject(gh.blob_path(501), Fault.gone(), host="blob")
    with pytest.raises(GitHubGone):
        client.download(_url(gh, 501), max_bytes=1 << 20)
    assert clock.sleeps == []


def test_artifact_marked_expired_is_gone_before_any_request(gh, client):
    expired = next(a for a in list_artifacts(client, REPO, 77) if a["expired"])
    gh.reset_log()
    with pytest.raises(GitHubGone):
        download_artifact(client, expired, max_bytes=1 << 20)
    assert gh.requests == []


def test_missing_artifact_is_not_found_without_retry(gh, clock, client):
    with pytest.raises(GitHubNotFound):
        client.download(_url(gh, 999), max_bytes=1 << 20)
    assert len(gh.requests) == 1 and clock.sleeps == []


@pytest.mark.parametrize(
    ("host", "fault"),
    [
        ("blob", Fault.truncated()),
        ("blob", Fault.connection_reset()),
        ("blob", Fault.connection_close()),
        ("blob", Fault.slow(1.5)),
        ("blob", Fault.server_error(503)),
        ("blob", Fault.http(403, b"AuthenticationFailed: signature expired")),
        ("api", Fault.server_error(502)),
        ("api", Fault.secondary_rate_limit()),
        ("api", Fault.connection_reset()),
        ("api", Fault.slow(1.5)),
    ],
)
def test_download_faults_are_retried_with_a_fresh_signed_url(gh, clock, host, fault):
    c = GitHubClient(gh.api_url, TOKEN, clock=clock, timeout=0.4, rng=random.Random(3))
    path = gh.blob_path(501) if host == "blob" else gh.artifact_zip_path(REPO, 501)
    gh.inject(path, fault, host=host)
    assert c.download(_url(gh, 501), max_bytes=1 << 20) == ZIP
    assert gh.pending_faults() == 0
    assert len(clock.sleeps) == 1
    # the retry starts again from the API URL, which hands out a fresh signed URL
    assert len(gh.requests_to("api")) == 2
    blob_queries = [r.query for r in gh.requests_to("blob")]
    if host == "blob":
        assert len(blob_queries) == 2
    assert all("authorization" not in r.headers for r in gh.requests_to("blob"))
    c.close()


def test_truncated_download_exhausts_retries(gh, clock):
    c = GitHubClient(gh.api_url, TOKEN, clock=clock, max_retries=2)
    gh.inject(gh.blob_path(501), *[Fault.truncated()] * 3, host="blob")
    with pytest.raises(GitHubRetriesExhausted, match="truncated body"):
        c.download(_url(gh, 501), max_bytes=1 << 20)
    c.close()


def test_content_length_over_the_limit_is_refused_before_reading(gh, clock, client):
    with pytest.raises(GitHubTooLarge, match="over the limit"):
        client.download(_url(gh, 501), max_bytes=100)
    assert len(gh.requests_to("blob")) == 1
    assert clock.sleeps == []


def test_body_longer_than_limit_without_content_length_is_cut(gh, clock, client):
    # no Content-Length to check up front: the stream read itself enforces the limit
    gh.inject(gh.blob_path(501), Fault.no_content_length(), host="blob")
    with pytest.raises(GitHubTooLarge, match="sent more than"):
        client.download(_url(gh, 501), max_bytes=100)
    assert clock.sleeps == []


def test_body_without_content_length_is_read_to_the_end(gh, client):
    gh.inject(gh.blob_path(501), Fault.no_content_length(), host="blob")
    assert client.download(_url(gh, 501), max_bytes=1 << 20) == ZIP


def test_download_logs_never_show_the_signature(gh, clock, caplog):
    caplog.set_level(logging.DEBUG)
    c = GitHubClient(gh.api_url, TOKEN, clock=clock)
    gh.inject(gh.blob_path(501), Fault.truncated(), host="blob")
    c.download(_url(gh, 501), max_bytes=1 << 20)
    ours = [r.getMessage() for r in caplog.records if r.name == "finops_pipeline.github"]
    assert any("/blobs/501" in m for m in ours)
    assert any("truncated body" in m for m in ours)
    assert not any("sig=" in m or "se=" in m for m in ours)
    assert TOKEN not in caplog.text
    c.close()
