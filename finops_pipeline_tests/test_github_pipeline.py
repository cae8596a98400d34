"""The GitHub source end to end: `finops materialize` against the fake GitHub on loopback."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
from pathlib import Path

import duckdb
import pytest

from finops_pipeline.cli import main, materialize_range
from finops_pipeline.config import load_settings
from finops_pipeline.defs.resources import GitHubResource
from finops_pipeline.sources.github.client import GitHubClient
from finops_pipeline_tests.fake_github import FakeClock, FakeGitHub, Fault, make_zip
from finops_pipeline_tests.test_pipeline_e2e import record

SENTINEL = "ghp_" + "PIPELINE" + "".join(chr(ord("a") + i % 26) for i in range(28))
D1, D2 = dt.date(2026, 3, 1), dt.date(2026, 3, 2)
CANONICAL = "sandbox/firewall/logs/api-proxy-logs/token-usage.jsonl"
TABLES = ("fact_workflow_runs", "fact_llm_requests", "fact_pull_requests",
          "kpi_workflow_daily", "kpi_model_daily", "history_daily", "ingest_log")


def token_lines(prefix: str, n: int) -> str:
    return "\n".join(json.dumps(record(f"{prefix}-{i}", inp=100 + i, out=50, cr=1000))
                     for i in range(n))


def populate(gh: FakeGitHub) -> None:
    """Two days, two repos: instrumented runs, an uninstrumented one, a pending one, PRs."""
    for day, base in ((D1, 100), (D2, 200)):
        runs = gh.add_runs("acme/api", day, 3, first_id=base, name="Smoke Claude")
        for run in runs[:2]:
            gh.add_artifact("acme/api", run["id"], "agent-artifacts",
                            make_zip({CANONICAL: token_lines(f"r{run['id']}", 4),
                                      "aw_info.json": json.dumps({"engine_id": "claude"})}))
        gh.add_artifact("acme/api", runs[2]["id"], "unrelated", make_zip({"x.txt": "x"}))
        gh.add_run("acme/web", created_at=f"{day}T12:00:00Z", id=base + 50, name="Triage",
                   status="in_progress", head_branch=f"copilot/fix-{base}")
        gh.add_pull("acme/web", base, created_at=f"{day}T09:00:00Z",
                    merged_at=f"{day}T15:00:00Z", head_ref=f"copilot/fix-{base}")
        gh.add_pull("acme/web", base + 1, created_at=f"{day}T10:00:00Z", author="octocat",
                    head_ref="feature/x")  # not Copilot's: ignored


def fake_clock_github(clock: FakeClock) -> GitHubResource:
    """The `github` resource, with a client whose waits go to `clock` (no real sleeping)."""

    class FakeClockGitHub(GitHubResource):
        def client(self, api_url: str, *, max_in_flight: int) -> GitHubClient:
            return GitHubClient(api_url, self.resolved_token(), max_in_flight=max_in_flight,
                                clock=clock, timeout=2.0, rng=random.Random(1))

    return FakeClockGitHub()


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


def materialize(data: Path, gh: FakeGitHub, clock: FakeClock,
                token: str | None = SENTINEL) -> int:
    """What `finops materialize --start D1 --end D2` does, with the fake-clock resource."""
    os.environ.update({"GITHUB_API_URL": gh.api_url, "FINOPS_GITHUB_REPOS": "acme/api,acme/web"})
    if token:
        os.environ["GITHUB_TOKEN"] = token
    else:
        os.environ.pop("GITHUB_TOKEN", None)
    ok = materialize_range(load_settings(data_dir=data), D1, D2,
                           resources={"github": fake_clock_github(clock)})
    return 0 if ok else 1


def tables(data: Path) -> dict[str, list]:
    with duckdb.connect(str(data / "warehouse" / "finops.duckdb"), read_only=True) as con:
        return {t: con.sql(f"SELECT * EXCLUDE (_source) FROM {t} ORDER BY ALL").fetchall()
                if t.startswith("fact_") else con.sql(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
                for t in TABLES}


def test_github_days_fill_the_lake_and_warehouse(tmp_path: Path, fake_clock):
    with FakeGitHub(token=SENTINEL) as gh:
        populate(gh)
        assert materialize(tmp_path / "data", gh, fake_clock) == 0
    with duckdb.connect(str(tmp_path / "data" / "warehouse" / "finops.duckdb"),
                        read_only=True) as con:
        runs = con.sql("SELECT day, repo, run_id, status, has_token_data, requests, source "
                       "FROM fact_workflow_runs ORDER BY run_id").fetchall()
        prs = con.sql("SELECT day, repo, number, state, head_ref FROM fact_pull_requests "
                      "ORDER BY number").fetchall()
        log = con.sql("SELECT day, dataset, rows_in, rows_valid, runs_skipped, skip_reasons "
                      "FROM ingest_log WHERE source = 'github' ORDER BY ALL").fetchall()
        cost = con.execute("SELECT count(*), count(cost_usd) FROM fact_llm_requests").fetchone()
        linked = con.execute("SELECT run_id, pr_number, pr_state FROM v_run_pull_requests "
                             "ORDER BY run_id").fetchall()
    assert runs == [
        (D1, "acme/api", 100, "completed", True, 4, "github"),
        (D1, "acme/api", 101, "completed", True, 4, "github"),
        (D1, "acme/api", 102, "completed", False, 0, "github"),
        (D1, "acme/web", 150, "in_progress", False, 0, "github"),  # pending, kept
        (D2, "acme/api", 200, "completed", True, 4, "github"),
        (D2, "acme/api", 201, "completed", True, 4, "github"),
        (D2, "acme/api", 202, "completed", False, 0, "github"),
        (D2, "acme/web", 250, "in_progress", False, 0, "github"),
    ]
    assert prs == [(D1, "acme/web", 100, "merged", "copilot/fix-100"),
                   (D2, "acme/web", 200, "merged", "copilot/fix-200")]
    reasons = {(d, ds): json.loads(r) for d, ds, _, _, _, r in log}
    assert reasons[(D1, "llm_requests")] == {"no matching artifact": 1, "run not completed": 1}
    assert [(d, ds, n, v) for d, ds, n, v, _, _ in log if ds == "llm_requests"] == [
        (D1, "llm_requests", 8, 8), (D2, "llm_requests", 8, 8)]
    assert cost == (16, 16)
    assert linked == [(150, 100, "merged"), (250, 200, "merged")]  # by head branch


def test_injected_faults_change_nothing(tmp_path: Path, fake_clock):
    with FakeGitHub(token=SENTINEL) as clean:
        populate(clean)
        assert materialize(tmp_path / "clean", clean, fake_clock) == 0
    with FakeGitHub(token=SENTINEL) as gh:
        populate(gh)
        gh.inject("/repos/acme/api/actions/runs", Fault.server_error(502),
                  Fault.too_many_requests(30), Fault.secondary_rate_limit(),
                  Fault.connection_reset())
        gh.inject("/repos/acme/api/actions/runs/100/artifacts", Fault.server_error(500),
                  Fault.primary_rate_limit(reset=fake_clock.now() + 120))
        gh.inject("/blobs/*", Fault.truncated(), Fault.connection_close(), host="blob")
        gh.inject("/repos/acme/web/pulls", Fault.slow(3.0), Fault.server_error(503))
        assert materialize(tmp_path / "faulty", gh, fake_clock) == 0
        assert gh.pending_faults() == 0  # every fault was actually hit
    assert tables(tmp_path / "faulty") == tables(tmp_path / "clean")
    assert max(fake_clock.sleeps) >= 60  # the secondary limit waited a minute, on a fake clock


def test_hostile_archives_leave_good_records_and_no_files(tmp_path: Path, fake_clock):
    with FakeGitHub(token=SENTINEL) as gh:
        populate(gh)
        bad = gh.add_run("acme/api", created_at=f"{D1}T20:00:00Z", id=190, name="Smoke Claude")
        gh.add_artifact("acme/api", bad["id"], "agent-artifacts", make_zip({
            "../../escaped.txt": "x", "/abs/escaped.txt": "y", "nested.zip": make_zip({"a": "b"}),
            CANONICAL: token_lines("good190", 2)}))
        corrupt = gh.add_run("acme/api", created_at=f"{D1}T21:00:00Z", id=191, name="Smoke Claude")
        gh.add_artifact("acme/api", corrupt["id"], "agent-artifacts", b"PK\x03\x04 not a zip")
        assert materialize(tmp_path / "data", gh, fake_clock) == 0
    with duckdb.connect(str(tmp_path / "data" / "warehouse" / "finops.duckdb"),
                        read_only=True) as con:
        got = con.execute("SELECT run_id, count(*) FROM fact_llm_requests WHERE day = ? "
                          "GROUP BY ALL ORDER BY 1", [D1]).fetchall()
        reasons = con.execute("SELECT skip_reasons FROM ingest_log WHERE day = ? AND source = "
                              "'github' AND dataset = 'llm_requests'", [D1]).fetchone()[0]
    assert got == [(100, 4), (101, 4), (190, 2)]
    assert json.loads(reasons).get("corrupt zip") == 1
    escaped = [p for p in tmp_path.parent.rglob("escaped.txt")] + list(Path("/abs").glob("*"))
    assert escaped == []


def test_the_token_never_reaches_files_or_output(tmp_path: Path, fake_clock, capsys, caplog):
    caplog.set_level("DEBUG")
    with FakeGitHub(token=SENTINEL) as gh:
        populate(gh)
        gh.inject("/repos/acme/api/actions/runs", *[Fault.server_error(500)] * 10)  # exhausted
        gh.inject("/repos/acme/web/pulls", Fault.http(422, {"message": f"echo {SENTINEL}"}))
        assert materialize(tmp_path / "data", gh, fake_clock) == 1  # the fetch check failed
        assert all("authorization" not in {k.lower() for k in r.headers}
                   for r in gh.requests_to("blob"))
    out = capsys.readouterr()
    assert SENTINEL not in out.out + out.err + caplog.text
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            assert SENTINEL.encode() not in path.read_bytes(), path


def test_a_missing_token_keeps_what_github_delivered_before(tmp_path: Path, fake_clock, capsys):
    data = tmp_path / "data"
    with FakeGitHub(token=SENTINEL) as gh:
        populate(gh)
        assert materialize(data, gh, fake_clock) == 0
        before = tables(data)
        capsys.readouterr()
        assert materialize(data, gh, fake_clock, token=None) == 1
        assert gh.requests_to("api") and all(
            r.path for r in gh.requests_to("api"))  # requests came only from the first run
    err = capsys.readouterr().out
    assert "GITHUB_TOKEN is not set" in err
    assert tables(data) == before


def test_the_cli_reaches_github_through_the_definitions_resource(tmp_path: Path):
    """No test double: `finops materialize` with the `github` resource of the definitions,
    which reads GITHUB_TOKEN when the source asks for it."""
    data = tmp_path / "data"
    with FakeGitHub(token=SENTINEL) as gh:
        populate(gh)
        os.environ.update({"GITHUB_API_URL": gh.api_url, "GITHUB_TOKEN": SENTINEL,
                           "FINOPS_GITHUB_REPOS": "acme/api,acme/web"})
        assert main(["--data-dir", str(data), "materialize", "--date", str(D1)]) == 0
        assert gh.requests_to("api")
    with duckdb.connect(str(data / "warehouse" / "finops.duckdb"), read_only=True) as con:
        got = con.execute("SELECT count(*) FROM fact_llm_requests WHERE source = 'github'"
                          ).fetchall()
    assert got == [(8,)]
