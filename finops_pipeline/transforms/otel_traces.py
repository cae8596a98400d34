"""OpenTelemetry traces -> call trees and workflow executions (the trace is the workflow).

`schemas/otlp.py` maps each span with usage to a call, and gives every readable span of a
trace (`OTLP_SPANS_SCHEMA`), calls or not. Here the day's spans of each trace become:

* **The call tree.** A span's parent is rarely a call: a chat span sits under a tool span,
  under an `invoke_agent` span, under an HTTP handler. A call's `parent_call_id` is its
  nearest *ancestor* that is a call; none (or a parent span never exported, such as the
  GitHub Actions job span the api-proxy's spans hang from) makes it a root.
* **No double counting.** GenAI frameworks put usage on an `invoke_agent` (or
  `invoke_workflow`) span that is the sum of the chat spans beneath it. Such a span whose
  descendants carry usage is not a call: its usage is counted once, on the children, and the
  span is reported in `skip_reasons` (`AGGREGATE_SPAN`). An `invoke_agent` span with no usage
  below it is the call (frameworks that report usage per agent only).
* **Agent names.** A call without `gen_ai.agent.name` takes its nearest ancestor's (the
  `invoke_agent` span it runs in), else the resource's `service.name`.
* **Executions.** One row per trace with at least one call: started at its first span's
  start, ended at its last span's end; named by its root span (no parent, or a parent never
  exported; the earliest such); its user (`user.id`, older `enduser.id`) and session
  (`gen_ai.conversation.id`) the first present on its spans, earliest first; `failed` when
  the root span's status is an error, else `succeeded`.

Vectorized: the ancestors are found a level at a time (one join per level, bounded by
`MAX_LEVELS`, so a cycle in parent links ends the walk); no Python loop over spans.
"""

from __future__ import annotations

import polars as pl

#: `gen_ai.operation.name` values whose usage may be the sum of the spans beneath them.
AGGREGATING_OPERATIONS = ("invoke_agent", "invoke_workflow")
AGGREGATE_SPAN = ("invoke_agent span whose usage sums the calls beneath it (counted there, "
                  "not twice)")
#: Depth at which the ancestor walk stops (a cycle in parent links, or an absurd trace).
MAX_LEVELS = 64
_KEY = ["workflow_id", "span_id"]
c = pl.col


def _unique_spans(spans: pl.DataFrame) -> pl.DataFrame:
    """One row per (trace, span): a span exported twice (two files) is kept once."""
    return spans.sort("_source", "_line").unique(_KEY, keep="first", maintain_order=True)


def ancestors(spans: pl.DataFrame) -> pl.DataFrame:
    """(workflow_id, span_id, ancestor_id, level) for every span and each ancestor present in
    `spans` (level 1 = the parent), up to `MAX_LEVELS`."""
    up = spans.select(*_KEY, c("parent_span_id").alias("_up"))
    links = up.rename({"span_id": "ancestor_id", "_up": "_next"})
    frontier = up.filter(c("_up").is_not_null()).rename({"_up": "ancestor_id"})
    present = spans.select("workflow_id", c("span_id").alias("ancestor_id"))
    found = []
    for level in range(1, MAX_LEVELS + 1):
        frontier = frontier.join(present, on=["workflow_id", "ancestor_id"], how="semi")
        if frontier.height == 0:
            break
        found.append(frontier.with_columns(pl.lit(level, pl.Int64).alias("level")))
        frontier = (frontier.join(links, on=["workflow_id", "ancestor_id"])
                    .select(*_KEY, c("_next").alias("ancestor_id"))
                    .filter(c("ancestor_id").is_not_null()
                            & (c("ancestor_id") != c("span_id"))))
    schema = {"workflow_id": pl.String, "span_id": pl.String, "ancestor_id": pl.String,
              "level": pl.Int64}
    return pl.concat(found) if found else pl.DataFrame(schema=schema)


