"""The home of multi-day tables: analytics assets over a trailing window, and loads of rows
that span days or have no day at all."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import warnings
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from finops_pipeline.defs.assets.lake import lake
from finops_pipeline.defs.assets.sources import SOURCE_ASSETS
from finops_pipeline.defs.assets.warehouse import build_warehouse_asset
from finops_pipeline.defs.checks import WAREHOUSE_CHECKS
from finops_pipeline.defs.resources import FinopsConfig, GitHubResource
from finops_pipeline.lake import DataPaths
from finops_pipeline.warehouse.load import analytics_range, load_lake_days, replace_rows
from finops_pipeline.warehouse.publish import open_for_update
from finops_pipeline.warehouse.tables import TABLES, Table, check_registry
from finops_pipeline_tests.test_pipeline_e2e import land_run, record, sql

warnings.filterwarnings("ignore", category=dg.BetaWarning)
DAYS = [dt.date(2026, 3, 1) + dt.timedelta(days=i) for i in range(8)]
WINDOW = 3


def requests_3d(kpi: pl.DataFrame, days: tuple[dt.date, dt.date],
                config: object = None) -> pl.DataFrame:
    """Requests of each workflow over the 3 days ending on each day of `days` (a toy trend):
    a row on every day whose window holds activity."""
    first, last = days
    grid = pl.DataFrame({"day": pl.date_range(first, last, eager=True)})
    return (
        grid.join(kpi.select("repo", "workflow", pl.col("day").alias("d"), "requests"),
                  how="cross")
        .filter((pl.col("d") <= pl.col("day"))
                & (pl.col("d") > pl.col("day") - pl.duration(days=WINDOW)))
        .group_by("day", "repo", "workflow")
        .agg(pl.col("requests").sum().cast(pl.Int64).alias("requests_3d"))
        .sort("day", "repo", "workflow")
    )


TREND = Table("toy_requests_3d", ("day", "repo", "workflow"),
              "Requests over the trailing 3 days (test table).", ("kpi_workflow_daily",),
              requests_3d, window_days=WINDOW)


def land(root: Path, day: dt.date, run_id: int, requests: int) -> None:
    land_run(root / "landing" / "gh-aw-logs", run_id, f"{day}T09:00:00Z", "Daily", "acme/api",
             [record(f"r{run_id}-{i}") for i in range(requests)])


def run(root: Path, start: dt.date, end: dt.date) -> dg.ExecuteInProcessResult:
    # The registry line, in the test: TABLES plus the trend.
    assets = [*SOURCE_ASSETS, lake, build_warehouse_asset((*TABLES, TREND)), *WAREHOUSE_CHECKS]
    return dg.materialize(
        assets, instance=dg.DagsterInstance.ephemeral(),
        resources={"finops": FinopsConfig(data_dir=str(root)), "github": GitHubResource()},
        tags={"dagster/asset_partition_range_start": start.isoformat(),
              "dagster/asset_partition_range_end": end.isoformat()},
        raise_on_error=True)


def trend_materialization(result: dg.ExecuteInProcessResult) -> dg.AssetMaterialization:
    return next(m for m in result.asset_materializations_for_node("warehouse")
                if m.asset_key.path[-1] == TREND.name)


def trend(root: Path) -> list[tuple]:
    return sql(root, "SELECT day, requests_3d FROM toy_requests_3d ORDER BY day").rows()


def expected(per_day: dict[dt.date, int]) -> list[tuple]:
    kpi = pl.DataFrame({"day": list(per_day), "repo": "acme/api", "workflow": "Daily",
                        "requests": list(per_day.values())})
    return requests_3d(kpi, (min(per_day), max(per_day))).select(
        "day", "requests_3d").rows()


def test_an_analytics_table_is_an_asset_downstream_of_what_it_reads():
    check_registry((*TABLES, TREND))
    spec = next(s for s in build_warehouse_asset((*TABLES, TREND)).specs
                if s.key.path[-1] == TREND.name)
    assert [d.asset_key.to_user_string() for d in spec.deps] == ["warehouse/kpi_workflow_daily"]
    assert TREND.analytics and TREND.daily and not TREND.from_lake


def test_backfilling_a_day_refreshes_every_day_its_window_feeds(tmp_path: Path):
    root = tmp_path / "data"
    counts = {d: i + 1 for i, d in enumerate(DAYS)}
    for i, d in enumerate(DAYS):
        land(root, d, 100 + i, counts[d])
    result = run(root, DAYS[0], DAYS[-1])
    assert trend(root) == expected(counts)
    mat = trend_materialization(result)
    assert mat.metadata["first_day"].value == "2026-03-01"

    # Late data for day 3 (a re-run of that day only): days 3, 4 and 5 change, 6.. do not.
    land(root, DAYS[2], 200, 10)
    counts[DAYS[2]] += 10
    result = run(root, DAYS[2], DAYS[2])
    assert trend(root) == expected(counts)
    mat = trend_materialization(result)
    assert (mat.metadata["first_day"].value, mat.metadata["last_day"].value) == (
        "2026-03-03", "2026-03-05")


def test_the_window_never_runs_past_the_latest_loaded_day():
    d = dt.date(2026, 3, 10)
    assert analytics_range(TREND, d, d, latest=d, changed={}) == (d, d)
    assert analytics_range(TREND, d, d, latest=d + dt.timedelta(days=30), changed={}) == (
        d, d + dt.timedelta(days=2))
    # A table reading another windowed table carries that table's reach forward.
    other = dt.date(2026, 3, 12)
    upstream = Table("toy_up", ("day",), "", ("toy_requests_3d",), requests_3d, window_days=2)
    assert analytics_range(upstream, d, d, latest=d + dt.timedelta(days=30),
                           changed={"toy_requests_3d": (d, other)}) == (
        d, other + dt.timedelta(days=1))
    # A table whose rows wait for later outcomes is rebuilt that far back, and so is one that
    # reads it.
    late = Table("toy_late", ("day",), "", ("toy_requests_3d",), requests_3d, outcome_days=5)
    assert analytics_range(late, d, d, latest=d, changed={}) == (d - dt.timedelta(days=5), d)
    after_late = Table("toy_after", ("day",), "", ("toy_late",), requests_3d, window_days=2)
    assert analytics_range(after_late, d, d, latest=d + dt.timedelta(days=30),
                           changed={"toy_late": (d - dt.timedelta(days=5), d)}) == (
        d - dt.timedelta(days=5), d + dt.timedelta(days=1))


def run_spans(requests: pl.DataFrame) -> pl.DataFrame:
    """One row per run with the span of its requests: a table without a `day` column."""
    return requests.group_by("repo", "run_id").agg(
        pl.col("timestamp").min().alias("first_request"),
        pl.col("timestamp").max().alias("last_request"),
        pl.len().cast(pl.Int64).alias("requests"))


SPANS = Table("toy_run_spans", ("repo", "run_id"), "Runs with their request span (test).",
              ("llm_requests",), run_spans, replace_key=("repo", "run_id"), details=True)


def test_a_table_without_day_is_replaced_by_its_key(tmp_path: Path):
    root = tmp_path / "data"
    land(root, DAYS[0], 1, 2)
    land(root, DAYS[1], 2, 3)
    run(root, DAYS[0], DAYS[1])
    paths = DataPaths(root)
    registered = (*TABLES, SPANS)
    for _ in range(2):  # loading twice changes nothing
        with open_for_update(paths, registered) as con:
            load_lake_days(con, paths, DAYS[:2], [SPANS])
    assert sql(root, "SELECT run_id, requests FROM toy_run_spans ORDER BY run_id").rows() == [
        (1, 2), (2, 3)]
    assert not SPANS.daily
    # Day 2 is re-run without its run: the key it loaded before is emptied, day 1's kept.
    land(root, DAYS[1], 3, 1)
    shutil.rmtree(root / "landing" / "gh-aw-logs" / "run-2")
    run(root, DAYS[1], DAYS[1])
    with open_for_update(paths, registered) as con:
        load_lake_days(con, paths, [DAYS[1]], [SPANS])
    assert sql(root, "SELECT run_id, requests FROM toy_run_spans ORDER BY run_id").rows() == [
        (1, 2), (3, 1)]
    # The day loads leave per-request details unread unless a table asks for them; one that
    # reads them without asking is told how to ask.
    undeclared = dataclasses.replace(SPANS, details=False)
    with (pytest.raises(ValueError, match=r"details=True"),
          open_for_update(paths, (*TABLES, undeclared)) as con):
        load_lake_days(con, paths, [DAYS[1]], [undeclared])


def test_rows_outside_the_load_roll_the_whole_load_back(tmp_path: Path):
    root = tmp_path / "data"
    land(root, DAYS[0], 1, 1)
    run(root, DAYS[0], DAYS[0])
    paths = DataPaths(root)
    kpi_table = next(t for t in TABLES if t.name == "kpi_workflow_daily")
    before = sql(root, "SELECT * FROM kpi_workflow_daily").rows()
    rows = sql(root, "SELECT * FROM kpi_workflow_daily")
    with pytest.raises(ValueError, match="another day"), open_for_update(paths) as con:
        con.execute("BEGIN TRANSACTION")
        replace_rows(con, kpi_table, rows, pl.DataFrame({"day": [DAYS[1]]}))
    assert sql(root, "SELECT * FROM kpi_workflow_daily").rows() == before
