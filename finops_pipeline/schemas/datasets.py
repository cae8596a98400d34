"""The dataset registry: every lake dataset declared once.

A dataset is one Parquet file per day, `lake/<name>/day=YYYY-MM-DD/data.parquet`, validated by
its pandera model, with its rejects in `quarantine/<name>/`. Everything else is generated from
these declarations: the lake's Dagster assets and their metadata, the de-duplication and sort
order of each day file, pricing, the fact tables of the warehouse and the docs catalog.

Adding a dataset is one `Dataset(...)` line here (with its pandera model and columns beside the
raw model in this package) plus its normalizer in `transforms/lake_day.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandera.polars as pa
import polars as pl

from finops_pipeline.schemas.agent_calls import (
    AGENT_CALLS_SCHEMA,
    WORKFLOW_EXECUTIONS_SCHEMA,
    AgentCalls,
    WorkflowExecutions,
)
from finops_pipeline.schemas.billing import BILLING_USAGE_KEY, BILLING_USAGE_SCHEMA, BillingUsage
from finops_pipeline.schemas.pull_requests import PULL_REQUESTS_SCHEMA, PullRequests
from finops_pipeline.schemas.raw import RAW_KINDS, with_missing_columns
from finops_pipeline.schemas.runs import WORKFLOW_RUNS_SCHEMA, WorkflowRuns
from finops_pipeline.schemas.token_usage import LLM_REQUESTS_SCHEMA, LlmRequests

# The rows a day rejected, whatever their dataset: enough to find the line and fix it.
QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(),
    "source": pl.String(),  # the pipeline source (gh_aw_logs, github, ...)
    "_source": pl.String(),  # the file (or URL) the row came from
    "_line": pl.Int64(),  # line in that file
    "_reason": pl.String(),
    "_raw": pl.String(),  # the row as it was read, for the user to fix and re-land
}
# The books of a day (DESIGN section 8): per dataset and source,
# rows_in = rows_valid + rows_quarantined + rows_duplicate.
INGEST_LOG_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(), "dataset": pl.String(), "source": pl.String(), "rows_in": pl.Int64(),
    "rows_valid": pl.Int64(), "rows_quarantined": pl.Int64(), "rows_duplicate": pl.Int64(),
    "files": pl.Int64(), "runs_skipped": pl.Int64(), "skip_reasons": pl.String(),
}


@dataclass(frozen=True)
class Dataset:
    """One lake dataset.

    Attributes:
        name: folder under `lake/` and `quarantine/`; the fact table is `fact_<name>`.
        schema: every column of the day file, in order, `day` and `source` among them; names
            starting with `_` other than `_source` and `_line` are internal (ordering hints)
            and never reach the warehouse.
        key: what makes a row unique within a day; a second row with the same key is a counted
            duplicate (within a source its normalizer says which copy wins; across sources,
            the source listed first in the registry).
        sort: the order of rows in the day file, so a re-run writes the same bytes.
        model: the pandera model every row passes before it is written.
        raw_kinds: the raw kinds (schemas/raw.py) whose rows feed this dataset.
        priced: requests with provider, model, day and token buckets: priced at lake time.
        description: what one row is, for the asset and the catalog.
        detail_columns: per-row detail that only the lake view of the fact table serves:
            the warehouse's day loads (KPIs) do not read these columns, so a big day is not
            held in memory with them (2M requests: ~0.5 GB of ids, paths and timestamps).
    """

    name: str
    schema: dict[str, pl.DataType]
    key: tuple[str, ...]
    sort: tuple[str, ...]
    model: type[pa.DataFrameModel] | None
    raw_kinds: tuple[str, ...]
    description: str
    priced: bool = False
    detail_columns: tuple[str, ...] = ()

    @property
    def public_columns(self) -> list[str]:
        """The columns users see (the fact table's): internal `_` columns dropped."""
        return [c for c in self.schema if not c.startswith("_") or c in ("_source", "_line")]

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.schema)

    def conform(self, df: pl.DataFrame) -> pl.DataFrame:
        """A day file written before some columns existed, with those columns as nulls."""
        return with_missing_columns(df, self.schema)


