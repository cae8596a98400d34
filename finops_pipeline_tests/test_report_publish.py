"""Publishing the daily report as a GitHub issue, against the fake GitHub server on loopback:
create, find and edit, close older reports, backfills, faults, the body limit, the token."""

from __future__ import annotations

import datetime as dt
import logging
import random

import pytest

from finops_pipeline.report.publish import (
    BODY_LIMIT,
    PublishError,
    issue_body,
    publish_report,
)
from finops_pipeline.sources.github.client import GitHubClient
from finops_pipeline_tests.fake_github import FakeClock, FakeGitHub, Fault

TOKEN = "ghs_publishTokenABCDEFGHIJKLMNOPQRSTUVWX"
REPO = "acme/finops"
LABEL = "token-usage-report"
D1, D2, D3 = dt.date(2026, 3, 1), dt.date(2026, 3, 2), dt.date(2026, 3, 3)
ISSUES = f"/repos/{REPO}/issues"


def report(day: dt.date, extra: str = "") -> str:
    return (f"# Token Usage Report: {day}\n\n## Overview\n\n| a | b |\n| :--- | ---: |\n"
            f"| x | 1 |\n\n![Tokens and cost per day](tokens_cost_30d.png)\n\n{extra}")


@pytest.fixture
def gh():
    with FakeGitHub(token=TOKEN) as fake:
        fake.add_repo(REPO)
        yield fake


@pytest.fixture
def client(gh):
    c = GitHubClient(gh.api_url, TOKEN, clock=FakeClock(), timeout=2.0, rng=random.Random(3))
    yield c
    c.close()


def publish(client: GitHubClient, day: dt.date, markdown: str | None = None):
    return publish_report(client, REPO, LABEL, day, markdown or report(day),
                          f"/data/reports/{day}/report.md")


def writes(gh: FakeGitHub) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in gh.requests_to("api") if r.method != "GET"]


def test_creates_the_day_s_issue_with_the_label_and_chart_notes(gh, client):
    done = publish(client, D1)
    assert (done.action, done.number, done.closed) == ("created", 1, [])
    (issue,) = gh.issues(REPO)
    assert issue["title"] == "Token Usage Report: 2026-03-01"
    assert [x["name"] for x in issue["labels"]] == [LABEL]
    assert "| x | 1 |" in issue["body"] and "![" not in issue["body"]
    assert "`tokens_cost_30d.png` beside the report" in issue["body"]
    assert done.url == f"https://github.com/{REPO}/issues/1"


def test_republishing_a_day_edits_its_issue_and_never_posts_twice(gh, client):
    publish(client, D1)
    gh.reset_log()
    assert publish(client, D1).action == "unchanged"
    assert writes(gh) == []  # same body: nothing written
    done = publish(client, D1, report(D1, "more"))
    assert (done.action, done.number) == ("updated", 1)
    assert writes(gh) == [("PATCH", f"{ISSUES}/1")]
    assert len(gh.issues(REPO)) == 1 and gh.issues(REPO)[0]["body"].endswith("more")


def test_older_reports_are_closed_and_only_reports_are_touched(gh, client):
    gh.add_issue(REPO, "Token Usage Report: 2026-02-27", labels=(LABEL,))
    gh.add_issue(REPO, "Token Usage Report: 2026-02-28", labels=(LABEL,))
    gh.add_issue(REPO, "Budget policy discussion", labels=(LABEL,))  # not a report
    gh.add_issue(REPO, "Token Usage Report: 2026-02-26")  # no label: not ours
    gh.add_issue(REPO, "Token Usage Report: 2026-02-25", labels=(LABEL,), pull_request=True)
    done = publish(client, D1)
    assert done.closed == [1, 2]
    states = {i["title"]: i["state"] for i in gh.issues(REPO) if "pull_request" not in i}
    assert states == {"Token Usage Report: 2026-02-27": "closed",
                      "Token Usage Report: 2026-02-28": "closed",
                      "Budget policy discussion": "open",
                      "Token Usage Report: 2026-02-26": "open",
                      "Token Usage Report: 2026-03-01": "open"}
    assert gh.issues(REPO)[0]["state_reason"] == "completed"


def test_a_backfilled_day_does_not_close_the_newest_report(gh, client):
    publish(client, D3)
    done = publish(client, D1)  # a backfill, after the newer day was published
    assert done.action == "created" and done.closed == [done.number]
    states = {i["title"][-10:]: i["state"] for i in gh.issues(REPO)}
    assert states == {"2026-03-03": "open", "2026-03-01": "closed"}
    publish(client, D2)
    assert {i["title"][-10:]: i["state"] for i in gh.issues(REPO)} == {
        "2026-03-03": "open", "2026-03-01": "closed", "2026-03-02": "closed"}


