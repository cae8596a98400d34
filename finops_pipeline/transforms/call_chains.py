"""Call chains: the tree of agent calls of each workflow, one row per call (seed 002, section 4).

A call's `parent_call_id` names the call that made it, within the same `workflow_id` (calls are
keyed by (workflow_id, call_id); `day` is carried along, it is the same on every call of a
workflow). A call with a null `parent_call_id` is a root.

* `depth`: 1 for a root, parent's depth + 1 below it; null for a call no root reaches (below).
* `subtree_tokens` / `subtree_cost_usd`: the call's own `total_tokens` / `cost_usd` plus those
  of all its descendants. Nulls count as 0, but `subtree_cost_usd` stays null when the call and
  every descendant are unpriced: the cost is unknown, not zero.
* `children`: the calls whose `parent_call_id` is this call (the call itself excluded).
* Critical path: per workflow, the root-to-leaf path with the greatest total cost (own
  `cost_usd` of its calls, nulls as 0). Ties go to the greater total tokens, then to the path
  whose call_ids, read from the root down, are lexicographically smaller; siblings have distinct
  call_ids, so that is the smaller call_id at the first fork. Costs are compared in whole
  nano-dollars, so float noise (0.1 + 0.2 vs 0.3) cannot break a tie. A workflow with several
  roots (orphans included) takes the best path over all of them. `on_critical_path` marks its
  calls; `critical_path_cost_usd` is its cost, on every row of the workflow, null when the
  workflow has no root or every call on the path is unpriced.

`chain_problem` (null when fine):

* `orphan`: `parent_call_id` names a call not in the workflow; the call is treated as a root.
* `self_parent`: `parent_call_id == call_id`; a one-call cycle, treated like `cycle` below.
* `cycle`: following parents loops. Every call on or under the loop is unreachable from a root:
  `depth`, `subtree_tokens` and `subtree_cost_usd` are null and it is never on the critical
  path (`children` is still counted).

Vectorized: the tree is walked one depth level at a time (a join per level, down from the roots,
then up for the sums, then down again along the critical path), so the Python loops are bounded
by the depth, never by the number of calls. Each call has one parent, so no cycle can be
reached from a root and the walk ends; the calls it never reaches are the cycles.
"""

from __future__ import annotations

import polars as pl

CALL_CHAINS_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(), "workflow_id": pl.String(), "call_id": pl.String(),
    "parent_call_id": pl.String(), "agent_name": pl.String(), "model": pl.String(),
    "depth": pl.Int64(), "total_tokens": pl.Int64(), "cost_usd": pl.Float64(),
    "subtree_tokens": pl.Int64(), "subtree_cost_usd": pl.Float64(), "children": pl.Int64(),
    "on_critical_path": pl.Boolean(), "critical_path_cost_usd": pl.Float64(),
    "chain_problem": pl.String(),
}

CHAIN_PROBLEMS = ("orphan", "cycle", "self_parent")
#: Safety net: a walk deeper than this raises (no real chain comes close).
MAX_LEVELS = 10_000

_INPUT_COLUMNS = ("day", "workflow_id", "call_id", "parent_call_id", "agent_name", "model",
                  "total_tokens", "cost_usd")
_WF = "workflow_id"
_KEY = [_WF, "call_id"]
_NANO = 1_000_000_000
# Per-call values the bottom-up pass needs.
_OWN = ["_parent", "_tokens", "_cost", "_priced", "_nano"]
# Best path first: greater cost (nano-dollars), then more tokens, then the smaller call_id.
_BEST_FIRST = ["_b_nano", "_b_tokens", "call_id"]
_DESC = [True, True, False]
# What a parent takes from its children, per (workflow_id, parent).
_CHILD_AGG = ["_c_tokens", "_c_cost", "_c_priced", "_b_nano", "_b_tokens", "_b_cost",
              "_b_priced", "_best_child"]


