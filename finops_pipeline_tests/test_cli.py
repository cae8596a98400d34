"""The `finops` command, called in-process through its entry point."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from finops_pipeline.cli import main
from finops_pipeline_tests.test_pipeline_e2e import data_dir as _data_dir  # noqa: F401

data_dir = _data_dir


def test_materialize_then_sql_in_every_format(data_dir: Path, capsys):
    assert main(["--data-dir", str(data_dir), "materialize",
                 "--start", "2026-03-01", "--end", "2026-03-03"]) == 0
    assert (data_dir / "dagster_home" / "dagster.yaml").is_file()
    capsys.readouterr()

    q = "select day, workflow, requests from kpi_workflow_daily order by day, workflow"
    assert main(["--data-dir", str(data_dir), "sql", q, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [
        {"day": "2026-03-01", "workflow": "Smoke Claude", "requests": 2},
        {"day": "2026-03-02", "workflow": "Triage", "requests": 1},
        {"day": "2026-03-03", "workflow": "Smoke Claude", "requests": 1},
    ]
    assert main(["--data-dir", str(data_dir), "sql", q, "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "day,workflow,requests", "2026-03-01,Smoke Claude,2", "2026-03-02,Triage,1",
        "2026-03-03,Smoke Claude,1"]
    assert main(["--data-dir", str(data_dir), "sql", q]) == 0
    table = capsys.readouterr().out
    assert "Smoke Claude" in table and "│" in table


def test_sql_is_read_only_and_errors_are_clean(data_dir: Path, capsys):
    assert main(["--data-dir", str(data_dir), "sql", "select 1"]) == 1
    assert "finops materialize" in capsys.readouterr().err
    assert main(["--data-dir", str(data_dir), "materialize", "--date", "2026-03-01"]) == 0
    capsys.readouterr()
    assert main(["--data-dir", str(data_dir), "sql", "delete from ingest_log"]) == 1
    assert "read-only" in capsys.readouterr().err
    assert main(["--data-dir", str(data_dir), "sql", "select nope from ingest_log"]) == 1
    assert "nope" in capsys.readouterr().err


@pytest.mark.parametrize("args", [
    ["materialize"],
    ["materialize", "--date", "2026-03-01", "--start", "2026-03-01"],
    ["materialize", "--start", "2026-03-05", "--end", "2026-03-01"],
    ["materialize", "--start", "2026-03-05"],
    ["materialize", "--date", "2019-01-01"],
    ["materialize", "--date", "2999-01-01"],
])
def test_materialize_usage_errors_exit_2(tmp_path: Path, args, capsys):
    assert main(["--data-dir", str(tmp_path / "d"), *args]) == 2
    assert capsys.readouterr().err.startswith("finops materialize:")


def test_bad_config_is_reported_with_the_key(tmp_path: Path, capsys, monkeypatch):
    (tmp_path / "finops.yaml").write_text("sources: {gh_aw_logz: {}}\n")
    assert main(["--data-dir", str(tmp_path / "d"), "materialize", "--date", "2026-03-01"]) == 2
    assert "unknown key 'sources.gh_aw_logz'" in capsys.readouterr().err


def test_configured_paths_are_read_beside_the_landing_area(data_dir: Path, tmp_path: Path,
                                                            capsys):
    elsewhere = tmp_path / "repo" / ".github" / "aw" / "logs"
    shutil.move(str(data_dir / "landing" / "gh-aw-logs"), str(elsewhere))
    (tmp_path / "finops.yaml").write_text(
        "sources:\n  gh_aw_logs:\n    paths: [repo/.github/aw/logs]\n")
    assert main(["--data-dir", str(data_dir), "materialize", "--date", "2026-03-01"]) == 0
    capsys.readouterr()
    assert main(["--data-dir", str(data_dir), "sql", "select count(*) n from fact_llm_requests",
                 "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 2}]


def test_demo_generates_and_materializes(tmp_path: Path, capsys):
    assert main(["--data-dir", str(tmp_path / "d"), "demo", "--days", "2",
                 "--end", "2026-03-02"]) == 0
    out = capsys.readouterr().out
    assert "Per-workflow summary, 2026-03-01..2026-03-02" in out
    assert "select * from kpi_workflow_daily order by total_tokens desc limit 5" in out
    assert main(["--data-dir", str(tmp_path / "d"), "sql",
                 "select count(*) n, sum(cost_usd) > 0 c from kpi_workflow_daily",
                 "--format", "json"]) == 0
    got = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert got[0]["n"] > 0 and got[0]["c"] is True
