"""`recommendations`: each kind fires on a crafted case with the savings recomputed by hand
from the documented formula, and stays quiet on a normal one.

Prices are `prices:` overrides (deterministic), except where a test checks the genai-prices
pairs of the model-family table against `genai_prices.calc_price` itself.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import polars as pl
import pytest
from genai_prices import Usage, calc_price

from finops_pipeline.config import FileConfig, PriceOverride, Thresholds
from finops_pipeline.pricing import price_requests
from finops_pipeline.schemas.datasets import LAKE_DATASETS
from finops_pipeline.schemas.token_usage import LLM_REQUESTS_SCHEMA
from finops_pipeline.transforms.agent_kpis import kpi_agent_model_daily
from finops_pipeline.transforms.kpis import kpi_run_daily, kpi_workflow_model_daily
from finops_pipeline.transforms.model_families import (
    CHEAPER_MODEL,
    cheaper_model_table,
    normalized_model,
)
from finops_pipeline.transforms.recommendations import (
    KINDS,
    RECOMMENDATIONS_SCHEMA,
    VISIBILITY_KINDS,
    recommendations,
)
from finops_pipeline.transforms.reconciliation import RECONCILIATION_SCHEMA

D = dt.date(2026, 3, 10)
FROM = dt.date(2026, 1, 1)
# acme/m: $2 input, $8 output, $0.2 cache read, $2.5 cache write per MTok.
ACME = dict(input_mtok=2.0, output_mtok=8.0, cache_read_mtok=0.2, cache_write_mtok=2.5)
ACME_PRICE = PriceOverride(provider="acme", model="m", effective_from=FROM, **ACME)
CONFIG = FileConfig(prices=[ACME_PRICE])

WM_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(), "repo": pl.String(), "workflow": pl.String(), "provider": pl.String(),
    "model": pl.String(), "price_basis": pl.String(), "requests": pl.Int64(),
    "error_requests": pl.Int64(), "input_tokens": pl.Int64(), "output_tokens": pl.Int64(),
    "cache_read_tokens": pl.Int64(), "cache_write_tokens": pl.Int64(),
    "prompt_tokens": pl.Int64(), "total_tokens": pl.Int64(), "cost_usd": pl.Float64(),
}
RUN_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(), "repo": pl.String(), "workflow": pl.String(), "run_id": pl.Int64(),
    "run_attempt": pl.Int32(), "conclusion": pl.String(), "is_failed": pl.Boolean(),
    "requests": pl.Int64(), "total_tokens": pl.Int64(), "cost_usd": pl.Float64(),
    "small_requests": pl.Int64(), "small_requests_cost_usd": pl.Float64(),
    "top_model": pl.String(),
}
SHOWBACK_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(), "level": pl.String(), "team": pl.String(), "repo": pl.String(),
    "total_tokens": pl.Int64(), "cost_usd": pl.Float64(), "tasks": pl.Int64(),
    "budget_usd": pl.Float64(), "variance_usd": pl.Float64(), "mtd_cost_usd": pl.Float64(),
    "mtd_budget_usd": pl.Float64(), "mtd_variance_usd": pl.Float64(),
}
EMPTY_WM = pl.DataFrame(schema=WM_SCHEMA)
EMPTY_RUNS = pl.DataFrame(schema=RUN_SCHEMA)
EMPTY_SHOWBACK = pl.DataFrame(schema=SHOWBACK_SCHEMA)
EMPTY_AGENTS = kpi_agent_model_daily(LAKE_DATASETS["agent_calls"].empty())
EMPTY_RECONCILIATION = pl.DataFrame(schema=RECONCILIATION_SCHEMA)


def acme_cost(i: int, o: int, r: int, w: int, p: dict[str, float] = ACME) -> float:
    return (i * p["input_mtok"] + o * p["output_mtok"] + r * p["cache_read_mtok"]
            + w * p["cache_write_mtok"]) / 1e6


def wm_row(*, day: dt.date = D, repo: str = "octo/app", workflow: str = "ci",
           provider: str = "acme", model: str = "m", i: int = 0, o: int = 0, r: int = 0,
           w: int = 0, cost: float | None = None,
           prices: dict[str, float] = ACME) -> dict:
    """A kpi_workflow_model_daily row; cost defaults to the buckets at `prices`."""
    return {
        "day": day, "repo": repo, "workflow": workflow, "provider": provider, "model": model,
        "price_basis": "config_override", "requests": 10, "error_requests": 0,
        "input_tokens": i, "output_tokens": o, "cache_read_tokens": r,
        "cache_write_tokens": w, "prompt_tokens": i + r + w, "total_tokens": i + r + w + o,
        "cost_usd": acme_cost(i, o, r, w, prices) if cost is None else cost,
    }


def run_row(run_id: int, *, day: dt.date = D, repo: str = "octo/app", workflow: str = "ci",
            attempt: int = 1, failed: bool = False, cost: float = 1.0, small: int = 0,
            small_cost: float = 0.0) -> dict:
    return {
        "day": day, "repo": repo, "workflow": workflow, "run_id": run_id,
        "run_attempt": attempt, "conclusion": "failure" if failed else "success",
        "is_failed": failed, "requests": small + 5, "total_tokens": 1000, "cost_usd": cost,
        "small_requests": small, "small_requests_cost_usd": small_cost, "top_model": "m",
    }


def showback_row(level: str, *, day: dt.date = D, team: str = "*", repo: str = "*",
                 mtd_cost: float, mtd_budget: float | None) -> dict:
    return {
        "day": day, "level": level, "team": team, "repo": repo, "total_tokens": 1000,
        "cost_usd": 10.0, "tasks": 3, "budget_usd": None if mtd_budget is None else 5.0,
        "variance_usd": None, "mtd_cost_usd": mtd_cost, "mtd_budget_usd": mtd_budget,
        "mtd_variance_usd": None if mtd_budget is None else mtd_cost - mtd_budget,
    }


def run(wm: list[dict] = (), runs: list[dict] = (), showback: list[dict] = (), *,
        agents: pl.DataFrame = EMPTY_AGENTS,
        reconciliation: pl.DataFrame = EMPTY_RECONCILIATION,
        days: tuple[dt.date, dt.date] = (D, D), config: FileConfig = CONFIG) -> pl.DataFrame:
    out = recommendations(
        pl.DataFrame(list(wm), schema=WM_SCHEMA), pl.DataFrame(list(runs), schema=RUN_SCHEMA),
        pl.DataFrame(list(showback), schema=SHOWBACK_SCHEMA), agents, reconciliation,
        days=days, config=config,
    )
    check_invariants(out, days)
    return out


def check_invariants(out: pl.DataFrame, days: tuple[dt.date, dt.date]) -> None:
    assert out.schema == pl.Schema(RECOMMENDATIONS_SCHEMA)
    assert out.filter(~pl.col("kind").is_in(KINDS)).height == 0
    assert out.filter(~pl.col("priority").is_in(["high", "medium", "low"])).height == 0
    saving = out.filter(~pl.col("kind").is_in(VISIBILITY_KINDS))
    savings, current = saving["potential_savings_usd"], saving["current_cost_usd"]
    assert savings.null_count() == 0 and ((savings > 0) & (savings <= current)).all()
    assert out.filter(pl.col("kind").is_in(VISIBILITY_KINDS))[
        "potential_savings_usd"].null_count() == out.filter(
        pl.col("kind").is_in(VISIBILITY_KINDS)).height
    assert out.select("day", "kind", "scope", "key").is_unique().all()
    assert out.equals(out.sort("day", "rank"))
    for day_rows in out.partition_by("day"):
        assert day_rows["rank"].to_list() == list(range(1, day_rows.height + 1))
        assert day_rows["potential_savings_usd"].is_sorted(descending=True, nulls_last=True)
    assert out.filter(~pl.col("day").is_between(*days)).height == 0
    for e in out["evidence"]:
        assert isinstance(json.loads(e), dict)


def only(out: pl.DataFrame, kind: str) -> dict:
    rows = out.filter(pl.col("kind") == kind)
    assert rows.height == 1, rows
    return rows.row(0, named=True)


# --- enable_prompt_caching ----------------------------------------------------------------

def test_prompt_caching_fires_below_target_hit_rate():
    # 900k uncached + 100k cache reads: hit rate 0.1 < 0.5; prompt 1M >= 100k.
    i, r, o = 900_000, 100_000, 50_000
    out = run([wm_row(i=i, r=r, o=o)])
    row = only(out, "enable_prompt_caching")
    moved = max(0.0, 0.5 * (i + r) - r)  # 400k tokens up to the target hit rate
    expected = moved * (ACME["input_mtok"] - ACME["cache_read_mtok"]) / 1e6  # 0.72
    assert row["potential_savings_usd"] == pytest.approx(expected)
    assert row["potential_savings_usd"] == pytest.approx(0.72)
    assert row["current_cost_usd"] == pytest.approx(acme_cost(i, o, r, 0))  # 2.22
    assert (row["scope"], row["key"]) == ("workflow_model", "octo/app:ci:acme:m")
    assert (row["provider"], row["model"]) == ("acme", "m")
    evidence = json.loads(row["evidence"])
    assert evidence["input_tokens"] == i and evidence["cache_read_tokens"] == r
    assert evidence["target_hit_rate"] == 0.5 and evidence["cache_hit_rate"] == pytest.approx(0.1)
    assert (evidence["input_mtok"], evidence["cache_read_mtok"]) == (2.0, 0.2)
    assert "$0.72" in row["recommendation"] and "10%" in row["recommendation"]


def test_prompt_caching_sums_the_seven_day_window():
    # Two days of the window: the rate and savings come from the sums, not per day.
    rows = [wm_row(day=D - dt.timedelta(days=6), i=400_000, r=0, o=10_000),
            wm_row(day=D, i=100_000, r=300_000, o=10_000)]
    row = only(run(rows), "enable_prompt_caching")
    i, r = 500_000, 300_000  # hit rate 0.375
    expected = (0.5 * (i + r) - r) * (2.0 - 0.2) / 1e6
    assert row["potential_savings_usd"] == pytest.approx(expected)
    assert row["current_cost_usd"] == pytest.approx(
        acme_cost(400_000, 10_000, 0, 0) + acme_cost(100_000, 10_000, 300_000, 0))


@pytest.mark.parametrize("case", ["hit_rate_at_target", "small_prompt", "no_cheaper_read"])
def test_prompt_caching_quiet(case):
    config = CONFIG
    row = wm_row(i=400_000, r=600_000, o=50_000)  # hit rate 0.6 >= 0.5
    if case == "small_prompt":
        row = wm_row(i=90_000, r=0, o=5_000)  # prompt 90k < cache_min_prompt_tokens
    elif case == "no_cheaper_read":
        # No cache-read price: reads pay the input price, caching saves nothing.
        config = FileConfig(prices=[PriceOverride(provider="acme", model="m",
                                                  effective_from=FROM, input_mtok=2.0,
                                                  output_mtok=8.0)])
        row = wm_row(i=1_000_000, r=0, o=50_000)
    out = run([row], config=config)
    assert out.filter(pl.col("kind") == "enable_prompt_caching").height == 0


# --- trim_prompt ----------------------------------------------------------------------------

def test_trim_prompt_fires_above_io_ratio_max():
    i, r, w, o = 1_000_000, 2_000_000, 100_000, 10_000  # prompt 3.1M, io_ratio 310
    row = only(run([wm_row(i=i, r=r, w=w, o=o)]), "trim_prompt")
    prompt = i + r + w
    tokens_cut = prompt - 100 * o  # 2.1M
    prompt_cost = (i * 2.0 + r * 0.2 + w * 2.5) / 1e6  # 2.65
    expected = prompt_cost * tokens_cut / prompt  # 1.7952
    assert row["potential_savings_usd"] == pytest.approx(expected)
    assert row["potential_savings_usd"] == pytest.approx(1.795161, abs=1e-6)
    assert row["current_cost_usd"] == pytest.approx(acme_cost(i, o, r, w))  # 2.73
    evidence = json.loads(row["evidence"])
    assert evidence["io_ratio"] == pytest.approx(310.0)
    assert evidence["tokens_cut"] == pytest.approx(tokens_cut)
    assert evidence["prompt_cost_usd"] == pytest.approx(prompt_cost)
    assert "310.0" in row["recommendation"] and "$1.80" in row["recommendation"]


def test_trim_prompt_quiet_on_normal_ratio_and_no_output():
    normal = wm_row(i=200_000, r=300_000, o=10_000)  # io_ratio 50
    no_output = wm_row(workflow="embed", i=200_000, r=300_000, o=0)  # io_ratio undefined
    out = run([normal, no_output])
    assert out.filter(pl.col("kind") == "trim_prompt").height == 0


# --- batch_small_requests -------------------------------------------------------------------

def test_batch_small_requests_counts_runs_with_many_small_requests():
    runs = [run_row(1, small=20, small_cost=0.5, cost=2.0),
            run_row(2, small=10, small_cost=0.3, cost=1.0),  # not more than 10: left out
            run_row(3, day=D - dt.timedelta(days=3), small=15, small_cost=0.25, cost=1.0)]
    row = only(run(runs=runs), "batch_small_requests")
    expected = (0.5 + 0.25) * (1 - 1 / 5)  # 0.6
    assert row["potential_savings_usd"] == pytest.approx(expected)
    assert row["current_cost_usd"] == pytest.approx(4.0)  # the workflow's window cost
    assert (row["scope"], row["key"]) == ("workflow", "octo/app:ci")
    assert row["provider"] is None and row["model"] is None
    evidence = json.loads(row["evidence"])
    assert evidence["small_requests"] == 35 and evidence["runs_with_small_requests"] == 2
    assert evidence["batch_size"] == 5


def test_batch_small_requests_quiet_on_few_small_requests():
    out = run(runs=[run_row(1, small=10, small_cost=0.5), run_row(2, small=3, small_cost=0.1)])
    assert out.filter(pl.col("kind") == "batch_small_requests").height == 0


# --- cheaper_model --------------------------------------------------------------------------

SONNET = dict(input_mtok=4.0, output_mtok=20.0, cache_read_mtok=0.4, cache_write_mtok=5.0)
HAIKU = dict(input_mtok=1.0, output_mtok=4.0, cache_read_mtok=0.1, cache_write_mtok=1.25)


def _claude_config(haiku: dict[str, float] = HAIKU) -> FileConfig:
    return FileConfig(prices=[
        PriceOverride(provider="anthropic", model="claude-sonnet-4-5", effective_from=FROM,
                      **SONNET),
        PriceOverride(provider="anthropic", model="claude-haiku-4-5", effective_from=FROM,
                      **haiku),
    ])


def test_cheaper_model_prices_the_same_tokens_at_the_cheaper_model():
    # A dated spelling maps to claude-sonnet-4-5 -> claude-haiku-4-5 (both priced by override).
    i, o, r, w = 50_000, 20_000, 30_000, 10_000
    row_in = wm_row(provider="anthropic", model="claude-sonnet-4-5-20250929", i=i, o=o, r=r,
                    w=w, prices=SONNET)
    row = only(run([row_in], config=_claude_config()), "cheaper_model")
    at_current = acme_cost(i, o, r, w, SONNET)  # 0.2 + 0.4 + 0.012 + 0.05 = 0.662
    at_cheaper = acme_cost(i, o, r, w, HAIKU)  # 0.05 + 0.08 + 0.003 + 0.0125 = 0.1455
    assert row["potential_savings_usd"] == pytest.approx(at_current - at_cheaper)
    assert row["potential_savings_usd"] == pytest.approx(0.5165)
    assert row["current_cost_usd"] == pytest.approx(at_current)
    assert row["key"] == "octo/app:ci:anthropic:claude-sonnet-4-5-20250929"
    assert row["model"] == "claude-sonnet-4-5-20250929"
    evidence = json.loads(row["evidence"])
    assert evidence["cheaper_model"] == "claude-haiku-4-5"
    assert evidence["cheaper_input_mtok"] == 1.0 and evidence["input_mtok"] == 4.0
    assert "claude-haiku-4-5" in row["recommendation"]
    assert "quality" in row["recommendation"]


def test_cheaper_model_with_genai_prices_copilot_spelling():
    # Copilot's `gpt-5` at OpenAI's list prices vs `gpt-5-mini`, checked against genai-prices.
    i, o, r = 400_000, 30_000, 200_000
    when = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)

    def price(model: str) -> Decimal:
        usage = Usage(input_tokens=i + r, cache_read_tokens=r, output_tokens=o)
        return calc_price(usage, model, provider_id="openai",
                          genai_request_timestamp=when).total_price

    big, small = price("gpt-5"), price("gpt-5-mini")
    rows = [wm_row(provider="copilot", model="GPT-5", i=i, o=o, r=r, cost=float(big))]
    row = only(run(rows, config=FileConfig()), "cheaper_model")
    assert row["potential_savings_usd"] == pytest.approx(float(big - small))
    assert json.loads(row["evidence"])["cheaper_model"] == "gpt-5-mini"


def test_cheaper_model_quiet_when_unmapped_not_cheaper_or_cost_unknown():
    dear_haiku = dict(input_mtok=5.0, output_mtok=30.0, cache_read_mtok=0.5,
                      cache_write_mtok=6.0)
    rows = [
        wm_row(i=50_000, o=20_000),  # acme/m has no cheaper sibling
        wm_row(workflow="wf2", provider="anthropic", model="claude-sonnet-4.5", i=50_000,
               o=20_000, prices=SONNET),  # its "cheaper" model costs more here
        wm_row(workflow="wf3", provider="openai", model="gpt-4o", i=50_000, o=20_000),
    ]
    # The window's requests were unpriced (null cost): no saving can be bounded by it.
    rows[2]["cost_usd"] = None
    config = FileConfig(prices=[ACME_PRICE, *_claude_config(haiku=dear_haiku).prices])
    assert run(rows, config=config).filter(pl.col("kind") == "cheaper_model").height == 0


def test_savings_capped_at_current_cost_when_prices_rose():
    # The window was costed at old prices ($0.01 in total); day-D prices make the formula's
    # saving larger than what was spent: the saving is capped at the current cost.
    row = wm_row(i=1_000_000, o=10_000, cost=0.01)
    out = run([row])
    caching = only(out, "enable_prompt_caching")
    assert caching["potential_savings_usd"] == pytest.approx(0.01)
    assert caching["current_cost_usd"] == pytest.approx(0.01)


@pytest.mark.parametrize(("model", "normalized"), [
    ("claude-sonnet-4.5", "claude-sonnet-4-5"),
    ("anthropic/claude-sonnet-4-6", "claude-sonnet-4-6"),
    ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
    ("claude-opus-4-1-20250805", "claude-opus-4-1"),
    ("Claude-Opus-4.6", "claude-opus-4-6"),
    ("claude-3-7-sonnet-latest", "claude-3-7-sonnet"),
    ("gpt-4o-2024-08-06", "gpt-4o"),
    ("gpt-4.1-2025-04-14", "gpt-4.1"),
    ("o3-2025-04-16", "o3"),
    ("models/gemini-2.5-pro", "gemini-2.5-pro"),
    ("gemini-2.5-pro-preview-05-06", "gemini-2.5-pro-preview"),
    ("gpt-5.1-codex", "gpt-5.1-codex"),
])
def test_model_spellings_normalize(model, normalized):
    got = pl.select(normalized_model(pl.lit(model))).item()
    assert got == normalized
    assert got in CHEAPER_MODEL


def test_every_cheaper_model_is_priced_and_cheaper_in_genai_prices():
    # Maintenance check of model_families: each target exists in genai-prices, is of the
    # same vendor as its source and cheaper on input and output (as seen through copilot,
    # which infers the vendor from the name).
    from finops_pipeline.pricing import unit_price_table

    pairs = cheaper_model_table()
    keys = pl.concat([pairs.select(pl.col("normalized_model").alias("model")),
                      pairs.select(pl.col("cheaper_model").alias("model"))]).unique()
    table = unit_price_table(keys.with_columns(pl.lit("copilot").alias("provider"),
                                               pl.lit(D).alias("day")))
    by_model = {r["model"]: r for r in table.iter_rows(named=True)}
    for source, target in CHEAPER_MODEL.items():
        s, t = by_model[source], by_model[target]
        assert s["input_mtok"] is not None, source
        assert t["input_mtok"] is not None, target
        assert s["price_provider"] == t["price_provider"], (source, target)
        assert t["input_mtok"] < s["input_mtok"], (source, target)
        assert t["output_mtok"] < s["output_mtok"], (source, target)


# --- fix_failing_workflow -------------------------------------------------------------------

def test_fix_failing_workflow_counts_failed_attempts_cost():
    runs = [run_row(1, failed=True, cost=1.5), run_row(1, attempt=2, cost=2.0),
            run_row(2, day=D - dt.timedelta(days=2), failed=True, cost=0.25),
            run_row(3, repo="octo/other", cost=9.0)]
    out = run(runs=runs)
    row = only(out, "fix_failing_workflow")
    assert row["key"] == "octo/app:ci"
    assert row["potential_savings_usd"] == pytest.approx(1.75)  # 1.5 + 0.25
    assert row["current_cost_usd"] == pytest.approx(3.75)  # the workflow's window cost
    evidence = json.loads(row["evidence"])
    assert (evidence["failed_attempts"], evidence["run_attempts"]) == (2, 3)


def test_fix_failing_workflow_quiet_without_failures_or_failure_cost():
    runs = [run_row(1, cost=1.0), run_row(2, failed=True, cost=0.0)]
    assert run(runs=runs).filter(pl.col("kind") == "fix_failing_workflow").height == 0


# --- budget_overrun -------------------------------------------------------------------------

def test_budget_overrun_per_showback_level():
    showback = [
        showback_row("repo", team="platform", repo="octo/app", mtd_cost=120.0, mtd_budget=100.0),
        showback_row("team", team="platform", mtd_cost=80.0, mtd_budget=100.0),  # under
        showback_row("team", team="data", mtd_cost=45.0, mtd_budget=30.0),
        showback_row("total", mtd_cost=300.0, mtd_budget=250.0),
        showback_row("repo", team="data", repo="octo/lake", mtd_cost=45.0, mtd_budget=None),
        showback_row("total", day=D - dt.timedelta(days=1), mtd_cost=290.0, mtd_budget=200.0),
    ]
    out = run(showback=showback).filter(pl.col("kind") == "budget_overrun")
    got = {(r["scope"], r["key"]): (r["current_cost_usd"], r["potential_savings_usd"])
           for r in out.iter_rows(named=True)}
    assert got == {("repo", "octo/app"): (120.0, 20.0), ("team", "data"): (45.0, 15.0),
                   ("total", "*"): (300.0, 50.0)}
    total = out.filter(pl.col("scope") == "total").row(0, named=True)
    assert total["priority"] == "high"
    assert "$50.00 over" in total["recommendation"]
    assert json.loads(total["evidence"])["mtd_budget_usd"] == 250.0


# --- window, rank, priority, filters ----------------------------------------------------------

def test_window_is_seven_days_and_only_requested_days_are_emitted():
    first, last = D, D + dt.timedelta(days=4)
    runs = [run_row(1, day=D - dt.timedelta(days=7), failed=True, cost=5.0),  # in no window
            run_row(2, day=D - dt.timedelta(days=3), failed=True, cost=1.0),  # D..D+3
            run_row(3, day=last + dt.timedelta(days=1), failed=True, cost=2.0)]  # after
    out = run(runs=runs, days=(first, last))
    assert out["day"].to_list() == [D + dt.timedelta(days=k) for k in range(4)]
    assert out["potential_savings_usd"].to_list() == pytest.approx([1.0] * 4)


def test_rank_orders_by_savings_within_each_day():
    runs = [run_row(1, workflow="a", failed=True, cost=0.5),
            run_row(2, workflow="b", failed=True, cost=3.0),
            run_row(3, workflow="c", failed=True, cost=1.0),
            run_row(4, workflow="b", day=D + dt.timedelta(days=1), failed=True, cost=2.0),
            run_row(5, workflow="d", day=D + dt.timedelta(days=1), failed=True, cost=4.0)]
    out = run(runs=runs, days=(D, D + dt.timedelta(days=1)))
    assert out.select("day", "key", "rank").rows() == [
        (D, "octo/app:b", 1), (D, "octo/app:c", 2), (D, "octo/app:a", 3),
        # b's window holds both its failures (3 + 2), d only its 4.
        (D + dt.timedelta(days=1), "octo/app:b", 1),
        (D + dt.timedelta(days=1), "octo/app:d", 2),
        (D + dt.timedelta(days=1), "octo/app:c", 3),
        (D + dt.timedelta(days=1), "octo/app:a", 4),
    ]


def test_rank_ties_break_by_kind_then_key():
    runs = [run_row(1, workflow="b", failed=True, cost=1.0),
            run_row(2, workflow="a", failed=True, cost=1.0)]
    showback = [showback_row("total", mtd_cost=11.0, mtd_budget=10.0)]
    out = run(runs=runs, showback=showback)
    assert out.select("kind", "key").rows() == [
        ("budget_overrun", "*"), ("fix_failing_workflow", "octo/app:a"),
        ("fix_failing_workflow", "octo/app:b")]


@pytest.mark.parametrize(("cost", "wasted", "priority"), [
    (100.0, 10.0, "high"),  # >= $10
    (4.0, 1.0, "high"),  # >= $1 and >= 25%
    (20.0, 1.0, "medium"),  # >= $1, 5%
    (0.2, 0.05, "medium"),  # 25% but pennies
    (10.0, 0.5, "low"),
])
def test_priority_rule(cost, wasted, priority):
    runs = [run_row(1, failed=True, cost=wasted), run_row(2, cost=cost - wasted)]
    assert only(run(runs=runs), "fix_failing_workflow")["priority"] == priority


def test_min_savings_drops_small_rows():
    runs = [run_row(1, workflow="a", failed=True, cost=0.009),
            run_row(2, workflow="b", failed=True, cost=0.5)]
    assert run(runs=runs)["key"].to_list() == ["octo/app:b"]
    config = FileConfig(prices=[ACME_PRICE],
                        thresholds=Thresholds(recommendation_min_savings_usd=1.0))
    assert run(runs=runs, config=config).height == 0


def test_empty_inputs_give_the_empty_schema():
    out = recommendations(EMPTY_WM, EMPTY_RUNS, EMPTY_SHOWBACK, EMPTY_AGENTS,
                          EMPTY_RECONCILIATION, days=(D, D), config=CONFIG)
    assert out.height == 0
    assert out.schema == pl.Schema(RECOMMENDATIONS_SCHEMA)


def test_normal_workflow_gets_no_recommendation():
    # Good caching (hit rate 0.8), io_ratio 40, no failures, few small requests, on budget.
    wm = [wm_row(day=D - dt.timedelta(days=k), i=20_000, r=80_000, o=2_500) for k in range(7)]
    runs = [run_row(k, day=D - dt.timedelta(days=k), small=3, small_cost=0.001)
            for k in range(7)]
    showback = [showback_row("total", mtd_cost=50.0, mtd_budget=100.0)]
    assert run(wm, runs, showback).height == 0


# --- against the real KPI builders ------------------------------------------------------------

def test_reads_the_kpi_tables_as_built():
    # llm_requests -> price_requests -> kpi_workflow_model_daily / kpi_run_daily, as the
    # warehouse builds them; one run with 12 small requests of a priced acme model, failed.
    n = 12
    ts = dt.datetime(2026, 3, 10, 9, tzinfo=dt.UTC)
    requests = pl.DataFrame({
        "day": [D] * n, "source": ["gh_aw"] * n, "repo": ["octo/app"] * n,
        "workflow": ["ci"] * n, "run_id": [7] * n, "run_attempt": [1] * n,
        "request_id": [f"r{k}" for k in range(n)], "timestamp": [ts] * n,
        "provider": ["acme"] * n, "model": ["m"] * n, "path": ["/v1"] * n, "status": [200] * n,
        "streaming": [True] * n, "input_tokens": [20_000] * n, "output_tokens": [10] * n,
        "cache_read_tokens": [0] * n, "cache_write_tokens": [0] * n,
        "prompt_tokens": [20_000] * n, "total_tokens": [20_010] * n,
    }).with_columns(*[pl.lit(None).alias(c) for c in LLM_REQUESTS_SCHEMA
                      if c not in ("day", "source", "repo", "workflow", "run_id",
                                   "run_attempt", "request_id", "timestamp", "provider",
                                   "model", "path", "status", "streaming", "input_tokens",
                                   "output_tokens", "cache_read_tokens", "cache_write_tokens",
                                   "prompt_tokens", "total_tokens")]
                      ).select(list(LLM_REQUESTS_SCHEMA)).cast(LLM_REQUESTS_SCHEMA)
    requests = price_requests(requests, CONFIG.prices)
    runs = pl.DataFrame({
        "day": [D], "repo": ["octo/app"], "workflow": ["ci"], "run_id": [7], "run_attempt": [1],
        "head_branch": ["main"], "event": ["push"], "conclusion": ["failure"],
        "is_failed": [True], "has_token_data": [True], "url": ["u"], "created_at": [ts],
        "turns": [12], "duration_ms": [1000], "reported_ai_credits": [None],
    }, schema_overrides={"run_attempt": pl.Int32, "reported_ai_credits": pl.Float64})
    wm = kpi_workflow_model_daily(requests)
    run_daily = kpi_run_daily(runs, requests)
    out = recommendations(wm, run_daily, EMPTY_SHOWBACK, EMPTY_AGENTS, EMPTY_RECONCILIATION,
                          days=(D, D), config=CONFIG)
    check_invariants(out, (D, D))
    cost = n * (20_000 * 2.0 + 10 * 8.0) / 1e6  # 0.48096
    got = {r["kind"]: r["potential_savings_usd"] for r in out.iter_rows(named=True)}
    assert got["fix_failing_workflow"] == pytest.approx(cost)
    assert got["batch_small_requests"] == pytest.approx(cost * (1 - 1 / 5))
    # prompt 240k >= 100k and no cache reads: caching fires; io_ratio 2000 > 100: trim fires.
    assert got["enable_prompt_caching"] == pytest.approx(0.5 * 240_000 * (2.0 - 0.2) / 1e6)
    prompt, output = 240_000, 120
    assert got["trim_prompt"] == pytest.approx(
        (prompt * 2.0 / 1e6) * (prompt - 100 * output) / prompt)


# --- agents of the multi-agent apps -------------------------------------------------------------

def test_this_agent_on_a_cheaper_model():
    """Seed 002's "this agent on a cheaper model": agent calls -> kpi_agent_model_daily ->
    the agent's tokens of the 7 days priced at the family's cheaper model."""
    i, o = 400_000, 20_000
    schema = LAKE_DATASETS["agent_calls"].schema
    calls = pl.DataFrame([
        {**dict.fromkeys(schema), "day": D - dt.timedelta(days=k), "workflow_id": f"w{k}",
         "call_id": "c1", "agent_name": "Analyzer", "provider": "anthropic",
         "model": "claude-sonnet-4-5", "input_tokens": i, "output_tokens": o,
         "cache_read_tokens": 0, "cache_write_tokens": 0, "prompt_tokens": i,
         "total_tokens": i + o, "cost_usd": acme_cost(i, o, 0, 0, SONNET), "success": True}
        for k in range(3)], schema=schema)
    agents = kpi_agent_model_daily(calls)
    out = run(agents=agents, config=_claude_config())
    row = only(out.filter(pl.col("scope") == "agent_model"), "cheaper_model")
    at_current = 3 * acme_cost(i, o, 0, 0, SONNET)  # 3 x (1.6 + 0.4) = 6.0
    at_cheaper = 3 * acme_cost(i, o, 0, 0, HAIKU)  # 3 x (0.4 + 0.08) = 1.44
    assert row["potential_savings_usd"] == pytest.approx(at_current - at_cheaper)
    assert row["current_cost_usd"] == pytest.approx(at_current)
    assert (row["agent"], row["repo"], row["workflow"]) == ("Analyzer", None, None)
    assert row["key"] == "Analyzer:anthropic:claude-sonnet-4-5"
    assert row["recommendation"].startswith(
        "Try claude-haiku-4-5 instead of claude-sonnet-4-5 in agent Analyzer")
    # no cache reads on 1.2M prompt tokens: caching is suggested for the agent as well
    assert "enable_prompt_caching" in set(
        out.filter(pl.col("agent") == "Analyzer")["kind"])


# --- what GitHub bills without telemetry ---------------------------------------------------------

def test_unexplained_billing_asks_for_instrumentation_without_a_savings_figure():
    rec = pl.DataFrame([
        {"day": D - dt.timedelta(days=k), "org": "acme", "model": m, "billed_net_usd": b,
         "unexplained_usd": u}
        for k in range(3) for m, b, u in (("claude-sonnet-4.6", 20.0, 15.0), ("gpt-5", 5.0, 0.0))
    ] + [{"day": D, "org": "beta", "model": "gpt-5", "billed_net_usd": 10.0,
          "unexplained_usd": 1.0}]).with_columns(pl.col("day").cast(pl.Date))
    rec = rec.select([pl.col(k).cast(v) if k in rec.columns else pl.lit(None, v).alias(k)
                      for k, v in RECONCILIATION_SCHEMA.items()])
    wm = [wm_row(i=900_000, r=100_000, o=2_000)]  # a caching saving on the same day
    out = run(wm, reconciliation=rec)
    row = only(out, "instrument_billed_usage")
    assert (row["scope"], row["key"], row["potential_savings_usd"]) == ("org", "acme", None)
    assert row["current_cost_usd"] == pytest.approx(45.0)  # 3 days x $15 unexplained
    assert row["rank"] == out.height  # after every row with a saving
    assert row["priority"] == "high"
    assert row["recommendation"].startswith(
        "Instrument what GitHub bills acme without telemetry: $45.00 of its $75.00 bill")
    evidence = json.loads(row["evidence"])
    assert evidence["top_model"] == "claude-sonnet-4.6"
    assert evidence["unexplained_share"] == pytest.approx(0.6)