def resolve_traces(calls: pl.DataFrame, spans: pl.DataFrame
                   ) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """(calls with parent and agent resolved, executions, aggregate spans dropped).

    Args:
        calls: `OTLP_CALLS_SCHEMA` rows of the day's kept traces (`call_id` = span id).
        spans: `OTLP_SPANS_SCHEMA` rows of the same traces (every readable span).

    Returns:
        calls without the aggregate spans, `parent_call_id` the nearest call ancestor and
        `agent_name` filled from the ancestors; one execution per trace that has a call
        (workflow_id, workflow_name, user_id, session_id, started_at, ended_at, duration_ms,
        success, status, _source, _line); the number of aggregate spans dropped.
    """
    spans = _unique_spans(spans)
    anc = ancestors(spans)
    call_spans = spans.filter(c("is_call")).select(*_KEY, "operation")
    # An aggregating span is a call span with another call span below it.
    below = anc.join(call_spans.select(*_KEY), on=_KEY, how="semi").select(
        "workflow_id", c("ancestor_id").alias("span_id")).unique()
    aggregates = (call_spans.filter(c("operation").is_in(AGGREGATING_OPERATIONS))
                  .join(below, on=_KEY, how="semi").select(*_KEY))
    real = call_spans.join(aggregates, on=_KEY, how="anti").select(
        "workflow_id", c("span_id").alias("ancestor_id"))

    parent = (anc.join(real, on=["workflow_id", "ancestor_id"], how="semi")
              .sort("level").group_by(_KEY, maintain_order=True)
              .agg(c("ancestor_id").first().alias("_parent_call")))
    named = (anc.join(spans.select("workflow_id", c("span_id").alias("ancestor_id"),
                                   "agent_attr").filter(c("agent_attr").is_not_null()),
                      on=["workflow_id", "ancestor_id"])
             .sort("level").group_by(_KEY, maintain_order=True)
             .agg(c("agent_attr").first().alias("_ancestor_agent")))
    own_agent = spans.select(*_KEY, "agent_attr")
    resolved = (
        calls.join(aggregates.rename({"span_id": "call_id"}), on=["workflow_id", "call_id"],
                   how="anti")
        .join(parent.rename({"span_id": "call_id"}), on=["workflow_id", "call_id"],
              how="left")
        .join(named.rename({"span_id": "call_id"}), on=["workflow_id", "call_id"],
              how="left")
        .join(own_agent.rename({"span_id": "call_id"}), on=["workflow_id", "call_id"],
              how="left")
        .with_columns(
            c("_parent_call").alias("parent_call_id"),
            pl.coalesce("agent_attr", "_ancestor_agent", "agent_name").alias("agent_name"),
        )
        .drop("_parent_call", "_ancestor_agent", "agent_attr")
    )
    return resolved, _executions(spans, resolved), aggregates.height


def _executions(spans: pl.DataFrame, calls: pl.DataFrame) -> pl.DataFrame:
    traced = spans.join(calls.select("workflow_id").unique(), on="workflow_id", how="semi")
    present = traced.select("workflow_id", c("span_id").alias("parent_span_id"),
                            pl.lit(True).alias("_parent_present"))
    with_root = traced.join(present, on=["workflow_id", "parent_span_id"], how="left") \
        .with_columns(c("_parent_present").fill_null(False).not_().alias("_is_root"))
    roots = (with_root.filter(c("_is_root")).sort("start_ns", "span_id")
             .group_by("workflow_id", maintain_order=True)
             .agg(c("span_name").first().alias("workflow_name"),
                  c("error").first().alias("_root_error"),
                  c("_source").first(), c("_line").first()))
    earliest = traced.sort("start_ns", "span_id")
    per_trace = earliest.group_by("workflow_id", maintain_order=True).agg(
        c("user_id").drop_nulls().first(),
        c("session_id").drop_nulls().first(),
        c("start_ns").min().alias("_start"),
        c("end_ns").max().alias("_end"),
        c("_source").first().alias("_first_source"), c("_line").first().alias("_first_line"),
    )
    to_time = (c("_start") // 1_000).cast(pl.Datetime("us", "UTC"))
    out = per_trace.join(roots, on="workflow_id", how="left").select(
        "workflow_id", "workflow_name", "user_id", "session_id",
        pl.lit(None, pl.String).alias("organization_id"),
        to_time.alias("started_at"),
        pl.when(c("_end") >= c("_start")).then((c("_end") // 1_000)
                                               .cast(pl.Datetime("us", "UTC")))
        .alias("ended_at"),
        pl.when(c("_end") >= c("_start")).then((c("_end") - c("_start") + 500_000) // 1_000_000)
        .alias("duration_ms"),
        (~c("_root_error").fill_null(False)).alias("success"),
        pl.when(c("_root_error").fill_null(False)).then(pl.lit("failed"))
        .otherwise(pl.lit("succeeded")).alias("status"),
        pl.coalesce("_source", "_first_source").alias("_source"),  # no root: a cycle
        pl.coalesce("_line", "_first_line").alias("_line"),
    )
    return out.sort("workflow_id")