def test_a_create_whose_answer_is_lost_is_not_duplicated(gh, client):
    gh.inject(ISSUES, Fault.server_error_after_write(), method="POST")
    done = publish(client, D1)
    assert done.action == "created" and len(gh.issues(REPO)) == 1
    assert writes(gh) == [("POST", ISSUES)]  # looked, found it made, did not post again


def test_a_failed_create_is_retried_after_looking(gh, client):
    gh.inject(ISSUES, Fault.server_error(500), Fault.connection_reset(), method="POST")
    done = publish(client, D1)
    assert done.action == "created" and len(gh.issues(REPO)) == 1
    assert writes(gh) == [("POST", ISSUES)] * 3


def test_rate_limits_and_server_errors_on_reads_are_retried(gh, client):
    gh.inject(ISSUES, Fault.server_error(503))
    gh.inject(ISSUES, Fault.too_many_requests(retry_after=5), method="POST")
    gh.inject(f"{ISSUES}/*", Fault.server_error(502), method="PATCH")
    gh.add_issue(REPO, "Token Usage Report: 2026-02-28", labels=(LABEL,))
    done = publish(client, D1)
    assert done.action == "created" and done.closed == [1]
    assert gh.pending_faults() == 0 and len(gh.issues(REPO)) == 2


def test_a_token_without_issues_write_is_a_clear_error(gh, client, caplog):
    gh.issues_writable = False
    with caplog.at_level(logging.DEBUG), pytest.raises(PublishError) as err:
        publish(client, D1)
    assert "the token needs issues:write" in str(err.value) and REPO in str(err.value)
    assert TOKEN not in str(err.value) and TOKEN not in caplog.text
    assert gh.issues(REPO) == []


def test_a_missing_repository_is_a_clear_error(gh, client):
    with pytest.raises(PublishError, match=r"cannot publish the report of 2026-03-01 to "
                                           r"acme/nope: not found \(404\)"):
        publish_report(client, "acme/nope", LABEL, D1, report(D1), "r.md")


def test_a_report_too_long_for_an_issue_loses_its_last_details_blocks():
    block = "<details><summary><b>acme/api:wf{}</b> · $1</summary>\n\n" + "x" * 9_000 + \
        "\n\n</details>\n\n"
    markdown = report(D1, "## Per-workflow details\n\n" + "".join(
        block.format(n) for n in range(10)) + "## Workflows without token data\n\nnone\n")
    body, notes = issue_body(markdown, "/data/reports/2026-03-01/report.md")
    assert len(markdown) > BODY_LIMIT >= len(body)
    assert "acme/api:wf0" in body and "acme/api:wf9" not in body
    assert "## Workflows without token data" in body  # later sections stay
    assert body.rstrip().endswith("the whole report: `/data/reports/2026-03-01/report.md`.")
    assert any("per-workflow blocks cut" in n for n in notes)


def test_the_daily_run_publishes_each_day_and_reruns_edit(gh, tmp_path, capsys):
    """Through Dagster: `report.publish` posts a day's issue per day of the run, the older
    closed; materializing the same days again posts nothing new."""
    import os

    from finops_pipeline.cli import materialize_range
    from finops_pipeline.config import load_settings
    from finops_pipeline.demo import generate_landing
    from finops_pipeline.lake import DataPaths
    from finops_pipeline.sources.gh_aw_logs import landing_dir
    from finops_pipeline_tests.test_github_pipeline import fake_clock_github

    data = tmp_path / "data"
    generate_landing(landing_dir(DataPaths(data)), days=2, end_day=D2, seed=5)
    config = tmp_path / "finops.yaml"
    config.write_text(f"report: {{publish: true, repo: {REPO}, label: {LABEL}}}\n")
    os.environ.update({"GITHUB_API_URL": gh.api_url, "GITHUB_TOKEN": TOKEN,
                       "FINOPS_CONFIG": str(config)})
    resources = {"github": fake_clock_github(FakeClock())}
    settings = load_settings(data_dir=data)
    assert materialize_range(settings, D1, D2, resources=resources)
    issues = {i["title"][-10:]: i for i in gh.issues(REPO)}
    assert {d: i["state"] for d, i in issues.items()} == {"2026-03-01": "closed",
                                                          "2026-03-02": "open"}
    path = data / "reports" / "2026-03-02" / "report.md"
    assert issues["2026-03-02"]["body"] == issue_body(path.read_text(), str(path))[0]
    gh.reset_log()
    assert materialize_range(settings, D1, D2, resources=resources)
    assert len(gh.issues(REPO)) == 2 and writes(gh) == []  # same reports: nothing written
    printed = capsys.readouterr().out
    assert "issue unchanged https://github.com/acme/finops/issues/2" in printed
    assert TOKEN not in printed
    assert not any(TOKEN.encode() in p.read_bytes()
                   for p in (data / "reports").rglob("*") if p.is_file())
