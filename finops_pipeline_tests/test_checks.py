"""Asset checks on realistic demo data, each shown passing and then failing for its reason."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from finops_pipeline.defs.checks import (
    LAKE_MATCHES_WAREHOUSE,
    REQUESTS_MATCH_RUN_SUMMARIES,
    check_lake_matches_warehouse,
    check_requests_match_run_summaries,
    lake_matches_warehouse,
    requests_match_run_summaries,
)
from finops_pipeline.demo import generate_landing
from finops_pipeline.lake import DataPaths
from finops_pipeline_tests.test_pipeline_e2e import materialize, snapshot

END = dt.date(2026, 3, 3)
START = END - dt.timedelta(days=2)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "data"
    generate_landing(root / "landing" / "gh-aw-logs", days=3, end_day=END, seed=11)
    materialize(root, START, END)
    return root


CHECKS = {lake_matches_warehouse: check_lake_matches_warehouse,
          requests_match_run_summaries: check_requests_match_run_summaries}


def run_check(check, data_dir: Path) -> dg.AssetCheckResult:
    """The check over every day of the warehouse (a run checks the days it loaded)."""
    return CHECKS[check](DataPaths(data_dir))


def test_demo_data_passes_the_reconciliation_checks(demo_dir: Path):
    summaries = run_check(requests_match_run_summaries, demo_dir)
    assert summaries.passed
    assert summaries.metadata["runs_compared"].value > 30
    assert run_check(lake_matches_warehouse, demo_dir).passed


def test_a_run_summary_that_disagrees_is_reported(demo_dir: Path, tmp_path: Path):
    copy = tmp_path / "data"
    subprocess.run(["cp", "-r", str(demo_dir), str(copy)], check=True)
    with duckdb.connect(str(DataPaths(copy).warehouse)) as con:
        run_id = con.execute("SELECT min(run_id) FROM fact_workflow_runs "
                             "WHERE summary_requests IS NOT NULL").fetchone()[0]
        con.execute("UPDATE fact_workflow_runs SET summary_output_tokens = "
                    "summary_output_tokens + 10 * (summary_input_tokens + 1000) "
                    "WHERE run_id = ?", [run_id])
    result = run_check(requests_match_run_summaries, copy)
    assert requests_match_run_summaries.check_key.name == REQUESTS_MATCH_RUN_SUMMARIES
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["runs_outside_tolerance"].value == 1
    assert f"| {run_id} |" in result.metadata["worst"].value


def test_a_lake_file_that_differs_from_the_warehouse_fails(demo_dir: Path, tmp_path: Path):
    copy = tmp_path / "data"
    subprocess.run(["cp", "-r", str(demo_dir), str(copy)], check=True)
    lake_file = DataPaths(copy).lake_file("llm_requests", START)
    pl.read_parquet(lake_file).head(-1).write_parquet(lake_file)
    result = run_check(lake_matches_warehouse, copy)
    assert lake_matches_warehouse.check_key.name == LAKE_MATCHES_WAREHOUSE
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    assert result.metadata["days_differing"].value == 1
    # As a run checks it: only the run's days, read from the files pinned for them.
    assert not check_lake_matches_warehouse(DataPaths(copy), [START]).passed
    assert check_lake_matches_warehouse(DataPaths(copy), [END]).passed


KILLER_CHILD = """
import sys
from finops_pipeline.cli import main
sys.exit(main(["--data-dir", sys.argv[1], "materialize", "--start", sys.argv[2],
               "--end", sys.argv[3]]))
"""


def test_a_killed_materialization_leaves_the_warehouse_readable(demo_dir: Path, tmp_path: Path):
    data = tmp_path / "data"
    subprocess.run(["cp", "-r", str(demo_dir), str(data)], check=True)
    before = snapshot(data)
    # New input, so a completed run would change the warehouse.
    generate_landing(data / "landing" / "gh-aw-logs", days=3, end_day=END, seed=99)
    building = DataPaths(data).staging / "finops.duckdb.building"
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dh")}
    (tmp_path / "dh").mkdir()
    child = subprocess.Popen([sys.executable, "-c", KILLER_CHILD, str(data), START.isoformat(),
                              END.isoformat()], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not building.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert child.poll() is None, "the run finished before it could be killed"
    child.send_signal(signal.SIGKILL)  # mid-way through the warehouse load
    child.wait(timeout=30)

    after = snapshot(data)
    tables = {k for k in before if "/" not in k}
    assert {k: after[k] for k in tables} == {k: before[k] for k in tables}
    with duckdb.connect(str(DataPaths(data).warehouse), read_only=True) as con:
        log = con.execute("SELECT count(*) FROM ingest_log WHERE rows_in <> rows_valid "
                          "+ rows_quarantined + rows_duplicate").fetchone()[0]
    assert log == 0
    # The next run discards the half-built copy and completes.
    materialize(data, START, END)
    runs = json.loads(pl.read_parquet(DataPaths(data).lake_file("workflow_runs", END))
                      .select(pl.len()).write_json())
    assert runs[0]["len"] > 0
    assert not building.exists()


CONSISTENT_READER = """
import sys, time
from pathlib import Path
from finops_pipeline.warehouse.access import query
path, seconds = Path(sys.argv[1]), float(sys.argv[2])
end, ok, errors = time.monotonic() + seconds, 0, []
while time.monotonic() < end:
    try:
        # Every published state is whole days: facts, KPIs and accounting agree.
        facts, kpis, bad = query(path, "SELECT (SELECT count(*) FROM fact_llm_requests), "
            "(SELECT coalesce(sum(requests), 0) FROM kpi_workflow_daily), "
            "(SELECT count(*) FROM ingest_log "
            " WHERE rows_in <> rows_valid + rows_quarantined + rows_duplicate)").row(0)
        assert facts == kpis and bad == 0, (facts, kpis, bad)
        ok += 1
    except Exception as exc:
        errors.append(repr(exc))
print(ok, len(errors), errors[:3])
"""


def test_a_reader_loop_during_materializations_sees_no_error(demo_dir: Path, tmp_path: Path):
    data = tmp_path / "data"
    subprocess.run(["cp", "-r", str(demo_dir), str(data)], check=True)
    reader = subprocess.Popen([sys.executable, "-c", CONSISTENT_READER,
                               str(DataPaths(data).warehouse), "6"],
                              stdout=subprocess.PIPE, text=True)
    runs = 0
    while reader.poll() is None:
        seed = 20 + runs  # different data each time, so every run really rewrites the days
        generate_landing(data / "landing" / "gh-aw-logs", days=3, end_day=END, seed=seed)
        assert materialize(data, START, END).success  # never blocked by the reader
        runs += 1
    out, _ = reader.communicate(timeout=60)
    ok, n_errors, errors = out.split(" ", 2)
    assert int(n_errors) == 0, errors
    assert int(ok) > 0 and runs > 0