def call_chains(calls: pl.DataFrame) -> pl.DataFrame:
    """One row per call with its depth, subtree sums, children and critical path (see module).

    Raises ValueError if a workflow_id or call_id is null or a (workflow_id, call_id) repeats.
    """
    if calls.height == 0:
        return pl.DataFrame(schema=CALL_CHAINS_SCHEMA)
    c = pl.col
    base = calls.select([c(name).cast(CALL_CHAINS_SCHEMA[name]) for name in _INPUT_COLUMNS])
    _check_keys(base)

    known = base.select(_WF, c("call_id").alias("parent_call_id"), _known=pl.lit(True))
    nodes = (
        base.join(known, on=[_WF, "parent_call_id"], how="left")
        .with_columns(
            _self=(c("parent_call_id") == c("call_id")).fill_null(False),
            _orphan=c("parent_call_id").is_not_null() & c("_known").is_null(),
        )
        .with_columns(
            # An orphan becomes a root; a self-parent keeps its loop and is never reached.
            _parent=pl.when(c("_orphan")).then(None).otherwise(c("parent_call_id")),
            _tokens=c("total_tokens").fill_null(0),
            _cost=c("cost_usd").fill_null(0.0),
            _priced=c("cost_usd").is_not_null(),
            _nano=(c("cost_usd").fill_null(0.0) * _NANO).round().cast(pl.Int64, strict=False)
            .fill_null(0),
        )
        .drop("_known")
    )

    levels = _walk_down(nodes)
    sums = _sum_up(levels)
    depth = pl.concat(
        [lv.select(*_KEY, depth=pl.lit(i + 1, pl.Int64)) for i, lv in enumerate(levels)]
    )
    roots = _best_roots(sums)
    on_path = _walk_path(roots, sums)

    children = (
        base.filter(c("parent_call_id").is_not_null() & (c("parent_call_id") != c("call_id")))
        .group_by(_WF, "parent_call_id")
        .agg(children=pl.len().cast(pl.Int64))
        .rename({"parent_call_id": "call_id"})
    )

    out = (
        nodes.join(depth, on=_KEY, how="left")
        .join(sums.select(*_KEY, "subtree_tokens", "subtree_cost_usd"), on=_KEY, how="left")
        .join(children, on=_KEY, how="left")
        .join(on_path.with_columns(on_critical_path=pl.lit(True)), on=_KEY, how="left")
        .join(roots.select(_WF, "critical_path_cost_usd"), on=_WF, how="left")
        .with_columns(
            children=c("children").fill_null(0),
            on_critical_path=c("on_critical_path").fill_null(False),
            chain_problem=pl.when(c("_self")).then(pl.lit("self_parent"))
            .when(c("depth").is_null()).then(pl.lit("cycle"))
            .when(c("_orphan")).then(pl.lit("orphan")),
        )
        .select([c(name).cast(dtype) for name, dtype in CALL_CHAINS_SCHEMA.items()])
        .sort("day", _WF, "depth", "call_id", nulls_last=True)
    )
    return out


def _check_keys(base: pl.DataFrame) -> None:
    nulls = base.select(pl.col(_WF).null_count() + pl.col("call_id").null_count()).item()
    if nulls:
        raise ValueError(f"call_chains: {nulls} null workflow_id/call_id value(s)")
    repeats = base.select(_KEY).is_duplicated().sum()
    if repeats:
        raise ValueError(f"call_chains: {repeats} rows repeat a (workflow_id, call_id)")


def _walk_down(nodes: pl.DataFrame) -> list[pl.DataFrame]:
    """The calls reached from the roots (key and `_OWN` columns), one frame per depth level."""
    edges = nodes.filter(pl.col("_parent").is_not_null()).select(*_KEY, *_OWN)
    frontier = nodes.filter(pl.col("_parent").is_null()).select(*_KEY, *_OWN)
    levels: list[pl.DataFrame] = []
    while frontier.height:
        if len(levels) >= MAX_LEVELS:
            raise ValueError(f"call_chains: a call chain is deeper than {MAX_LEVELS} levels")
        levels.append(frontier)
        frontier = (
            frontier.select(_WF, _parent="call_id")
            .join(edges, on=[_WF, "_parent"], how="inner")
            .select(*_KEY, *_OWN)
        )
    return levels or [frontier]  # no root at all: one empty level keeps the schemas


