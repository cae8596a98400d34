"""What a day's report shows, read from the warehouse: it computes nothing the tables do not
hold (sums over a table's rows of the day at most).

`load_report_range(con, days)` runs one query per section for a whole span of days on one
read-only connection (one consistent snapshot of the warehouse) and splits the rows by day:
a year's backfill reads its reports in a few dozen queries, not 19 per day.
`load_report_data(con, day)` is the same for one day. Rendering is elsewhere.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Iterator
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
#: Days read per batch of queries: bounds the rows held at once on a long backfill.
BATCH_DAYS = 31


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


class _Days:
    """The days of one batch of queries, and each query's rows split by day."""

    def __init__(self, con: duckdb.DuckDBPyConnection, days: list[dt.date]):
        self.con, self.days = con, days
        self.start, self.end = days[0], days[-1]

    def frames(self, sql: str, keep_day: bool = False) -> dict[dt.date, pl.DataFrame]:
        """`sql` over the batch's span (its first column `day`, parameters start and end),
        as one frame per day of the batch (empty ones for days without rows); `day` is
        dropped unless the section shows it."""
        df = self.con.sql(sql, params=[self.start, self.end]).pl()
        parts = {key[0]: part for key, part in
                 df.partition_by("day", as_dict=True, maintain_order=True).items()}
        frames = {day: parts.get(day, df.clear()) for day in self.days}
        return frames if keep_day else {day: f.drop("day") for day, f in frames.items()}


# Every day of [?, ?], for sections that have one row per day even without data.
_SPAN = "(SELECT unnest(range(?::DATE, ?::DATE + 1, INTERVAL 1 DAY))::DATE AS day)"


