"""The whole pipeline through real Dagster materializations into tmp_path."""

from __future__ import annotations

import datetime as dt
import json
import warnings
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from finops_pipeline.definitions import all_assets, defs
from finops_pipeline.defs.resources import FinopsConfig, GitHubResource
from finops_pipeline.lake import DataPaths
from finops_pipeline.warehouse.tables import tables

warnings.filterwarnings("ignore", category=dg.BetaWarning)

CANONICAL = Path("sandbox/firewall/logs/api-proxy-logs/token-usage.jsonl")
D1, D2, D3 = dt.date(2026, 3, 1), dt.date(2026, 3, 2), dt.date(2026, 3, 3)


def record(rid: str, provider: str = "anthropic", model: str = "claude-sonnet-4-6",
           inp: int = 10, out: int = 100, cr: int = 1000, cw: int = 0, status: int = 200,
           **extra) -> dict:
    return {"timestamp": "2026-03-01T10:00:00Z", "request_id": rid, "provider": provider,
            "model": model, "path": "/v1/messages", "status": status, "streaming": True,
            "input_tokens": inp, "output_tokens": out, "cache_read_tokens": cr,
            "cache_write_tokens": cw, "duration_ms": 1000, **extra}


def land_run(root: Path, run_id: int, created: str, workflow: str, repo: str,
             lines: list[dict | str] | None, conclusion: str = "success") -> Path:
    run_dir = root / f"run-{run_id}"
    run_dir.mkdir(parents=True)
    summary = {"run_id": run_id, "run": {
        "databaseId": run_id, "workflowName": workflow, "createdAt": created,
        "status": "completed", "conclusion": conclusion, "repository": repo,
        "url": f"https://github.com/{repo}/actions/runs/{run_id}", "Duration": 60_000_000_000,
        "TokenUsage": 1, "Turns": 3}}
    (run_dir / "run_summary.json").write_text(json.dumps(summary))
    if lines is not None:
        path = run_dir / CANONICAL
        path.parent.mkdir(parents=True)
        path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines))
    return run_dir


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Three days of gh-aw logs with known numbers and known bad lines."""
    root = tmp_path / "data"
    landing = root / "landing" / "gh-aw-logs"
    land_run(landing, 1, "2026-03-01T09:00:00Z", "Smoke Claude", "acme/api", [
        record("a1"), record("a2", inp=20, out=200, cr=2000, cw=500),
        record("a2", inp=20, out=200, cr=2000, cw=500),  # duplicate
        "{not json",  # malformed
        record("a3", inp=-5),  # negative tokens
    ])
    land_run(landing, 2, "2026-03-01T23:30:00-02:00", "Triage", "acme/web", [  # = D2 in UTC
        record("b1", provider="copilot", model="gpt-5", inp=1000, out=50, cr=800),
        record("b2", provider="copilot", model="gpt-5", inp=100, out=5, cr=900),  # not disjoint
        '{"request_id": "b3", "provi',  # truncated last line
    ])
    land_run(landing, 3, "2026-03-02T08:00:00Z", "Triage", "acme/web", None, "failure")
    land_run(landing, 4, "2026-03-03T08:00:00Z", "Smoke Claude", "acme/api",
             [record("c1", status=500, out=0)])
    return root


def materialize(data_dir: Path, start: dt.date, end: dt.date,
                instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        all_assets(),
        instance=instance or dg.DagsterInstance.ephemeral(),
        resources={"finops": FinopsConfig(data_dir=str(data_dir)), "github": GitHubResource()},
        tags={"dagster/asset_partition_range_start": start.isoformat(),
              "dagster/asset_partition_range_end": end.isoformat()},
        raise_on_error=True,
    )


def sql(data_dir: Path, query: str) -> pl.DataFrame:
    with duckdb.connect(str(DataPaths(data_dir).warehouse), read_only=True) as con:
        return con.sql(query).pl()


def snapshot(data_dir: Path) -> dict[str, object]:
    """Every lake/quarantine file's bytes and every warehouse table's sorted rows."""
    out: dict[str, object] = {}
    for kind in ("lake", "quarantine"):
        for f in sorted((data_dir / kind).rglob("*.parquet")):
            out[str(f.relative_to(data_dir))] = f.read_bytes()
    for t in tables():
        out[t.name] = sql(data_dir, f"SELECT * FROM {t.name} ORDER BY ALL").rows()
    return out


def test_definitions_load():
    graph = defs().resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"sources/gh_aw_logs", "lake/llm_requests", "warehouse/kpi_workflow_daily"} <= keys
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.partitions_def is not None
        assert node.backfill_policy == dg.BackfillPolicy.single_run()
    assert defs().resolve_job_def("finops_daily") is not None


def test_range_in_one_run_fills_every_table(data_dir: Path):
    instance = dg.DagsterInstance.ephemeral()
    result = materialize(data_dir, D1, D3, instance)
    assert result.success
    assert len(instance.get_runs()) == 1
    mats = result.asset_materializations_for_node("lake")
    assert sorted({m.partition for m in mats}) == [d.isoformat() for d in (D1, D2, D3)]

    runs = sql(data_dir, "SELECT day, run_id, repo, workflow, has_token_data, requests, is_failed "
                         "FROM fact_workflow_runs ORDER BY run_id")
    assert runs.rows() == [
        (D1, 1, "acme/api", "Smoke Claude", True, 2, False),
        (D2, 2, "acme/web", "Triage", True, 1, False),
        (D2, 3, "acme/web", "Triage", False, 0, True),
        (D3, 4, "acme/api", "Smoke Claude", True, 1, False),
    ]
    kpi = sql(data_dir, "SELECT * FROM kpi_workflow_daily WHERE day = '2026-03-01'").to_dicts()[0]
    # a1: 10 + 1000 + 0 + 100; a2: 20 + 2000 + 500 + 200 (the duplicate counted once)
    assert kpi["requests"] == 2
    assert kpi["total_tokens"] == 1110 + 2720
    assert kpi["cache_hit_rate"] == pytest.approx(3000 / (3000 + 30))
    assert kpi["io_ratio"] == pytest.approx((30 + 3000 + 500) / 300)
    assert kpi["avg_tokens_per_run"] == pytest.approx(3830)
    triage = sql(data_dir, "SELECT runs, instrumented_runs, failed_runs, requests, input_tokens, "
                           "cache_read_tokens FROM kpi_workflow_daily WHERE day = '2026-03-02'")
    # Copilot's input includes cache reads: 1000 - 800 uncached.
    assert triage.rows() == [(2, 1, 1, 1, 200, 800)]
    mix = sql(data_dir, "SELECT day, workflow, model, requests, share_of_requests, "
                        "share_of_cost FROM kpi_workflow_model_daily ORDER BY day")
    assert mix.rows() == [(D1, "Smoke Claude", "claude-sonnet-4-6", 2, 1.0, 1.0),
                          (D2, "Triage", "gpt-5", 1, 1.0, 1.0),
                          (D3, "Smoke Claude", "claude-sonnet-4-6", 1, 1.0, 1.0)]
    err = sql(data_dir, "SELECT error_rate FROM kpi_workflow_daily WHERE day = '2026-03-03'")
    assert err.item() == 1.0
    hist = sql(data_dir, "SELECT day, runs, requests, rows_quarantined, rows_duplicate "
                         "FROM history_daily ORDER BY day")
    assert hist.rows() == [(D1, 1, 2, 2, 1), (D2, 2, 1, 2, 0), (D3, 1, 1, 0, 0)]
    # the analytics of the same publish: tasks, showback, trends, anomalies, and their
    # previews in the assets' metadata
    tasks = sql(data_dir, "SELECT day, run_id, completed, retries, total_tokens, "
                          "classification FROM run_outcomes ORDER BY run_id")
    assert tasks.rows() == [(D1, 1, True, 0, 3830, "healthy"),  # no PR: completed is its outcome
                            (D2, 2, True, 0, 1050, "healthy"),
                            (D2, 3, False, 0, 0, "healthy"),
                            (D3, 4, True, 0, 1010, "healthy")]
    org = sql(data_dir, "SELECT day, value, value_7d FROM trend_daily WHERE scope = 'org' "
                        "AND metric = 'total_tokens' ORDER BY day")
    assert org.rows() == [(D1, 3830.0, 3830.0), (D2, 1050.0, 4880.0), (D3, 1010.0, 5890.0)]
    anomalies = result.asset_materializations_for_node("warehouse")
    by_table = {m.asset_key.path[-1]: m.metadata for m in anomalies}
    assert "top_per_day" in by_table["anomalies"] and "per_day" in by_table["anomalies"]
    assert "error_rate_high" in by_table["anomalies"]["top_per_day"].value  # D3: all 500s
    assert {"run_outcomes", "showback_daily", "trend_daily", "recommendations"} <= set(by_table)


def test_every_malformed_line_is_quarantined_with_reason(data_dir: Path):
    materialize(data_dir, D1, D3)
    q = pl.read_parquet(data_dir / "quarantine" / "llm_requests" / "*" / "*.parquet")
    got = {(Path(s).parts[-6], line): reason for s, line, reason
           in q.select("_source", "_line", "_reason").rows()}
    assert set(got) == {("run-1", 4), ("run-1", 5), ("run-2", 2), ("run-2", 3)}
    assert got[("run-1", 4)] == "invalid JSON"
    assert "input_tokens: a non-negative integer (got '-5')" in got[("run-1", 5)]
    assert "disjoint" in got[("run-2", 2)]
    assert "truncated last line" in got[("run-2", 3)]
    assert q["_raw"].null_count() == 0


def test_ingest_log_balances_for_every_day(data_dir: Path):
    result = materialize(data_dir, D1, D3)
    log = sql(data_dir, "SELECT * FROM ingest_log ORDER BY day, dataset")
    # gh_aw_logs' two datasets a day, and the agent_calls source's (no files: all zero)
    assert log.filter(pl.col("source") == "gh_aw_logs").height == 6
    agents = log.filter(pl.col("source") == "agent_calls")
    assert agents.height == 6 and agents["rows_in"].sum() == 0
    assert (log["rows_in"] == log["rows_valid"] + log["rows_quarantined"]
            + log["rows_duplicate"]).all()
    assert log.filter(pl.col("day") == D1, pl.col("dataset") == "llm_requests").select(
        "rows_in", "rows_valid", "rows_quarantined", "rows_duplicate").row(0) == (5, 2, 2, 1)
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()
              if e.asset_key.path[-1] != "agent_calls"}  # (no agent calls landed here)
    # 2 of 5 lines quarantined on D1 and D2: above the 5% default rate, so the WARN fires.
    assert checks == {"github_fetch_complete": True,  # off: nothing to fetch, nothing failed
                      "github_billing_fetch_complete": True,
                      "gh_aw_logs_fetch_complete": True, "otel_fetch_complete": True,
                      "rows_in_balance": True, "quarantine_rate_below_threshold": False,
                      "all_requests_priced": True, "ingest_log_balances": True,
                      "lake_matches_warehouse": True, "requests_match_run_summaries": True,
                      "latest_partition_fresh": False, "trend_matches_kpis": True,
                      "savings_within_cost": True, "run_credits_match_running_total": True}


def test_requests_are_priced_and_unknown_models_stay_null(data_dir: Path):
    land_run(data_dir / "landing" / "gh-aw-logs", 7, "2026-03-03T09:00:00Z", "Exp", "acme/x",
             [record("u1", provider="unknown", model="totally-new-model-9", cr=0)])
    result = materialize(data_dir, D3, D3)
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()
              if e.asset_key.path[-1] != "agent_calls"}
    assert checks["all_requests_priced"].passed is False
    assert "totally-new-model-9" in checks["all_requests_priced"].metadata["models"].text
    req = sql(data_dir, "SELECT request_id, cost_usd, price_basis FROM fact_llm_requests "
                        "ORDER BY request_id")
    assert req["request_id"].to_list() == ["c1", "u1"]
    assert req["cost_usd"][0] > 0 and req["price_basis"][0] == "list_api"
    assert req["cost_usd"][1] is None
    exp = sql(data_dir, "SELECT cost_usd, unpriced_requests FROM kpi_workflow_daily "
                        "WHERE workflow = 'Exp'")
    assert exp.rows() == [(None, 1)]  # unknown, never 0
    models = sql(data_dir, "SELECT model, requests, unpriced_requests FROM kpi_model_daily "
                           "ORDER BY model")
    assert models.rows() == [("claude-sonnet-4-6", 1, 0), ("totally-new-model-9", 1, 1)]


def test_rematerializing_any_day_changes_nothing(data_dir: Path):
    materialize(data_dir, D1, D3)
    before = snapshot(data_dir)
    materialize(data_dir, D2, D2)
    assert snapshot(data_dir) == before
    materialize(data_dir, D1, D3)
    assert snapshot(data_dir) == before


def test_other_sources_slices_survive_a_rerun(data_dir: Path):
    materialize(data_dir, D1, D1)
    paths = DataPaths(data_dir)
    # Pretend the github source delivered the same day earlier (its raw slice is on disk;
    # it is off now: no repos configured).
    for kind in ("runs", "token_usage"):
        src = pl.read_parquet(paths.raw_file("gh_aw_logs", kind, D1))
        dst = paths.raw_file("github", kind, D1)
        dst.parent.mkdir(parents=True)
        src.write_parquet(dst)
    # gh-aw logs are gone from the landing area; the source runs and delivers nothing today.
    for run in (data_dir / "landing" / "gh-aw-logs").iterdir():
        for f in sorted(run.rglob("*"), reverse=True):
            f.unlink() if f.is_file() else f.rmdir()
    materialize(data_dir, D1, D1)
    sources = sql(data_dir, "SELECT source, count(*) FROM fact_llm_requests GROUP BY ALL")
    assert sources.rows() == [("github", 2)]
    log = sql(data_dir, "SELECT source, rows_in FROM ingest_log WHERE dataset='llm_requests' "
                        "ORDER BY source")
    assert log.rows() == [("gh_aw_logs", 0), ("github", 5)]


def test_failed_load_leaves_published_warehouse_intact(data_dir: Path, monkeypatch):
    materialize(data_dir, D1, D3)
    before = snapshot(data_dir)
    import finops_pipeline.warehouse.load as load

    calls = {"n": 0}
    real = load.replace_rows

    def flaky(con, t, rows, scope):
        calls["n"] += 1
        if calls["n"] == 8:  # the second day's first table
            raise RuntimeError("simulated crash mid-load")
        return real(con, t, rows, scope)

    monkeypatch.setattr(load, "replace_rows", flaky)
    # Change the input so a successful load would change the warehouse.
    land_run(data_dir / "landing" / "gh-aw-logs", 9, "2026-03-01T12:00:00Z", "New", "acme/x",
             [record("z1")])
    with pytest.raises(RuntimeError, match="simulated crash"):
        materialize(data_dir, D1, D3)
    after = snapshot(data_dir)
    assert {k: v for k, v in after.items() if k in {t.name for t in tables()}} == {
        k: v for k, v in before.items() if k in {t.name for t in tables()}}
    assert not list((data_dir / ".staging").glob("finops.duckdb*"))


def test_empty_landing_materializes_empty_day(tmp_path: Path):
    result = materialize(tmp_path / "empty", D1, D1)
    assert result.success
    assert sql(tmp_path / "empty", "SELECT runs, requests FROM history_daily").rows() == [(0, 0)]


def test_rematerializing_reprices_with_the_current_config(data_dir: Path, tmp_path: Path):
    materialize(data_dir, D1, D1)
    before = sql(data_dir, "SELECT request_id, cost_usd, price_basis FROM fact_llm_requests "
                           "ORDER BY request_id")
    assert before["price_basis"].to_list() == ["list_api", "list_api"]
    # An override effective from D1 (a negotiated price), picked up by the next run.
    (tmp_path / "finops.yaml").write_text(
        "prices:\n  - {provider: anthropic, model: claude-sonnet-4-6, effective_from: "
        "2026-03-01, input_mtok: 1.0, output_mtok: 2.0, cache_read_mtok: 0.5, "
        "cache_write_mtok: 1.5}\n")
    materialize(data_dir, D1, D1)
    after = sql(data_dir, "SELECT request_id, cost_usd, price_basis FROM fact_llm_requests "
                          "ORDER BY request_id")
    # a1: 10 in, 100 out, 1000 cache read; a2: 20 in, 200 out, 2000 read, 500 written ($/MTok)
    assert after["cost_usd"].to_list() == pytest.approx([
        (10 * 1.0 + 100 * 2.0 + 1000 * 0.5) / 1e6,
        (20 * 1.0 + 200 * 2.0 + 2000 * 0.5 + 500 * 1.5) / 1e6])
    assert after["price_basis"].to_list() == ["config_override", "config_override"]
    kpi = sql(data_dir, "SELECT cost_usd FROM kpi_workflow_daily WHERE day = '2026-03-01'")
    assert kpi.item() == pytest.approx(sum(after["cost_usd"]))


def test_ai_credits_reach_the_kpis_and_the_running_total_is_checked(tmp_path: Path):
    """Credits as the api-proxy writes them: summed beside the list-price cost, billed at
    $0.01; a run whose responses do not add up to its running total fails the WARN check."""
    root = tmp_path / "data"
    landing = root / "landing" / "gh-aw-logs"

    def credited(rid: str, credits: float, total: float) -> dict:
        return record(rid, provider="copilot", model="gpt-5", inp=1000, cr=400,
                      ai_credits_this_response=credits, ai_credits_total=total,
                      x_initiator="agent")

    land_run(landing, 21, "2026-03-01T09:00:00Z", "Copilot Agent", "acme/api", [
        credited("c1", 1.0, 1.0), credited("c2", 2.0, 3.0), credited("c3", 0.5, 3.5)])
    land_run(landing, 22, "2026-03-01T10:00:00Z", "Copilot Agent", "acme/api", [
        credited("d1", 1.0, 1.0), credited("d2", 1.0, 9.0)])  # 7 credits never recorded
    land_run(landing, 23, "2026-03-01T11:00:00Z", "Claude Agent", "acme/api", [record("e1")])
    result = materialize(root, D1, D1)
    wf = sql(root, "SELECT workflow, ai_credits, billed_usd, credited_requests, cost_usd "
                   "FROM kpi_workflow_daily ORDER BY workflow").rows()
    assert wf[0][:4] == ("Claude Agent", None, None, 0)  # no credits reported: unknown
    assert wf[1][:4] == ("Copilot Agent", 5.5, pytest.approx(0.055), 5)
    assert wf[1][4] > 0  # the list price stays beside it
    runs = sql(root, "SELECT run_id, ai_credits, ai_credits_running_total FROM kpi_run_daily "
                     "ORDER BY run_id").rows()
    assert runs == [(21, 3.5, 3.5), (22, 2.0, 9.0), (23, None, None)]
    assert sql(root, "SELECT ai_credits FROM history_daily").item() == 5.5
    (check,) = [e for e in result.get_asset_check_evaluations()
                if e.check_name == "run_credits_match_running_total"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["runs_compared"].value == 2
    assert check.metadata["runs_outside_tolerance"].value == 1
    assert "22" in check.metadata["worst"].value
