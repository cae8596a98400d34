"""benchmarks/bench_year.py at a tiny scale: the data it lands, one backfill, every question
answered. No timing assertions (issue 13: timings do not belong in the suite)."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from finops_pipeline.lake import DataPaths
from finops_pipeline.sources.gh_aw_logs import landing_dir

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_year.py"


def load_bench():
    """The script as a module (benchmarks/ is not a package; the script puts its folder on
    sys.path for its sibling imports)."""
    if "bench_year" in sys.modules:
        return sys.modules["bench_year"]
    spec = importlib.util.spec_from_file_location("bench_year", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_year"] = module
    spec.loader.exec_module(module)
    return module


def test_generated_runs_are_unique_and_on_their_day(tmp_path: Path):
    bench = load_bench()
    plan = bench.Plan(dt.date(2026, 3, 1), dt.date(2026, 3, 3), runs=2, records=20)
    requests, written = bench.generate(tmp_path, plan, say=lambda _: None)
    assert requests == 3 * 2 * 20 and written > 0
    summaries = sorted(landing_dir(DataPaths(tmp_path)).rglob("run_summary.json"))
    runs = [json.loads(p.read_text()) for p in summaries]
    assert len({r["run_id"] for r in runs}) == 6
    days = sorted(r["run"]["createdAt"][:10] for r in runs)
    assert days == ["2026-03-01"] * 2 + ["2026-03-02"] * 2 + ["2026-03-03"] * 2
    lines = [json.loads(line) for p in landing_dir(DataPaths(tmp_path)).rglob("*.jsonl")
             for line in p.read_text().splitlines()]
    assert len(lines) == 120 and len({x["request_id"] for x in lines}) == 120
    assert "teams:" in (tmp_path / "finops.yaml").read_text()
    assert bench.Plan.load(tmp_path) == plan


@pytest.mark.slow
def test_backfill_and_questions(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    bench = load_bench()
    # 5 runs a day: 5 repos, so 3 teams (platform, growth and the owner of the fifth)
    plan = bench.Plan(dt.date(2026, 3, 1), dt.date(2026, 3, 3), runs=5, records=20)
    bench.generate(tmp_path, plan, say=lambda _: None)
    result = bench.backfill(tmp_path, plan)
    assert result.seconds > 0 and result.peak_mb > 0
    assert {"lake", "warehouse", "report"} <= set(result.steps)
    timed = bench.time_questions(tmp_path, plan)
    assert len(timed) == 7
    assert all(t.rows > 0 for t in timed), timed
    assert {t.rows for t in timed[3:]} == {20}  # one run's requests, four ways
    teams = bench.query(DataPaths(tmp_path).warehouse, bench.TEAM_MONTH,
                        [plan.end.replace(day=1), plan.end])
    assert set(teams["team"]) == {"platform", "growth", "bench"}

    assert bench.main(["--data-dir", str(tmp_path), "--queries-only"]) == 0
    out = capsys.readouterr().out
    assert "(a) top 10 workflows by cost" in out and "questions" in out