WORKFLOW_RUNS = Dataset(
    "workflow_runs", WORKFLOW_RUNS_SCHEMA,
    # Run ids are global on GitHub: a listing that does not name the repo is the same run.
    key=("run_id", "run_attempt"), sort=("source", "repo", "run_id", "run_attempt"),
    model=WorkflowRuns, raw_kinds=("runs",),
    description="One row per workflow run attempt (repo, run_id, run_attempt) per day.",
)
LLM_REQUESTS = Dataset(
    "llm_requests", LLM_REQUESTS_SCHEMA,
    key=("repo", "run_id", "request_id"), sort=("source", "repo", "run_id", "request_id"),
    # Requests join their run by `_run_ref`; `skips` say why a run gave no requests.
    model=LlmRequests, raw_kinds=("token_usage", "skips"), priced=True,
    detail_columns=(
        "request_id", "timestamp", "path", "x_initiator", "schema_version", "token_rule",
        "streaming", "response_bytes", "ai_credits_pricing_source", "ai_credits_pricing_tier",
        "ai_credits_accounting_policy", "ai_credits_dynamic_selector",
        "ai_credits_pricing_observed_at", "ai_credits_pricing_api_version",
        "ai_credits_pricing_discount_percent", "ai_credits_fallback_pricing_used",
        "_source", "_line", "_file_rank"),
    description="One row per LLM request (repo, run_id, request_id), disjoint token buckets.",
)
PULL_REQUESTS = Dataset(
    "pull_requests", PULL_REQUESTS_SCHEMA,
    key=("repo", "number"), sort=("source", "repo", "number"),
    model=PullRequests, raw_kinds=("pull_requests",),
    description="Copilot coding-agent pull requests (repo, number) on the day they last "
                "changed and the day they were opened.",
)
AGENT_CALLS = Dataset(
    "agent_calls", AGENT_CALLS_SCHEMA,
    key=("workflow_id", "call_id"), sort=("source", "workflow_id", "call_id"),
    model=AgentCalls, raw_kinds=("agent_events",), priced=True,
    description="One row per agent call of a multi-agent app (workflow_id, call_id), on the "
                "day its workflow started; disjoint token buckets, priced.",
)
WORKFLOW_EXECUTIONS = Dataset(
    "workflow_executions", WORKFLOW_EXECUTIONS_SCHEMA,
    key=("workflow_id",), sort=("source", "workflow_id"),
    model=WorkflowExecutions, raw_kinds=("agent_events",),
    description="One row per app workflow execution (workflow_id), on the day it started: "
                "name, user, session, organization, start, end, status.",
)
BILLING_USAGE = Dataset(
    "billing_usage", BILLING_USAGE_SCHEMA,
    key=BILLING_USAGE_KEY, sort=("source", *BILLING_USAGE_KEY),
    model=BillingUsage, raw_kinds=("billing_usage",),
    description="What GitHub billed an organization, enterprise or user on the day: one row "
                "per usage item (product, SKU, model, unit type) with gross, discount and net "
                "quantities and amounts.",
)
INGEST_LOG = Dataset(
    "ingest_log", INGEST_LOG_SCHEMA,
    key=("dataset", "source"), sort=("dataset", "source"), model=None, raw_kinds=(),
    description="Per day, dataset and source: rows_in = valid + quarantined + duplicate.",
)

# The datasets normalized from raw rows, then the books that account for them.
DATASETS: dict[str, Dataset] = {d.name: d for d in (WORKFLOW_RUNS, LLM_REQUESTS, PULL_REQUESTS,
                                                   AGENT_CALLS, WORKFLOW_EXECUTIONS,
                                                   BILLING_USAGE)}
LAKE_DATASETS: dict[str, Dataset] = {**DATASETS, INGEST_LOG.name: INGEST_LOG}


def _check_registry() -> None:
    for d in LAKE_DATASETS.values():
        unknown = set(d.raw_kinds) - set(RAW_KINDS)
        if unknown:
            raise ValueError(f"dataset {d.name}: unknown raw kinds {sorted(unknown)}")
        # Every row says its day (the partition) and its source (priority, the books).
        missing = ({"day", "source", *d.key, *d.sort, *d.detail_columns}) - set(d.schema)
        if missing:
            raise ValueError(f"dataset {d.name}: columns {sorted(missing)} not in its schema")


_check_registry()
