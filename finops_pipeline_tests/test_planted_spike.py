"""The detector on realistic workflows: the demo's 10 workflows (own engines, model mixes,
request counts and sizes, failures, uninstrumented runs) over 35 days, with one workflow's day
planted at 8x its tokens. Materialized through Dagster like a user's backfill.

The spike must be flagged on its day, and the month of ordinary day-to-day variation around
it must give (almost) no statistical flags. Also checks the analytics end to end: trends
agree with the KPIs, showback holds the seed formula, recommendations' savings recompute.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from finops_pipeline.cli import materialize_range
from finops_pipeline.config import load_settings
from finops_pipeline.demo import generate_landing
from finops_pipeline.warehouse.access import query

END = dt.date(2026, 10, 31)
DAYS = 35
SPIKE_DAY = dt.date(2026, 10, 30)
SPIKE_REPO, SPIKE_WORKFLOW = "acme/api", "PR Reviewer"
# The workflow's ordinary days range from 2M to 10M tokens (3 to 5 runs of very different
# sizes: a log-scale spread of ~0.45), so a 3x day is ordinary for it; a runaway day at 8x
# its runs' tokens is the several-fold spike to find.
FACTOR = 8


def plant_spike(landing: Path) -> int:
    """Multiply every token count of the spike workflow's runs on SPIKE_DAY by FACTOR;
    returns the number of token-usage lines changed."""
    changed = 0
    for summary in landing.glob("gh-aw-logs/*/run-*/run_summary.json"):
        run = json.loads(summary.read_text())["run"]
        if (run["workflowName"], run["repository"]) != (SPIKE_WORKFLOW, SPIKE_REPO) or \
                not run["createdAt"].startswith(SPIKE_DAY.isoformat()):
            continue
        for usage in summary.parent.rglob("token-usage.jsonl"):
            lines = []
            for line in usage.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    lines.append(line)
                    continue
                for k in ("input_tokens", "output_tokens", "cache_read_tokens",
                          "cache_write_tokens"):
                    if isinstance(rec.get(k), int):
                        rec[k] *= FACTOR
                lines.append(json.dumps(rec))
                changed += 1
            usage.write_text("\n".join(lines) + "\n")
    return changed


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("spike")
    generate_landing(data / "landing" / "gh-aw-logs", days=DAYS, end_day=END, seed=11)
    assert plant_spike(data / "landing") > 0
    settings = load_settings(data_dir=data, env={})
    # True: the run succeeded and no ERROR check failed (trend_matches_kpis,
    # savings_within_cost among them); the planted day's gh-aw summaries WARN, as they should
    assert materialize_range(settings, END - dt.timedelta(days=DAYS - 1), END)
    return data / "warehouse" / "finops.duckdb"


@pytest.mark.slow
def test_the_spike_is_flagged_on_its_day_and_noise_is_quiet(warehouse: Path):
    stats = query(warehouse, "SELECT day, scope, key, rule, severity, observed, expected "
                             "FROM anomalies WHERE kind = 'statistical' ORDER BY day")
    key = f"{SPIKE_REPO}:{SPIKE_WORKFLOW}"
    hit = stats.filter(pl.col("day") == SPIKE_DAY, pl.col("key") == key)
    assert set(hit["rule"]) == {"total_tokens_spike", "cost_usd_spike"}
    assert (hit["observed"] > 3 * hit["expected"]).all()
    # The spike also lifts its repo's and its models' day; anything else is noise: 10
    # workflows, 4 repos and the models, 2 metrics, 35 days: ~1,500 key-days.
    others = stats.filter(~((pl.col("day") == SPIKE_DAY)
                            & pl.col("scope").is_in(["workflow", "repo", "model"])
                            & (pl.col("key").is_in([key, SPIKE_REPO])
                               | (pl.col("scope") == "model"))))
    assert others.height <= 3, others


@pytest.mark.slow
def test_trends_showback_and_savings_recompute(warehouse: Path):
    # every showback row holds the seed formula
    bad = query(warehouse, """
        SELECT * FROM showback_daily
        WHERE abs(tokens_per_completed_task - total_tokens / greatest(completed_tasks, 1)) > 1e-6
           OR abs(retry_rate - retries / greatest(tasks, 1)) > 1e-9
           OR abs(efficiency_score - (0.5 * greatest(0, 100 - tokens_per_completed_task / 100)
                + 0.2 * greatest(0, 100 - retry_rate * 100)
                + 0.3 * greatest(0, 100 - quality_adjusted_cost * 20))) > 1e-9""")
    assert bad.height == 0
    # showback totals are the KPI tables' run totals
    diff = query(warehouse, """
        SELECT s.day, s.total_tokens, k.tokens FROM showback_daily s
        JOIN (SELECT day, sum(total_tokens) AS tokens FROM kpi_run_daily GROUP BY day) k
          USING (day)
        WHERE s.level = 'total' AND s.total_tokens <> k.tokens""")
    assert diff.height == 0
    # a trend of a workflow over 7 days equals the KPIs of those days
    trend = query(warehouse, f"""
        SELECT t.value_7d, (SELECT sum(total_tokens) FROM kpi_workflow_daily k
                            WHERE k.repo = '{SPIKE_REPO}' AND k.workflow = '{SPIKE_WORKFLOW}'
                              AND k.day BETWEEN t.day - 6 AND t.day) AS kpi_7d
        FROM trend_daily t WHERE t.scope = 'workflow' AND t.metric = 'total_tokens'
          AND t.key = '{SPIKE_REPO}:{SPIKE_WORKFLOW}'""")
    assert trend.height >= DAYS - 5
    assert (trend["value_7d"] == trend["kpi_7d"]).all()
    # the top recommendations' savings recompute from their evidence (docs/metrics.md)
    recs = query(warehouse, f"""
        SELECT kind, current_cost_usd, potential_savings_usd, evidence FROM recommendations
        WHERE day = DATE '{END}' ORDER BY rank LIMIT 10""")
    assert recs.height > 0
    for r in recs.to_dicts():
        e = json.loads(r["evidence"])
        assert 0 < r["potential_savings_usd"] <= r["current_cost_usd"] + 1e-9
        if r["kind"] == "enable_prompt_caching":
            want = e["tokens_to_cache"] * (e["input_mtok"] - e["cache_read_mtok"]) / 1e6
        elif r["kind"] == "trim_prompt":
            want = e["prompt_cost_usd"] * e["tokens_cut"] / e["prompt_tokens"]
        else:
            continue
        assert r["potential_savings_usd"] == pytest.approx(min(want, r["current_cost_usd"]))
