"""What a day's report shows, read from the warehouse: it computes nothing the tables do not
hold (sums over a table's rows of the day at most).

`load_report_data(con, day)` runs one query per section on one read-only connection (one
consistent snapshot of the warehouse) and returns polars frames; rendering is elsewhere.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import polars as pl

#: Days of history the trend chart and table show.
HISTORY_DAYS = 30
#: Rows of the long sections.
TOP_RECOMMENDATIONS = 10
TOP_ANOMALIES = 15
TOP_RUNS = 3
TOP_AGENTS = 10


@dataclass(frozen=True)
class ReportData:
    day: dt.date
    overview: pl.DataFrame  # history_daily of the day (0 or 1 row)
    previous_7d: pl.DataFrame  # history_daily sums of day-7..day-1, 1 row
    ai_credits: float | None  # AI credits gh-aw reported for the day's runs, where known
    workflows: pl.DataFrame  # kpi_workflow_daily of the day + trend arrow inputs
    recommendations: pl.DataFrame
    anomalies: pl.DataFrame
    model_mix: pl.DataFrame  # kpi_workflow_model_daily of the day
    top_runs: pl.DataFrame  # the most expensive run attempts per workflow
    flags: pl.DataFrame  # anomalies of workflows (key repo:workflow) of the day
    uninstrumented: pl.DataFrame  # workflows with runs but no token data
    models: pl.DataFrame  # kpi_model_daily of the day
    agents: pl.DataFrame  # kpi_agent_daily of the day (the top TOP_AGENTS)
    agent_totals: pl.DataFrame  # every agent of the day: calls, tokens, cost (1 row)
    app_workflows: pl.DataFrame  # kpi_app_workflow_daily of the day
    teams: pl.DataFrame  # showback_daily of the day, levels team and total
    history: pl.DataFrame  # history_daily of the last HISTORY_DAYS days to the day
    ingest: pl.DataFrame  # ingest_log of the day per source and dataset
    reconciliation: pl.DataFrame  # reconciliation_daily of the day
    last_day_with_data: dt.date | None

    @property
    def has_data(self) -> bool:
        """Anything to report: GitHub runs or agent calls on the day."""
        runs = self.overview.height and (self.overview["runs"][0] or 0) > 0
        return bool(runs or self.agents.height or self.app_workflows.height)


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> pl.DataFrame:
    return con.sql(sql, params=params).pl()


def load_report_data(con: duckdb.DuckDBPyConnection, day: dt.date) -> ReportData:
    """Every section's rows for `day` from the warehouse on `con`."""
    d = [day]
    since = day - dt.timedelta(days=HISTORY_DAYS - 1)
    overview = _frame(con, "SELECT * FROM history_daily WHERE day = ?", d)
    previous_7d = _frame(con, """
        SELECT count(*) AS days, sum(runs)::DOUBLE AS runs, sum(requests)::DOUBLE AS requests,
               sum(total_tokens)::DOUBLE AS total_tokens, sum(cost_usd) AS cost_usd,
               sum(cache_read_tokens)::DOUBLE AS cache_read_tokens,
               sum(input_tokens)::DOUBLE AS input_tokens
        FROM history_daily WHERE day BETWEEN ? - 7 AND ? - 1""", [day, day])
    credits = con.sql("""
        SELECT sum(reported_ai_credits)::DOUBLE FROM fact_workflow_runs
        WHERE day = ? AND reported_ai_credits IS NOT NULL""", params=d).fetchall()[0][0]
    workflows = _frame(con, """
        SELECT k.*, t.change_pct_7d AS cost_change_pct_7d, t.prev_7d AS cost_prev_7d
        FROM kpi_workflow_daily k
        LEFT JOIN trend_daily t ON t.day = k.day AND t.scope = 'workflow'
             AND t.key = k.repo || ':' || k.workflow AND t.metric = 'cost_usd'
        WHERE k.day = ? ORDER BY k.cost_usd DESC NULLS LAST, k.total_tokens DESC,
                                 k.repo, k.workflow""", d)
    recommendations = _frame(con, f"""
        SELECT * FROM recommendations WHERE day = ? ORDER BY rank
        LIMIT {TOP_RECOMMENDATIONS}""", d)
    anomalies = _frame(con, f"""
        SELECT * FROM anomalies WHERE day = ?
        ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
                 kind DESC, scope, key, rule
        LIMIT {TOP_ANOMALIES}""", d)
    model_mix = _frame(con, """
        SELECT repo, workflow, provider, model, requests, total_tokens, cost_usd
        FROM kpi_workflow_model_daily WHERE day = ?
        ORDER BY repo, workflow, cost_usd DESC NULLS LAST, total_tokens DESC""", d)
    top_runs = _frame(con, f"""
        SELECT repo, workflow, run_id, run_attempt, conclusion, url, has_token_data, requests,
               total_tokens, cost_usd, turns, top_model
        FROM kpi_run_daily WHERE day = ?
        QUALIFY row_number() OVER (PARTITION BY repo, workflow
                                   ORDER BY cost_usd DESC NULLS LAST, total_tokens DESC,
                                            run_id) <= {TOP_RUNS}
        ORDER BY repo, workflow, cost_usd DESC NULLS LAST, total_tokens DESC, run_id""", d)
    flags = _frame(con, """
        SELECT key, rule, severity, message FROM anomalies
        WHERE day = ? AND scope = 'workflow' ORDER BY key, severity, rule""", d)
    uninstrumented = _frame(con, """
        SELECT repo, workflow, runs, instrumented_runs, runs - instrumented_runs AS missing
        FROM kpi_workflow_daily WHERE day = ? AND instrumented_runs < runs
        ORDER BY instrumented_runs > 0, missing DESC, repo, workflow""", d)
    models = _frame(con, """
        SELECT provider, model, requests, total_tokens, cost_usd, share_of_cost,
               cache_hit_rate, workflows
        FROM kpi_model_daily WHERE day = ? ORDER BY cost_usd DESC NULLS LAST,
                                                  total_tokens DESC""", d)
    agents = _frame(con, f"""
        SELECT agent_name, calls, total_tokens, input_tokens, output_tokens,
               cache_read_tokens, cost_usd, models_used, success_rate, latency_p95_ms
        FROM kpi_agent_daily WHERE day = ? ORDER BY cost_usd DESC NULLS LAST,
                                                  total_tokens DESC
        LIMIT {TOP_AGENTS}""", d)
    agent_totals = _frame(con, """
        SELECT count(*) AS agents, sum(calls)::DOUBLE AS calls,
               sum(total_tokens)::DOUBLE AS total_tokens, sum(cost_usd) AS cost_usd
        FROM kpi_agent_daily WHERE day = ?""", d)
    app_workflows = _frame(con, """
        SELECT workflow_name, executions, succeeded, failed, open, cost_usd,
               avg_cost_per_execution, avg_duration_seconds
        FROM kpi_app_workflow_daily WHERE day = ? ORDER BY cost_usd DESC NULLS LAST""", d)
    teams = _frame(con, """
        SELECT level, team, total_tokens, cost_usd, tasks, mtd_cost_usd, mtd_budget_usd,
               mtd_variance_usd, efficiency_score
        FROM showback_daily WHERE day = ? AND (level = 'total' OR repo = '*')
        ORDER BY level = 'total', cost_usd DESC NULLS LAST, team""", d)
    history = _frame(con, """
        SELECT day, runs, instrumented_runs, requests, input_tokens, output_tokens,
               cache_read_tokens, cache_write_tokens, total_tokens, cost_usd, cache_hit_rate
        FROM history_daily WHERE day BETWEEN ? AND ? ORDER BY day""", [since, day])
    ingest = _frame(con, """
        SELECT source, dataset, rows_in, rows_valid, rows_quarantined, runs_skipped
        FROM ingest_log WHERE day = ? ORDER BY source, dataset""", d)
    reconciliation = _frame(con, """
        SELECT org, model, telemetry_ai_credits, telemetry_billed_usd, telemetry_cost_usd,
               billed_net_usd, unexplained_usd, unexplained_share
        FROM reconciliation_daily WHERE day = ?
        ORDER BY org, billed_net_usd DESC, model""", d)
    last = con.sql("""
        SELECT max(day) FROM (SELECT day FROM history_daily WHERE runs > 0 AND day < ?
                              UNION ALL SELECT day FROM kpi_agent_daily WHERE day < ?)""",
                   params=[day, day]).fetchall()[0][0]
    return ReportData(
        day=day, overview=overview, previous_7d=previous_7d,
        ai_credits=float(credits) if credits is not None else None,
        workflows=workflows, recommendations=recommendations, anomalies=anomalies,
        model_mix=model_mix, top_runs=top_runs, flags=flags, uninstrumented=uninstrumented,
        models=models, agents=agents, agent_totals=agent_totals,
        app_workflows=app_workflows, teams=teams,
        history=history, ingest=ingest,
        reconciliation=reconciliation,
        last_day_with_data=last,
    )
