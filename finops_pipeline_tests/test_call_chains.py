"""call_chains: depth, subtree sums, critical path and chain problems (pure polars)."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from finops_pipeline.transforms import call_chains as cc_module
from finops_pipeline.transforms.call_chains import CALL_CHAINS_SCHEMA, call_chains

DAY = dt.date(2025, 3, 1)


def call(call_id: str, parent: str | None = None, cost: float | None = 0.0, tokens: int = 100,
         workflow: str = "wf", agent: str | None = None, day: dt.date = DAY,
         model: str = "gpt-4o") -> dict[str, Any]:
    return {"day": day, "workflow_id": workflow, "call_id": call_id, "parent_call_id": parent,
            "agent_name": agent or call_id, "model": model, "total_tokens": tokens,
            "cost_usd": cost}


def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={
        "day": pl.Date, "workflow_id": pl.String, "call_id": pl.String,
        "parent_call_id": pl.String, "agent_name": pl.String, "model": pl.String,
        "total_tokens": pl.Int64, "cost_usd": pl.Float64,
    })


def by_id(out: pl.DataFrame, workflow: str = "wf") -> dict[str, dict[str, Any]]:
    return {r["call_id"]: r for r in out.filter(pl.col("workflow_id") == workflow).to_dicts()}


def path(out: pl.DataFrame, workflow: str = "wf") -> list[str]:
    """The critical path's call_ids, root first."""
    return (out.filter((pl.col("workflow_id") == workflow) & pl.col("on_critical_path"))
            .sort("depth")["call_id"].to_list())


def seed_002() -> list[dict[str, Any]]:
    return [
        call("c1", None, 0.15, 1500, agent="Orchestrator"),
        call("c2", "c1", 0.01, 500, agent="DataFetcher", model="gpt-4o-mini"),
        call("c3", "c1", 0.20, 2000, agent="Analyzer"),
        call("c4", "c3", 0.02, 800, agent="Summarizer", model="gpt-4o-mini"),
    ]


def test_seed_002_example() -> None:
    out = call_chains(frame(seed_002()))
    assert out.schema == pl.Schema(CALL_CHAINS_SCHEMA)
    assert out["depth"].max() == 3
    rows = by_id(out)
    assert [rows[c]["agent_name"] for c in path(out)] == ["Orchestrator", "Analyzer", "Summarizer"]
    assert out["critical_path_cost_usd"].to_list() == pytest.approx([0.37] * 4)
    assert {c: r["depth"] for c, r in rows.items()} == {"c1": 1, "c2": 2, "c3": 2, "c4": 3}
    assert {c: r["subtree_cost_usd"] for c, r in rows.items()} == pytest.approx(
        {"c1": 0.38, "c2": 0.01, "c3": 0.22, "c4": 0.02})
    assert {c: r["subtree_tokens"] for c, r in rows.items()} == {
        "c1": 4800, "c2": 500, "c3": 2800, "c4": 800}
    assert {c: r["children"] for c, r in rows.items()} == {"c1": 2, "c2": 0, "c3": 1, "c4": 0}
    assert out["chain_problem"].null_count() == 4
    # Sorted by day, workflow, depth, call_id.
    assert out["call_id"].to_list() == ["c1", "c2", "c3", "c4"]


def test_empty_input_gives_the_schema() -> None:
    out = call_chains(frame([]))
    assert out.height == 0
    assert out.schema == pl.Schema(CALL_CHAINS_SCHEMA)
    assert call_chains(pl.DataFrame()).schema == pl.Schema(CALL_CHAINS_SCHEMA)


def test_extra_columns_are_dropped_and_types_cast() -> None:
    df = frame(seed_002()).with_columns(pl.col("total_tokens").cast(pl.Int32),
                                        extra=pl.lit("x"))
    out = call_chains(df)
    assert out.schema == pl.Schema(CALL_CHAINS_SCHEMA)


