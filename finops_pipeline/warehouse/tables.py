"""The table registry: every warehouse table declared once (DESIGN section 7).

A table says what it is (name, grain, description), what it reads and how it is built, and so
where and when it is loaded:

* `storage="lake_view"`: a view over the lake's Parquet files of one dataset (the large facts).
  Nothing is copied at publish time; the view is re-created at every publish.
* a table whose `reads` are lake datasets (`window_days=1`): built per day from that day's lake
  files by the `warehouse` asset; loads replace the day.
* a table whose `reads` are warehouse tables: an analytics table built by the `analytics`
  asset from the trailing `window_days` of those (small) tables. Loading days A..B rebuilds
  every day whose window they are in, through B + window_days - 1.
* `outcome_days`: an analytics row of day D may change when inputs of up to D + outcome_days
  arrive (a pull request merged a week after its run). The builder reads inputs through
  end + outcome_days, and loading day X also rebuilds X - outcome_days .. X - 1.
* `configured`: the builder takes `config=` (finops.yaml: thresholds, teams, budgets, prices);
  analytics builders always do.
* `replace_key`: the columns one load replaces. `("day",)` for daily tables; a table without a
  `day` (call chains) names its own key, and a load replaces the keys its rows carry.

Column types come from running the builder on empty typed input, so the DDL cannot drift from
what is inserted. Everything else (Dagster assets, DDL, views, docs/tables.md) is generated
from `TABLES`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import polars as pl

from finops_pipeline.config import FileConfig
from finops_pipeline.schemas.billing import BILLING_USAGE_KEY
from finops_pipeline.schemas.datasets import LAKE_DATASETS
from finops_pipeline.transforms.agent_kpis import (
    execution_efficiency,
    kpi_agent_daily,
    kpi_agent_model_daily,
    kpi_app_workflow_daily,
    kpi_session_daily,
    kpi_user_daily,
)
from finops_pipeline.transforms.anomalies import anomalies
from finops_pipeline.transforms.call_chains import call_chains
from finops_pipeline.transforms.kpis import (
    history_daily,
    kpi_model_daily,
    kpi_run_daily,
    kpi_workflow_daily,
    kpi_workflow_model_daily,
)
from finops_pipeline.transforms.outcomes import (
    OUTCOME_DAYS,
    PR_LOOKBACK_DAYS,
    run_outcomes,
    workflow_outcomes_daily,
)
from finops_pipeline.transforms.recommendations import recommendations
from finops_pipeline.transforms.reconciliation import reconciliation_daily
from finops_pipeline.transforms.showback import SHOWBACK_WINDOW_DAYS, showback_daily
from finops_pipeline.transforms.trends import trend_daily

Storage = Literal["table", "lake_view"]
# Any date works to derive a window table's schema from empty input.
_SCHEMA_DAYS = (dt.date(2000, 1, 1), dt.date(2000, 1, 1))


@dataclass(frozen=True)
class Table:
    """One warehouse table.

    Attributes:
        name: the table (or view) name users query.
        grain: what one row is.
        description: shown in the catalog, as the table comment and in Dagster.
        reads: lake datasets (for facts and daily tables) or warehouse tables (analytics).
        build: called with one frame per `reads` entry, in order; analytics builders also get
            `days=(first, last)`, the days whose rows they must return, and `config=`.
        storage: "table" (in the DuckDB file) or "lake_view" (a view over the lake files).
        window_days: the trailing days one row of an analytics table reads (1 otherwise).
        outcome_days: the later days whose inputs can still change a row (analytics).
        configured: a lake-built table's builder also takes `config=`.
        preview: a query of the most telling rows of each day from `?` to `?` (the run's
            days, its last 10 at most), shown in the asset's metadata: the top anomalies,
            the largest savings.
        replace_key: the columns a load replaces; `("day",)` unless the table has no day.
        details: its builder reads the per-row detail columns of a lake dataset it reads
            (`Dataset.detail_columns`: request ids, timestamps, paths). The day loads leave
            them unread unless a table asks: a big day is then held without them.
    """

    name: str
    grain: tuple[str, ...]
    description: str
    reads: tuple[str, ...]
    build: Callable[..., pl.DataFrame]
    storage: Storage = "table"
    window_days: int = 1
    outcome_days: int = 0
    configured: bool = False
    replace_key: tuple[str, ...] = ("day",)
    preview: str | None = None
    details: bool = False

    @property
    def daily(self) -> bool:
        """Rows belong to days and loads replace whole days."""
        return self.replace_key == ("day",)

    @property
    def from_lake(self) -> bool:
        """Built from lake datasets (facts, daily KPIs), not from other warehouse tables."""
        return all(r in LAKE_DATASETS for r in self.reads)

    @property
    def analytics(self) -> bool:
        """Built from a trailing window of warehouse tables (after the daily tables, in the
        same publish)."""
        return not self.from_lake

    def run(self, *inputs: pl.DataFrame, config: FileConfig,
            days: tuple[dt.date, dt.date] | None = None) -> pl.DataFrame:
        """Call the builder with what it takes (the days and config of analytics tables)."""
        if self.analytics:
            if days is None:
                raise ValueError(f"{self.name}: an analytics build needs its days")
            return self.build(*inputs, days=days, config=config)
        return self.build(*inputs, config=config) if self.configured else self.build(*inputs)

    @cached_property
    def schema(self) -> dict[str, pl.DataType]:
        inputs = [_empty_input(name) for name in self.reads]
        return dict(self.run(*inputs, config=FileConfig(), days=_SCHEMA_DAYS).schema)


def public_columns(dataset: str) -> Callable[[pl.DataFrame], pl.DataFrame]:
    """A fact table's builder: the dataset's rows, its internal `_` columns dropped."""
    columns = LAKE_DATASETS[dataset].public_columns

    def build(rows: pl.DataFrame) -> pl.DataFrame:
        return rows.select(columns)

    build.__name__ = f"public_{dataset}"
    return build


def _kpi_run_daily(runs: pl.DataFrame, requests: pl.DataFrame, *,
                   config: FileConfig) -> pl.DataFrame:
    return kpi_run_daily(runs, requests, small_request_output_tokens=config.thresholds
                         .small_request_output_tokens)


TABLES: tuple[Table, ...] = (
    Table("fact_workflow_runs", ("repo", "run_id", "run_attempt"),
          "One row per workflow run attempt, with whether token data was found.",
          ("workflow_runs",), public_columns("workflow_runs")),
    Table("fact_llm_requests", ("repo", "run_id", "request_id"),
          "One row per LLM request through the api-proxy, disjoint token buckets. A view "
          "over one lake file per day: filter on `day` (or call `run_requests(run_id)`) to "
          "read only those days' files.",
          ("llm_requests",), public_columns("llm_requests"), storage="lake_view"),
    Table("fact_pull_requests", ("day", "repo", "number"),
          "Copilot coding-agent pull requests on the day they last changed and the day they "
          "were opened, in their state at that day's fetch: merged, rejected (closed "
          "unmerged) or open; runs link to them by head branch. Each counts in its latest "
          "observed state (v_pull_requests_current).",
          ("pull_requests",), public_columns("pull_requests")),
    Table("kpi_workflow_daily", ("day", "repo", "workflow"),
          "Daily KPIs per workflow (DESIGN section 6).",
          ("workflow_runs", "llm_requests"), kpi_workflow_daily),
    Table("kpi_model_daily", ("day", "provider", "model"),
          "Daily volume and cost per model, with its share of the day (model mix).",
          ("llm_requests",), kpi_model_daily),
    Table("kpi_workflow_model_daily", ("day", "repo", "workflow", "provider", "model"),
          "Model mix per workflow: each model's requests, tokens, cost and share of the "
          "workflow's day.",
          ("llm_requests",), kpi_workflow_model_daily),
    Table("kpi_run_daily", ("day", "repo", "run_id", "run_attempt"),
          "Usage and cost of each run attempt: requests, token buckets, small requests "
          "(fewer output tokens than thresholds.small_request_output_tokens) and their cost.",
          ("workflow_runs", "llm_requests"), _kpi_run_daily, configured=True),
    Table("history_daily", ("day",), "One row per day for the whole estate.",
          ("workflow_runs", "llm_requests", "ingest_log"), history_daily),
    Table("fact_agent_calls", ("workflow_id", "call_id"),
          "One row per agent call of a multi-agent app (events, pipeline results), on the day "
          "its workflow started: agent, model, parent call, user, session, disjoint token "
          "buckets, cost.",
          ("agent_calls",), public_columns("agent_calls"), storage="lake_view"),
    Table("fact_workflow_executions", ("workflow_id",),
          "One row per app workflow execution, on the day it started: name, user, session, "
          "organization, start, end, duration, status (succeeded, failed, open: never ended).",
          ("workflow_executions",), public_columns("workflow_executions")),
    Table("kpi_agent_daily", ("day", "agent_name"),
          "Daily KPIs per agent: calls, workflows, tokens, cost, the models it used, success "
          "rate, latency p50/p95.",
          ("agent_calls",), kpi_agent_daily),
    Table("kpi_agent_model_daily", ("day", "agent_name", "provider", "model"),
          "Per agent, model and day: calls, failed calls, disjoint token buckets and cost; "
          "what the agent recommendations (caching, trimming, a cheaper model) price.",
          ("agent_calls",), kpi_agent_model_daily),
    Table("kpi_user_daily", ("day", "user_id"),
          "Per user and day (calls whose workflow names a user): sessions, workflows, calls, "
          "failed calls, tokens, cost, the agents and models used.",
          ("agent_calls",), kpi_user_daily),
    Table("kpi_session_daily", ("day", "session_id"),
          "Per user session and day: user, workflows, calls, tokens, cost, duration and the "
          "seed-000 classification (retries = failed calls; accepted = every workflow "
          "succeeded).",
          ("agent_calls", "workflow_executions"), kpi_session_daily, configured=True),
    Table("kpi_app_workflow_daily", ("day", "workflow_name"),
          "Workflow performance per app workflow name: executions by status, success rate, "
          "cost, tokens and calls per execution, duration, tokens per agent call, the "
          "largest agent's tokens, input/output ratio.",
          ("agent_calls", "workflow_executions"), kpi_app_workflow_daily),
    Table("execution_efficiency", ("day", "workflow_id"),
          "Seed 004's efficiency figures per app workflow execution: agent calls, tokens, "
          "average and largest agent call, input/output ratio, and context-window use (the "
          "largest call over its model's window: finops.yaml context_windows, else "
          "genai-prices' catalog).",
          ("agent_calls",), execution_efficiency, configured=True),
    Table("call_chains", ("day", "workflow_id", "call_id"),
          "Each agent call in its workflow's call tree: depth, subtree tokens and cost, and "
          "whether it is on the critical path (the root-to-leaf path of greatest cost); "
          "orphans (unknown parent) and cycles are labelled in chain_problem.",
          ("agent_calls",), call_chains),
    Table("fact_billing_usage", ("day", *BILLING_USAGE_KEY),
          "What GitHub billed per account and day (billing API): product, SKU, model, unit "
          "type, price per unit, gross, discount and net quantities and amounts (USD).",
          ("billing_usage",), public_columns("billing_usage")),
    Table("ingest_log", ("day", "dataset", "source"),
          "rows_in = rows_valid + rows_quarantined + rows_duplicate, per day and source.",
          ("ingest_log",), public_columns("ingest_log")),
    Table("run_outcomes", ("day", "repo", "run_id"),
          "Tasks (a run with all its attempts, on its first attempt's day): completion, "
          "retries, the linked Copilot pull request's current outcome, tokens, cost and the "
          f"seed-000 classification. Followed for {OUTCOME_DAYS} days after the run.",
          ("kpi_run_daily", "fact_pull_requests"), run_outcomes,
          window_days=PR_LOOKBACK_DAYS + 1, outcome_days=OUTCOME_DAYS),
    Table("workflow_outcomes_daily", ("day", "repo", "workflow"),
          "Tasks and outcomes per workflow and day, with the number of runs in each "
          "classification and the cost of failed runs.",
          ("run_outcomes",), workflow_outcomes_daily),
    Table("showback_daily", ("day", "level", "team", "repo"),
          "Showback per team and repo (level repo), per team (repo '*') and for the estate "
          "(level total): tokens, cost, tasks, outcomes, the seed-000 KPIs and efficiency "
          "score, budgets prorated per day and month to date, and the variance.",
          ("run_outcomes",), showback_daily, window_days=SHOWBACK_WINDOW_DAYS),
    Table("reconciliation_daily", ("day", "org", "model"),
          "How much of GitHub's bill the telemetry explains, per day, organization and model: "
          "the requests' AI credits and list-price cost beside the billed net amount, the "
          "unexplained dollars and their share of the bill (organizations with billing data).",
          ("kpi_workflow_model_daily", "fact_billing_usage"), reconciliation_daily),
    Table("trend_daily", ("day", "scope", "key", "metric"),
          "Each metric per scope (org, repo, team, workflow, model, agent, user) and key: the "
          "day's value, "
          "the 7 and 28 days ending on the day, the 7 and 28 days before those, and the "
          "change in percent. Additive metrics sum (idle days are 0); rates are recomputed "
          "from summed numerators and denominators. A key has a row on every day whose 28 "
          "days hold activity.",
          ("kpi_workflow_daily", "kpi_model_daily", "kpi_agent_daily", "kpi_user_daily"),
          trend_daily, window_days=56),
    Table("anomalies", ("day", "scope", "key", "rule"),
          "What is abnormal on the day: rule flags (thresholds in finops.yaml: caching, "
          "io_ratio, small requests, tokens, cost and turns per run, errors, rising spend, "
          "budgets, failed runs' cost, the showback flags, agents' errors and io_ratio, "
          "sessions' seed-000 classes) and statistical spikes of a workflow's, repo's, "
          "model's, agent's or user's tokens and cost against its own trailing 28 days "
          "(robust z-score). observed vs expected, and a message saying what to do.",
          ("kpi_workflow_daily", "kpi_model_daily", "kpi_run_daily", "showback_daily",
           "trend_daily", "kpi_agent_daily", "kpi_user_daily", "kpi_session_daily",
           "reconciliation_daily"),
          anomalies, window_days=31,
          preview="SELECT day, severity, kind, key, rule, "
                  "round(observed, 2)::VARCHAR AS observed, "
                  "round(expected, 2)::VARCHAR AS expected, message FROM anomalies "
                  "WHERE day BETWEEN ? AND ? QUALIFY row_number() OVER (PARTITION BY day "
                  "ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 "
                  "ELSE 2 END, kind DESC, scope, key, rule) <= 3 "
                  "ORDER BY day DESC, CASE severity WHEN 'critical' THEN 0 "
                  "WHEN 'warning' THEN 1 ELSE 2 END, kind DESC, scope, key, rule"),
    Table("recommendations", ("day", "kind", "scope", "key"),
          "What to change and what it would save over the 7 days ending on the day: prompt "
          "caching, trimming the prompt, batching small requests, a cheaper model of the same "
          "family (per workflow, or per agent of the multi-agent apps), fixing a failing "
          "workflow, a budget overrun. Savings (docs/metrics.md) "
          "never exceed the cost they come from; rank 1 saves the most.",
          ("kpi_workflow_model_daily", "kpi_run_daily", "showback_daily",
           "kpi_agent_model_daily", "reconciliation_daily"), recommendations,
          window_days=7,
          preview="SELECT day, rank, kind, key, priority, "
                  "round(current_cost_usd, 2) AS cost_usd, "
                  "round(potential_savings_usd, 2) AS savings_usd, recommendation "
                  "FROM recommendations WHERE day BETWEEN ? AND ? AND rank <= 3 "
                  "ORDER BY day DESC, rank"),
)


def _index(tables: tuple[Table, ...]) -> dict[str, Table]:
    return {t.name: t for t in tables}


_BY_NAME = _index(TABLES)


def _empty_input(name: str) -> pl.DataFrame:
    if name in LAKE_DATASETS:
        return LAKE_DATASETS[name].empty()
    return pl.DataFrame(schema=_BY_NAME[name].schema)


def tables() -> tuple[Table, ...]:
    """Every registered table, in load order (inputs before the tables that read them)."""
    return TABLES


def table(name: str) -> Table:
    return _BY_NAME[name]


def polars_to_duckdb(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMPTZ" if dtype.time_zone else "TIMESTAMP"
    mapping = {pl.Date: "DATE", pl.String: "VARCHAR", pl.Int64: "BIGINT", pl.Int32: "INTEGER",
               pl.UInt32: "BIGINT", pl.Float64: "DOUBLE", pl.Boolean: "BOOLEAN"}
    for polars_type, sql in mapping.items():
        if dtype == polars_type:
            return sql
    raise TypeError(f"no DuckDB type for {dtype}")


def check_registry(registered: tuple[Table, ...] = TABLES) -> None:
    """Fail loudly on a registry mistake: unknown inputs, a table read before it is built."""
    seen: set[str] = set()
    for t in registered:
        for r in t.reads:
            if r not in LAKE_DATASETS and r not in seen:
                raise ValueError(f"table {t.name} reads {r!r}: neither a lake dataset nor a "
                                 "table registered before it")
        if t.storage == "lake_view" and (len(t.reads) != 1 or not t.from_lake):
            raise ValueError(f"table {t.name}: a lake view reads exactly one lake dataset")
        if t.analytics and not t.daily:
            raise ValueError(f"table {t.name}: analytics tables are daily")
        views = {v.name for v in registered if v.storage == "lake_view"}
        if t.analytics and set(t.reads) & views:
            raise ValueError(f"table {t.name}: analytics tables read the warehouse's small "
                             f"tables, not the lake views {sorted(set(t.reads) & views)}")
        if t.analytics and t.window_days < 1:
            raise ValueError(f"table {t.name}: window_days must be >= 1")
        if t.outcome_days < 0 or (t.outcome_days and not t.analytics):
            raise ValueError(f"table {t.name}: outcome_days is for analytics tables, >= 0")
        missing = set(t.replace_key) - set(t.schema)
        if missing:
            raise ValueError(f"table {t.name}: replace_key columns {sorted(missing)} missing")
        seen.add(t.name)


check_registry()