def _load_batch(con: duckdb.DuckDBPyConnection, days: list[dt.date]) -> Iterator[ReportData]:
    q = _Days(con, days)
    overview = q.frames("SELECT * FROM history_daily WHERE day BETWEEN ? AND ? ORDER BY day",
                        keep_day=True)
    previous_7d = q.frames(f"""
        SELECT d.day, count(h.day) AS days, sum(h.runs)::DOUBLE AS runs,
               sum(h.requests)::DOUBLE AS requests,
               sum(h.total_tokens)::DOUBLE AS total_tokens, sum(h.cost_usd) AS cost_usd,
               sum(h.cache_read_tokens)::DOUBLE AS cache_read_tokens,
               sum(h.input_tokens)::DOUBLE AS input_tokens
        FROM {_SPAN} d LEFT JOIN history_daily h ON h.day BETWEEN d.day - 7 AND d.day - 1
        GROUP BY d.day ORDER BY d.day""")
    credits = dict(con.sql("""
        SELECT day, sum(reported_ai_credits)::DOUBLE FROM fact_workflow_runs
        WHERE day BETWEEN ? AND ? AND reported_ai_credits IS NOT NULL GROUP BY day""",
                           params=[q.start, q.end]).fetchall())
    workflows = q.frames("""
        SELECT k.*, t.change_pct_7d AS cost_change_pct_7d, t.prev_7d AS cost_prev_7d
        FROM kpi_workflow_daily k
        LEFT JOIN trend_daily t ON t.day = k.day AND t.scope = 'workflow'
             AND t.key = k.repo || ':' || k.workflow AND t.metric = 'cost_usd'
        WHERE k.day BETWEEN ? AND ?
        ORDER BY k.day, k.cost_usd DESC NULLS LAST, k.total_tokens DESC, k.repo, k.workflow""",
                         keep_day=True)
    recommendations = q.frames(f"""
        SELECT * FROM recommendations WHERE day BETWEEN ? AND ?
        QUALIFY row_number() OVER (PARTITION BY day ORDER BY rank) <= {TOP_RECOMMENDATIONS}
        ORDER BY day, rank""", keep_day=True)
    anomaly_order = """CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
                       kind DESC, scope, key, rule"""
    anomalies = q.frames(f"""
        SELECT * FROM anomalies WHERE day BETWEEN ? AND ?
        QUALIFY row_number() OVER (PARTITION BY day ORDER BY {anomaly_order}) <= {TOP_ANOMALIES}
        ORDER BY day, {anomaly_order}""", keep_day=True)
    model_mix = q.frames("""
        SELECT day, repo, workflow, provider, model, requests, total_tokens, cost_usd
        FROM kpi_workflow_model_daily WHERE day BETWEEN ? AND ?
        ORDER BY day, repo, workflow, cost_usd DESC NULLS LAST, total_tokens DESC""")
    top_runs = q.frames(f"""
        SELECT day, repo, workflow, run_id, run_attempt, conclusion, url, has_token_data,
               requests, total_tokens, cost_usd, turns, top_model
        FROM kpi_run_daily WHERE day BETWEEN ? AND ?
        QUALIFY row_number() OVER (PARTITION BY day, repo, workflow
                                   ORDER BY cost_usd DESC NULLS LAST, total_tokens DESC,
                                            run_id) <= {TOP_RUNS}
        ORDER BY day, repo, workflow, cost_usd DESC NULLS LAST, total_tokens DESC, run_id""")
    flags = q.frames("""
        SELECT day, key, rule, severity, message FROM anomalies
        WHERE day BETWEEN ? AND ? AND scope = 'workflow' ORDER BY day, key, severity, rule""")
    uninstrumented = q.frames("""
        SELECT day, repo, workflow, runs, instrumented_runs,
               runs - instrumented_runs AS missing
        FROM kpi_workflow_daily WHERE day BETWEEN ? AND ? AND instrumented_runs < runs
        ORDER BY day, instrumented_runs > 0, missing DESC, repo, workflow""")
    models = q.frames("""
        SELECT day, provider, model, requests, total_tokens, cost_usd, share_of_cost,
               cache_hit_rate, workflows
        FROM kpi_model_daily WHERE day BETWEEN ? AND ?
        ORDER BY day, cost_usd DESC NULLS LAST, total_tokens DESC, provider, model""")
    agent_order = "cost_usd DESC NULLS LAST, total_tokens DESC, agent_name"
    agents = q.frames(f"""
        SELECT day, agent_name, calls, total_tokens, input_tokens, output_tokens,
               cache_read_tokens, cost_usd, models_used, success_rate, latency_p95_ms
        FROM kpi_agent_daily WHERE day BETWEEN ? AND ?
        QUALIFY row_number() OVER (PARTITION BY day ORDER BY {agent_order}) <= {TOP_AGENTS}
        ORDER BY day, {agent_order}""")
    agent_totals = q.frames(f"""
        SELECT d.day, count(a.day) AS agents, sum(a.calls)::DOUBLE AS calls,
               sum(a.total_tokens)::DOUBLE AS total_tokens, sum(a.cost_usd) AS cost_usd
        FROM {_SPAN} d LEFT JOIN kpi_agent_daily a ON a.day = d.day
        GROUP BY d.day ORDER BY d.day""")
    app_workflows = q.frames("""
        SELECT day, workflow_name, executions, succeeded, failed, open, cost_usd,
               avg_cost_per_execution, avg_duration_seconds
        FROM kpi_app_workflow_daily WHERE day BETWEEN ? AND ?
        ORDER BY day, cost_usd DESC NULLS LAST, workflow_name""")
    teams = q.frames("""
        SELECT day, level, team, total_tokens, cost_usd, tasks, mtd_cost_usd, mtd_budget_usd,
               mtd_variance_usd, efficiency_score
        FROM showback_daily WHERE day BETWEEN ? AND ? AND (level = 'total' OR repo = '*')
        ORDER BY day, level = 'total', cost_usd DESC NULLS LAST, team""")
    history = con.sql("""
        SELECT day, runs, instrumented_runs, requests, input_tokens, output_tokens,
               cache_read_tokens, cache_write_tokens, total_tokens, cost_usd, cache_hit_rate
        FROM history_daily WHERE day BETWEEN ? AND ? ORDER BY day""",
                      params=[q.start - dt.timedelta(days=HISTORY_DAYS - 1), q.end]).pl()
    ingest = q.frames("""
        SELECT day, source, dataset, rows_in, rows_valid, rows_quarantined, runs_skipped
        FROM ingest_log WHERE day BETWEEN ? AND ? ORDER BY day, source, dataset""")
    reconciliation = q.frames("""
        SELECT day, org, model, telemetry_ai_credits, telemetry_billed_usd,
               telemetry_cost_usd, billed_net_usd, unexplained_usd, unexplained_share
        FROM reconciliation_daily WHERE day BETWEEN ? AND ?
        ORDER BY day, org, billed_net_usd DESC, model""")
    with_data = [row[0] for row in con.sql("""
        SELECT DISTINCT day FROM (SELECT day FROM history_daily WHERE runs > 0 AND day < ?
                                  UNION ALL SELECT day FROM kpi_agent_daily WHERE day < ?)
        ORDER BY day""", params=[q.end, q.end]).fetchall()]
    for day in days:
        earlier = bisect.bisect_left(with_data, day)
        credit = credits.get(day)
        yield ReportData(
            day=day, overview=overview[day], previous_7d=previous_7d[day],
            ai_credits=float(credit) if credit is not None else None,
            workflows=workflows[day], recommendations=recommendations[day],
            anomalies=anomalies[day], model_mix=model_mix[day], top_runs=top_runs[day],
            flags=flags[day], uninstrumented=uninstrumented[day], models=models[day],
            agents=agents[day], agent_totals=agent_totals[day],
            app_workflows=app_workflows[day], teams=teams[day],
            history=history.filter(pl.col("day").is_between(
                day - dt.timedelta(days=HISTORY_DAYS - 1), day)),
            ingest=ingest[day], reconciliation=reconciliation[day],
            last_day_with_data=with_data[earlier - 1] if earlier else None,
        )


def load_report_range(con: duckdb.DuckDBPyConnection,
                      days: Iterable[dt.date]) -> Iterator[ReportData]:
    """Every section's rows for each of `days` (in date order) from the warehouse on `con`,
    read BATCH_DAYS days at a time."""
    ordered = sorted(set(days))
    while ordered:
        span_end = ordered[0] + dt.timedelta(days=BATCH_DAYS - 1)
        batch = [d for d in ordered if d <= span_end]
        ordered = ordered[len(batch):]
        yield from _load_batch(con, batch)


def load_report_data(con: duckdb.DuckDBPyConnection, day: dt.date) -> ReportData:
    """Every section's rows for `day` from the warehouse on `con`."""
    return next(load_report_range(con, [day]))
