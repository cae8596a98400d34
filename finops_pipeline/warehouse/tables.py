"""Warehouse tables (DESIGN section 7): names, grains and column types.

Column types come from the polars frames the pipeline loads (the lake schemas and the KPI
transforms run on empty typed input), so the DDL can never drift from what is inserted.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import polars as pl

from finops_pipeline.transforms.kpis import (
    history_daily,
    kpi_model_daily,
    kpi_workflow_daily,
    kpi_workflow_model_daily,
)
from finops_pipeline.transforms.lake_day import INGEST_LOG_SCHEMA
from finops_pipeline.transforms.pull_requests import PULL_REQUESTS_SCHEMA
from finops_pipeline.transforms.requests import LLM_REQUESTS_SCHEMA
from finops_pipeline.transforms.runs import WORKFLOW_RUNS_SCHEMA


@dataclass(frozen=True)
class Table:
    name: str
    grain: tuple[str, ...]
    description: str
    schema: dict[str, pl.DataType]


_INTERNAL = {"_file_rank", "_shape"}  # lake-internal ordering columns, not for users


def polars_to_duckdb(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMPTZ" if dtype.time_zone else "TIMESTAMP"
    mapping = {pl.Date: "DATE", pl.String: "VARCHAR", pl.Int64: "BIGINT", pl.Int32: "INTEGER",
               pl.UInt32: "BIGINT", pl.Float64: "DOUBLE", pl.Boolean: "BOOLEAN"}
    for polars_type, sql in mapping.items():
        if dtype == polars_type:
            return sql
    raise TypeError(f"no DuckDB type for {dtype}")


@cache
def tables() -> tuple[Table, ...]:
    runs = pl.DataFrame(schema=WORKFLOW_RUNS_SCHEMA)
    requests = pl.DataFrame(schema=LLM_REQUESTS_SCHEMA)
    ingest = pl.DataFrame(schema=INGEST_LOG_SCHEMA)
    public = lambda schema: {k: v for k, v in schema.items() if k not in _INTERNAL}  # noqa: E731
    return (
        Table("fact_workflow_runs", ("repo", "run_id", "run_attempt"),
              "One row per workflow run attempt, with whether token data was found.",
              public(WORKFLOW_RUNS_SCHEMA)),
        Table("fact_llm_requests", ("repo", "run_id", "request_id"),
              "One row per LLM request through the api-proxy, disjoint token buckets.",
              public(LLM_REQUESTS_SCHEMA)),
        Table("fact_pull_requests", ("repo", "number"),
              "Copilot coding-agent pull requests on their creation day: merged, rejected "
              "(closed unmerged) or open; runs link to them by head branch.",
              public(PULL_REQUESTS_SCHEMA)),
        Table("kpi_workflow_daily", ("day", "repo", "workflow"),
              "Daily KPIs per workflow (DESIGN section 6).",
              dict(kpi_workflow_daily(runs, requests).schema)),
        Table("kpi_model_daily", ("day", "provider", "model"),
              "Daily volume and cost per model, with its share of the day (model mix).",
              dict(kpi_model_daily(requests).schema)),
        Table("kpi_workflow_model_daily", ("day", "repo", "workflow", "provider", "model"),
              "Model mix per workflow: each model's requests, tokens, cost and share of the "
              "workflow's day.",
              dict(kpi_workflow_model_daily(requests).schema)),
        Table("history_daily", ("day",), "One row per day for the whole estate.",
              dict(history_daily(runs, requests, ingest).schema)),
        Table("ingest_log", ("day", "dataset", "source"),
              "rows_in = rows_valid + rows_quarantined + rows_duplicate, per day and source.",
              dict(INGEST_LOG_SCHEMA)),
    )


def table(name: str) -> Table:
    return next(t for t in tables() if t.name == name)


def create_statements() -> list[str]:
    out = []
    for t in tables():
        cols = ",\n  ".join(f'"{c}" {polars_to_duckdb(d)}' for c, d in t.schema.items())
        out.append(f"CREATE TABLE IF NOT EXISTS {t.name} (\n  {cols}\n)")
        comment = f"{t.description} Grain: {', '.join(t.grain)}.".replace("'", "''")
        out.append(f"COMMENT ON TABLE {t.name} IS '{comment}'")
    return out