def test_orphan_is_a_root_and_can_hold_the_critical_path() -> None:
    rows = [*seed_002(),
            call("o1", "missing", 0.30, 10, agent="Lost"),
            call("o2", "o1", 0.10, 10)]
    out = call_chains(frame(rows))
    got = by_id(out)
    assert got["o1"]["chain_problem"] == "orphan"
    assert got["o1"]["parent_call_id"] == "missing"  # kept as given
    assert (got["o1"]["depth"], got["o2"]["depth"]) == (1, 2)
    assert got["o2"]["chain_problem"] is None
    assert got["o1"]["subtree_cost_usd"] == pytest.approx(0.40)
    # 0.40 beats 0.37: the best path over all roots.
    assert path(out) == ["o1", "o2"]
    assert got["c1"]["critical_path_cost_usd"] == pytest.approx(0.40)
    assert not got["c1"]["on_critical_path"]


def test_two_cycle_and_calls_under_it() -> None:
    rows = [*seed_002(),
            call("x", "y", 5.0), call("y", "x", 5.0), call("z", "y", 5.0)]
    out = call_chains(frame(rows))
    got = by_id(out)
    for c in ("x", "y", "z"):
        assert got[c]["chain_problem"] == "cycle"
        assert got[c]["depth"] is None
        assert got[c]["subtree_tokens"] is None
        assert got[c]["subtree_cost_usd"] is None
        assert not got[c]["on_critical_path"]
    assert got["y"]["children"] == 2
    # The rest of the workflow is untouched; the expensive cycle is not on the path.
    assert path(out) == ["c1", "c3", "c4"]
    assert got["c1"]["critical_path_cost_usd"] == pytest.approx(0.37)
    # Cycle rows come last (depth nulls last), by call_id.
    assert out["call_id"].to_list()[-3:] == ["x", "y", "z"]


def test_self_parent_and_its_descendants() -> None:
    rows = [*seed_002(), call("s", "s", 9.0), call("t", "s", 1.0)]
    got = by_id(call_chains(frame(rows)))
    assert got["s"]["chain_problem"] == "self_parent"
    assert got["t"]["chain_problem"] == "cycle"
    assert got["s"]["depth"] is None and got["t"]["depth"] is None
    assert got["s"]["children"] == 1  # itself not counted
    assert not got["s"]["on_critical_path"]
    assert got["c1"]["critical_path_cost_usd"] == pytest.approx(0.37)


def test_workflow_made_only_of_a_cycle_has_no_critical_path() -> None:
    out = call_chains(frame([call("a", "b", 1.0), call("b", "a", 1.0)]))
    assert out["chain_problem"].to_list() == ["cycle", "cycle"]
    assert out["critical_path_cost_usd"].null_count() == 2
    assert not out["on_critical_path"].any()


def test_workflows_are_independent() -> None:
    first = seed_002()
    second = [call("c1", None, 1.0, workflow="wf2"), call("c2", "c1", 2.0, workflow="wf2"),
              call("c3", "c9", 0.5, workflow="wf2")]
    out = call_chains(frame([*first, *second]))
    assert path(out, "wf") == ["c1", "c3", "c4"]
    assert path(out, "wf2") == ["c1", "c2"]
    one, two = by_id(out, "wf"), by_id(out, "wf2")
    assert one["c1"]["subtree_cost_usd"] == pytest.approx(0.38)
    assert two["c1"]["subtree_cost_usd"] == pytest.approx(3.0)
    assert one["c3"]["chain_problem"] is None and two["c3"]["chain_problem"] == "orphan"
    assert two["c1"]["critical_path_cost_usd"] == pytest.approx(3.0)
    assert out["workflow_id"].to_list() == ["wf"] * 4 + ["wf2"] * 3
    # Each workflow alone gives the same rows.
    alone = call_chains(frame(second))
    assert_frame_equal(out.filter(pl.col("workflow_id") == "wf2"), alone)


