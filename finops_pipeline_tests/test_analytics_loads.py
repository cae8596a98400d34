"""The analytics tables in a real DuckDB warehouse: late outcomes, ranges, backfills.

Daily tables are written with `replace_day` (as the lake loads do), then `load_analytics`
rebuilds what those days feed, exactly as the warehouse asset does.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pytest

from finops_pipeline.config import FileConfig
from finops_pipeline.lake import DataPaths
from finops_pipeline.schemas.datasets import LAKE_DATASETS
from finops_pipeline.transforms.kpis import (
    kpi_model_daily,
    kpi_run_daily,
    kpi_workflow_daily,
    kpi_workflow_model_daily,
)
from finops_pipeline.warehouse.load import load_analytics, replace_day
from finops_pipeline.warehouse.schema import ensure_schema
from finops_pipeline.warehouse.tables import table, tables
from finops_pipeline_tests.test_showback import attempt, pull, pulls, runs

D0 = dt.date(2026, 3, 2)
ANALYTICS = [t.name for t in tables() if t.analytics]


def day(n: int) -> dt.date:
    return D0 + dt.timedelta(days=n)


@pytest.fixture
def con(tmp_path: Path):
    c = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_schema(c, DataPaths(tmp_path), dt.datetime.now(dt.UTC), tables())
    yield c
    c.close()


def outcome(con, run_id: int) -> dict:
    df = con.sql("SELECT * FROM run_outcomes WHERE run_id = ?", params=[run_id]).pl()
    return df.to_dicts()[0]


def test_a_pull_request_merged_a_week_after_its_run_counts_as_accepted(con):
    replace_day(con, D0, {"kpi_run_daily": runs([attempt(1, 1, "success", 4000, 0.4, day=D0)]),
                          "fact_pull_requests": pulls([pull(9, "open", D0)])})
    load_analytics(con, [D0])
    assert outcome(con, 1)["accepted_pr"] is False
    assert outcome(con, 1)["classification"] == "low_quality_spend"
    # a week later the pull request merges; only that day is loaded
    replace_day(con, day(7), {"fact_pull_requests": pulls([pull(9, "merged", day(7))])})
    report = load_analytics(con, [day(7)])
    assert outcome(con, 1)["accepted_pr"] is True
    assert outcome(con, 1)["classification"] == "healthy"
    # and what reads the outcomes followed: the run's day was rebuilt
    showback = con.sql("SELECT accepted_prs FROM showback_daily WHERE day = ? AND "
                       "level = 'total'", params=[D0]).fetchall()
    assert showback == [(1,)]
    ranges = {r["table"]: (r["first_day"], r["last_day"]) for r in report}
    assert ranges["run_outcomes"][0] <= D0.isoformat()


def lake_frames(run_rows: list[dict]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """workflow_runs and llm_requests lake rows of run attempts (two requests each)."""
    runs_schema = LAKE_DATASETS["workflow_runs"].schema
    req_schema = LAKE_DATASETS["llm_requests"].schema
    attempts = pl.DataFrame([{k: r[k] for k in runs_schema if k in r} | {"source": "t"}
                             for r in run_rows], schema=runs_schema, strict=False)
    requests = []
    for r in run_rows:
        for i in range(2):
            half = r["total_tokens"] // 2
            requests.append({
                "day": r["day"], "source": "t", "repo": r["repo"], "workflow": r["workflow"],
                "run_id": r["run_id"], "run_attempt": r["run_attempt"],
                "request_id": f"{r['run_id']}-{r['run_attempt']}-{i}",
                "provider": "anthropic", "model": "claude-sonnet-4-6", "status": 200,
                "input_tokens": half // 2, "cache_read_tokens": half - half // 2,
                "cache_write_tokens": 0, "output_tokens": 0, "prompt_tokens": half,
                "total_tokens": half, "duration_ms": 10, "cost_usd": r["cost_usd"] / 2})
    return attempts, pl.DataFrame(requests, schema=req_schema, strict=False)


def fill_day(n: int) -> dict[str, pl.DataFrame]:
    """A busy day: runs of two workflows, one failing, with a pull request; the daily tables
    built from them by the real builders."""
    d = day(n)
    rows = [attempt(100 * n + 1, 1, "success", 1000 * (n + 1), 0.1 * (n + 1), day=d,
                    branch=f"copilot/t{n}"),
            attempt(100 * n + 2, 1, "failure", 500, 0.05, day=d, branch="main",
                    workflow="Nightly", repo="acme/web")]
    if n % 3 == 0:
        rows.append(attempt(100 * n + 2, 2, "success", 500, 0.05, day=d, branch="main",
                            workflow="Nightly", repo="acme/web"))
    attempts, requests = lake_frames(rows)
    # pull requests of other days: opened the day before a run, merged 10 and 30 days later
    prs = [pull(n + 1, "merged" if n % 2 else "open", d, branch=f"copilot/t{n}")]
    if n % 5 == 1:
        prs.append(pull(1000 + n, "open", d, branch=f"copilot/t{n + 1}"))
    if n % 7 == 3 and n >= 10:
        prs.append(pull(2000 + n, "merged", d, branch=f"copilot/t{n - 10}"))
    if n in (31, 33):  # beyond the 28 days a run's outcome is followed
        prs.append(pull(3000 + n, "merged", d, branch=f"copilot/t{n - 30}"))
    return {"kpi_run_daily": kpi_run_daily(attempts, requests),
            "kpi_workflow_daily": kpi_workflow_daily(attempts, requests),
            "kpi_model_daily": kpi_model_daily(requests),
            "kpi_workflow_model_daily": kpi_workflow_model_daily(requests),
            "fact_pull_requests": pulls(prs),
            "fact_billing_usage": billed(d, 0.5 + n % 4)}


def billed(d: dt.date, usd: float) -> pl.DataFrame:
    """What GitHub billed acme on `d` (a model the requests never name: all unexplained)."""
    schema = table("fact_billing_usage").schema
    row = dict.fromkeys(schema) | {
        "day": d, "source": "github_billing", "account_type": "organization",
        "account": "acme", "endpoint": "ai_credit", "product": "copilot", "sku": "ai_credit",
        "model": "GPT-5", "unit_type": "ai-credits", "net_quantity": usd * 100,
        "gross_amount": usd, "net_amount": usd}
    return pl.DataFrame([row], schema=schema)


def snapshot(con) -> dict[str, pl.DataFrame]:
    out = {}
    for name in ANALYTICS:
        df = con.sql(f"SELECT * FROM {name}").pl()
        out[name] = df.sort(df.columns)
    return out


def test_a_range_gives_the_same_tables_as_its_days_one_by_one(tmp_path: Path):
    days = range(34)
    results = []
    for one_by_one in (False, True):
        c = duckdb.connect(str(tmp_path / f"w{one_by_one}.duckdb"))
        ensure_schema(c, DataPaths(tmp_path), dt.datetime.now(dt.UTC), tables())
        for n in days:
            replace_day(c, day(n), fill_day(n))
            if one_by_one:
                load_analytics(c, [day(n)])
        if not one_by_one:
            load_analytics(c, [day(n) for n in days])
        results.append(snapshot(c))
        c.close()
    together, separately = results
    for name in ANALYTICS:
        assert together[name].height > 0, name
        assert together[name].equals(separately[name]), name


def test_backfilling_a_day_refreshes_the_later_days_it_feeds(con):
    for n in range(5):
        replace_day(con, day(n), fill_day(n))
    load_analytics(con, [day(n) for n in range(5)])
    before = snapshot(con)
    # day 1 is backfilled with more spend: later days' windows change too
    heavier = fill_day(1)
    for name in ("kpi_run_daily", "kpi_workflow_daily"):
        heavier[name] = heavier[name].with_columns(pl.col("cost_usd") * 10,
                                                   pl.col("total_tokens") * 10)
    replace_day(con, day(1), heavier)
    load_analytics(con, [day(1)])
    after = snapshot(con)
    mtd = "SELECT day, mtd_cost_usd FROM showback_daily WHERE level = 'total' ORDER BY day"
    got = dict(con.sql(mtd).fetchall())
    assert got[day(2)] > before["showback_daily"].filter(
        (pl.col("level") == "total") & (pl.col("day") == day(2)))["mtd_cost_usd"].item()
    assert not after["showback_daily"].equals(before["showback_daily"])
    # the 7-day trend of day 2 (and later) now holds day 1's heavier spend
    seven = ("SELECT value_7d FROM trend_daily WHERE day = ? AND scope = 'org' AND key = 'acme' "
             "AND metric = 'cost_usd'")
    old = before["trend_daily"].filter(
        (pl.col("day") == day(2)) & (pl.col("scope") == "org") & (pl.col("key") == "acme")
        & (pl.col("metric") == "cost_usd"))["value_7d"].item()
    new = con.sql(seven, params=[day(2)]).fetchall()[0][0]
    assert new == pytest.approx(old + 9 * (0.2 + 0.05))  # both of day 1's runs, x10


def test_no_config_means_default_thresholds():
    # every analytics builder runs on empty input with the default config
    for t in tables():
        if t.analytics:
            assert t.run(*[pl.DataFrame(schema=tables_schema(r)) for r in t.reads],
                         days=(D0, D0), config=FileConfig()).height == 0


def tables_schema(name: str) -> dict:
    return next(t for t in tables() if t.name == name).schema


def test_the_analytics_checks_catch_a_wrong_trend_a_missing_one_and_excess_savings(
        tmp_path: Path):
    from finops_pipeline.defs.analytics_checks import (
        check_savings_within_cost,
        check_trend_matches_kpis,
    )
    paths = DataPaths(tmp_path)
    paths.warehouse.parent.mkdir(parents=True)
    c = duckdb.connect(str(paths.warehouse))
    ensure_schema(c, paths, dt.datetime.now(dt.UTC), tables())
    for n in range(10):
        replace_day(c, day(n), fill_day(n))
    load_analytics(c, [day(n) for n in range(10)])
    c.execute("INSERT INTO recommendations (day, kind, scope, key, priority, rank, "
              "current_cost_usd, potential_savings_usd) VALUES (?, 'trim_prompt', 'workflow', "
              "'x', 'low', 1, 1.0, 0.5)", [day(3)])
    c.close()
    days = [day(2)]

    def passed(sql: str | None = None) -> tuple[bool, bool]:
        if sql:
            with duckdb.connect(str(paths.warehouse)) as w:
                w.execute(sql)
        return (check_trend_matches_kpis(paths, days).passed,
                check_savings_within_cost(paths, days).passed)

    assert passed() == (True, True)
    # a later day the run's windows feed is checked too
    assert passed(f"UPDATE trend_daily SET value_7d = value_7d + 1 WHERE day = '{day(5)}' "
                  "AND scope = 'workflow' AND metric = 'requests'") == (False, True)
    assert passed(f"UPDATE trend_daily SET value_7d = value_7d - 1 WHERE day = '{day(5)}' "
                  "AND scope = 'workflow' AND metric = 'requests'") == (True, True)
    assert passed(f"DELETE FROM trend_daily WHERE day = '{day(4)}' AND scope = 'repo' "
                  "AND key = 'acme/web'") == (False, True)
    assert passed("UPDATE recommendations SET potential_savings_usd = 1.5 WHERE key = 'x'") \
        == (False, False)