def _sum_up(levels: list[pl.DataFrame]) -> pl.DataFrame:
    """Subtree sums and each reached call's best path downwards, deepest level first.

    `_b_*` describe the best path from the call down to a leaf (the call included) and
    `_best_child` its next call.
    """
    c = pl.col
    done: list[pl.DataFrame] = []
    below: pl.DataFrame | None = None
    for level in reversed(levels):
        if below is None:
            cur = level.with_columns(pl.lit(None).alias(name) for name in _CHILD_AGG)
        else:
            agg = (
                # Best child first; the fixed order also fixes the float sums.
                below.sort(_WF, "_parent", *_BEST_FIRST, descending=[False, False, *_DESC])
                .group_by(_WF, "_parent")
                .agg(
                    _c_tokens=c("subtree_tokens").sum(),
                    _c_cost=c("_s_cost").sum(),
                    _c_priced=c("_s_priced").any(),
                    _b_nano=c("_b_nano").first(),
                    _b_tokens=c("_b_tokens").first(),
                    _b_cost=c("_b_cost").first(),
                    _b_priced=c("_b_priced").first(),
                    _best_child=c("call_id").first(),
                )
                .rename({"_parent": "call_id"})
            )
            cur = level.join(agg, on=_KEY, how="left")
        cur = cur.with_columns(
            subtree_tokens=c("_tokens") + c("_c_tokens").cast(pl.Int64).fill_null(0),
            _s_cost=c("_cost") + c("_c_cost").cast(pl.Float64).fill_null(0.0),
            _s_priced=c("_priced") | c("_c_priced").cast(pl.Boolean).fill_null(False),
            _b_nano=c("_nano") + c("_b_nano").cast(pl.Int64).fill_null(0),
            _b_tokens=c("_tokens") + c("_b_tokens").cast(pl.Int64).fill_null(0),
            _b_cost=c("_cost") + c("_b_cost").cast(pl.Float64).fill_null(0.0),
            _b_priced=c("_priced") | c("_b_priced").cast(pl.Boolean).fill_null(False),
            _best_child=c("_best_child").cast(pl.String),
        ).select(*_KEY, "_parent", "subtree_tokens", "_s_cost", "_s_priced", "_b_nano",
                 "_b_tokens", "_b_cost", "_b_priced", "_best_child")
        done.append(cur)
        below = cur
    return pl.concat(done).with_columns(
        subtree_cost_usd=pl.when(c("_s_priced")).then(c("_s_cost")),
    )


def _best_roots(sums: pl.DataFrame) -> pl.DataFrame:
    """Per workflow, the root starting its critical path, and the path's cost."""
    c = pl.col
    return (
        sums.filter(c("_parent").is_null())
        .sort(_WF, *_BEST_FIRST, descending=[False, *_DESC])
        .group_by(_WF)
        .agg(c("call_id").first(), c("_b_cost").first(), c("_b_priced").first())
        .with_columns(critical_path_cost_usd=pl.when(c("_b_priced")).then(c("_b_cost")))
    )


def _walk_path(roots: pl.DataFrame, sums: pl.DataFrame) -> pl.DataFrame:
    """The (workflow_id, call_id) of every call on a critical path, one level per step."""
    step = sums.select(*_KEY, "_best_child")
    frontier = roots.select(_KEY)
    found = [frontier]
    while frontier.height:
        frontier = (
            frontier.join(step, on=_KEY, how="inner")
            .filter(pl.col("_best_child").is_not_null())
            .select(_WF, call_id=pl.col("_best_child"))
        )
        found.append(frontier)
    return pl.concat(found)