def test_deep_chain() -> None:
    n = 500
    rows = [call(f"n{i:04d}", f"n{i - 1:04d}" if i else None, 0.001, 2) for i in range(n)]
    out = call_chains(frame(rows))
    got = by_id(out)
    assert got["n0499"]["depth"] == n
    assert got["n0000"]["subtree_tokens"] == 2 * n
    assert got["n0000"]["subtree_cost_usd"] == pytest.approx(0.5)
    assert out["on_critical_path"].all()
    assert out["critical_path_cost_usd"][0] == pytest.approx(0.5)
    assert out["depth"].to_list() == list(range(1, n + 1))


def test_level_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cc_module, "MAX_LEVELS", 3)
    rows = [call(f"n{i}", f"n{i - 1}" if i else None) for i in range(4)]
    with pytest.raises(ValueError, match="deeper than 3"):
        call_chains(frame(rows))


def test_ties_go_to_tokens_then_smaller_call_id() -> None:
    # Equal cost: more tokens wins.
    out = call_chains(frame([call("r", None, 1.0), call("b", "r", 0.5, 10),
                             call("a", "r", 0.5, 5)]))
    assert path(out) == ["r", "b"]
    # Equal cost and tokens: the smaller call_id at the fork, whatever lies below.
    out = call_chains(frame([call("r", None, 1.0), call("b", "r", 0.5, 10),
                             call("a", "r", 0.25, 5), call("a2", "a", 0.25, 5)]))
    assert path(out) == ["r", "a", "a2"]
    # Between roots too.
    out = call_chains(frame([call("r2", None, 1.0), call("r1", None, 1.0)]))
    assert path(out) == ["r1"]
    # Float noise is no tie-breaker: 0.1 + 0.2 == 0.3, so tokens decide.
    out = call_chains(frame([call("r", None, 0.0), call("a", "r", 0.1, 1),
                             call("a1", "a", 0.2, 1), call("b", "r", 0.3, 5)]))
    assert path(out) == ["r", "b"]


def test_null_costs() -> None:
    rows = [call("r", None, None, 10), call("a", "r", None, 10), call("b", "r", 0.5, 1),
            call("a1", "a", None, 100)]
    out = call_chains(frame(rows))
    got = by_id(out)
    assert got["a"]["subtree_cost_usd"] is None  # it and its descendants are unpriced
    assert got["a1"]["subtree_cost_usd"] is None
    assert got["r"]["subtree_cost_usd"] == pytest.approx(0.5)  # nulls count as 0
    assert got["r"]["subtree_tokens"] == 121
    assert path(out) == ["r", "b"]  # $0.50 beats an unpriced branch with more tokens
    assert got["r"]["critical_path_cost_usd"] == pytest.approx(0.5)
    # Fully unpriced: tokens pick the path, its cost stays unknown.
    out = call_chains(frame([call("r", None, None, 1), call("a", "r", None, 5),
                             call("b", "r", None, 9)]))
    assert path(out) == ["r", "b"]
    assert out["critical_path_cost_usd"].null_count() == 3
    assert out["subtree_cost_usd"].null_count() == 3


def test_shuffled_input_gives_the_same_output() -> None:
    rows = [*seed_002(), call("o1", "gone", 0.1), call("x", "y"), call("y", "x"),
            call("s", "s"), *[call(f"k{i}", "c2", 0.1 * (i % 3), i % 2) for i in range(20)],
            *[call(r["call_id"], r["parent_call_id"], r["cost_usd"], workflow="wf2")
              for r in seed_002()]]
    expected = call_chains(frame(rows))
    rng = random.Random(7)
    for _ in range(5):
        rng.shuffle(rows)
        assert_frame_equal(call_chains(frame(rows)), expected)


def test_repeated_or_null_keys_raise() -> None:
    with pytest.raises(ValueError, match="repeat"):
        call_chains(frame([call("a"), call("a")]))
    with pytest.raises(ValueError, match="null"):
        call_chains(frame([call("a", workflow=None)]))  # type: ignore[arg-type]
