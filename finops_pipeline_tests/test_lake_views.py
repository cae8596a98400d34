"""The large facts as views over pinned lake files: O(day) publishes, whole-day snapshots."""

from __future__ import annotations

import datetime as dt
import shutil
import warnings
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from finops_pipeline.defs.assets.lake import lake
from finops_pipeline.defs.assets.sources import SOURCE_ASSETS
from finops_pipeline.defs.resources import FinopsConfig, GitHubResource
from finops_pipeline.lake import DataPaths
from finops_pipeline.warehouse import lake_views
from finops_pipeline.warehouse.load import load_lake_days
from finops_pipeline.warehouse.publish import open_for_update
from finops_pipeline.warehouse.tables import polars_to_duckdb, table
from finops_pipeline_tests.test_pipeline_e2e import (  # noqa: F401
    D1,
    D2,
    D3,
    data_dir,
    land_run,
    materialize,
    record,
    sql,
)

warnings.filterwarnings("ignore", category=dg.BetaWarning)


def facts_and_kpis(root: Path) -> tuple[int, int]:
    return sql(root, "SELECT (SELECT count(*) FROM fact_llm_requests), "
                     "(SELECT sum(requests) FROM kpi_workflow_daily)").row(0)


def pinned_files(root: Path) -> list[Path]:
    """The request facts' pins (agent calls, another lake view, are pinned beside them)."""
    return sorted((root / "warehouse" / "lake" / "llm_requests").rglob("*.parquet"))


def test_the_fact_view_lists_only_pinned_files_and_copies_no_rows(data_dir: Path):  # noqa: F811
    materialize(data_dir, D1, D3)
    with duckdb.connect(str(DataPaths(data_dir).warehouse), read_only=True) as con:
        kind = con.execute("SELECT table_type FROM information_schema.tables "
                           "WHERE table_name = 'fact_llm_requests'").fetchone()[0]
        definition = con.execute("SELECT sql FROM duckdb_views() "
                                 "WHERE view_name = 'fact_llm_requests'").fetchone()[0]
        manifest = con.execute("SELECT dataset, day FROM meta.lake_files WHERE retired_at IS "
                               "NULL AND dataset = 'llm_requests' ORDER BY day").fetchall()
    assert kind == "VIEW"
    assert "warehouse/lake/llm_requests/day=2026-03-01/" in definition
    assert "lake/llm_requests/day=*" not in definition  # never the live lake files
    assert manifest == [("llm_requests", D1 + dt.timedelta(days=i)) for i in range(3)]
    # Pinned by hard link: the same bytes on disk once, not a copy.
    lake_file = DataPaths(data_dir).lake_file("llm_requests", D1)
    assert any(p.stat().st_ino == lake_file.stat().st_ino for p in pinned_files(data_dir))
    assert facts_and_kpis(data_dir) == (4, 4)


def test_facts_stay_with_the_published_kpis_while_the_lake_is_rewritten(
        data_dir: Path):  # noqa: F811
    materialize(data_dir, D1, D1)
    assert facts_and_kpis(data_dir) == (2, 2)
    land_run(data_dir / "landing" / "gh-aw-logs", 9, "2026-03-01T12:00:00Z", "New", "acme/x",
             [record("z1"), record("z2")])
    # Sources and lake only, as in the middle of a run: the lake file of D1 is replaced ...
    result = dg.materialize(
        [*SOURCE_ASSETS, lake], partition_key=D1.isoformat(),
        instance=dg.DagsterInstance.ephemeral(),
        resources={"finops": FinopsConfig(data_dir=str(data_dir)), "github": GitHubResource()})
    assert result.success
    assert pl.read_parquet(DataPaths(data_dir).lake_file("llm_requests", D1)).height == 4
    # ... but a reader still sees the published day: facts and KPIs of the same load.
    assert facts_and_kpis(data_dir) == (2, 2)
    materialize(data_dir, D1, D1)
    assert facts_and_kpis(data_dir) == (4, 4)
    # The replaced pin is retired, not deleted: a reader of the previous file still finds it.
    with duckdb.connect(str(DataPaths(data_dir).warehouse), read_only=True) as con:
        retired = con.execute("SELECT file FROM meta.lake_files "
                              "WHERE retired_at IS NOT NULL AND dataset = 'llm_requests'"
                              ).fetchall()
    assert len(retired) == 1 and (data_dir / retired[0][0]).is_file()


def test_retired_and_orphaned_pins_are_collected_after_the_grace_period(
        data_dir: Path):  # noqa: F811
    materialize(data_dir, D1, D1)
    land_run(data_dir / "landing" / "gh-aw-logs", 9, "2026-03-01T12:00:00Z", "New", "acme/x",
             [record("z1")])
    materialize(data_dir, D1, D1)
    paths = DataPaths(data_dir)
    assert len(pinned_files(data_dir)) == 2  # the current pin and the retired one
    orphan = pinned_files(data_dir)[0].with_name("1-2.parquet")  # a crashed run's leftover
    orphan.write_bytes(b"PAR1")
    later = dt.datetime.now(dt.UTC) + lake_views.RETIRED_GRACE + dt.timedelta(minutes=1)
    with open_for_update(paths) as con:
        unreferenced = lake_views.collect_garbage(con, paths, later)
        # the retired request pin and the orphan (and the day's retired agent-call pin)
        assert len([p for p in unreferenced if "llm_requests" in str(p)]) == 2
        assert len(pinned_files(data_dir)) == 3  # nothing deleted before the publish
    assert pinned_files(data_dir) == [p for p in pinned_files(data_dir)
                                      if p not in unreferenced]  # deleted once published
    assert len(pinned_files(data_dir)) == 1
    assert facts_and_kpis(data_dir) == (3, 3)


def test_a_lake_file_that_comes_back_is_never_collected_while_pinned(
        data_dir: Path, tmp_path: Path):  # noqa: F811
    materialize(data_dir, D1, D1)
    paths = DataPaths(data_dir)
    lake_file = paths.lake_file("llm_requests", D1)
    kept = tmp_path / "kept.parquet"
    lake_file.rename(kept)  # the day's lake file disappears: the next load unpins the day
    with open_for_update(paths) as con:
        load_lake_days(con, paths, [D1])
    kept.rename(lake_file)  # ... and comes back, same inode and mtime: the same pin name
    with open_for_update(paths) as con:
        load_lake_days(con, paths, [D1])
    later = dt.datetime.now(dt.UTC) + 2 * lake_views.RETIRED_GRACE
    with open_for_update(paths) as con:  # the retired row of that name is old enough to go
        assert lake_views.collect_garbage(con, paths, later) == []
    assert facts_and_kpis(data_dir) == (2, 2)


def test_the_kpis_are_built_from_the_pinned_file(data_dir: Path):  # noqa: F811
    materialize(data_dir, D1, D1)
    paths = DataPaths(data_dir)
    real_pin = lake_views.pin_day

    def pin_then_lake_rewrites(con, paths_, dataset, day, now):
        pinned = real_pin(con, paths_, dataset, day, now)
        # Another run's lake stage replaces the file right after the pin.
        lake_file = paths_.lake_file(dataset, day)
        pl.read_parquet(lake_file).head(1).write_parquet(lake_file.with_suffix(".new"))
        lake_file.with_suffix(".new").replace(lake_file)
        return pinned

    import finops_pipeline.warehouse.load as load

    load.pin_day = pin_then_lake_rewrites
    try:
        with open_for_update(paths) as con:
            load_lake_days(con, paths, [D1])
    finally:
        load.pin_day = real_pin
    assert facts_and_kpis(data_dir) == (2, 2)  # the KPIs of the pinned rows, not of the new


def test_a_warehouse_that_stored_the_fact_as_a_table_is_upgraded_and_shrinks(
        data_dir: Path):  # noqa: F811
    materialize(data_dir, D1, D3)
    paths = DataPaths(data_dir)
    with duckdb.connect(str(paths.warehouse)) as con:  # as the previous version left it
        con.execute("CREATE TABLE old_rows AS SELECT * FROM fact_llm_requests")
        con.execute("DROP VIEW fact_llm_requests")
        con.execute("DROP TABLE meta.lake_files")
        con.execute("CREATE TABLE fact_llm_requests AS SELECT * FROM old_rows")
        con.execute("DROP TABLE old_rows")
        # Enough rows to make the file visibly larger, as a year of requests would.
        con.execute("INSERT INTO fact_llm_requests SELECT f.* REPLACE (f.day + 400 AS day, "
                    "md5(r.range::VARCHAR) || f.request_id AS request_id) "
                    "FROM fact_llm_requests f, range(50000) r")
        con.execute("CHECKPOINT")
    big = paths.warehouse.stat().st_size
    assert big > 8e6
    materialize(data_dir, D3, D3)
    assert paths.warehouse.stat().st_size < big / 2
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        kind = con.execute("SELECT table_type FROM information_schema.tables "
                           "WHERE table_name = 'fact_llm_requests'").fetchone()[0]
        days = con.execute("SELECT day, count(*) FROM fact_llm_requests GROUP BY ALL "
                           "ORDER BY ALL").fetchall()
    assert kind == "VIEW"
    assert days == [(D1, 2), (D1 + dt.timedelta(days=1), 1), (D3, 1)]  # every lake day pinned


def registry_types(name: str) -> list[tuple[str, str]]:
    """(column, DuckDB type as DESCRIBE spells it) of a registry table, in order."""
    cols = ", ".join(f'"{c}" {polars_to_duckdb(d)}' for c, d in table(name).schema.items())
    with duckdb.connect() as con:
        con.execute(f"CREATE TABLE t ({cols})")
        return [(c, t) for c, t, *_ in con.execute("DESCRIBE t").fetchall()]


def test_the_fact_views_keep_the_registry_columns_and_each_files_day(
        data_dir: Path):  # noqa: F811
    materialize(data_dir, D1, D3)
    paths = DataPaths(data_dir)
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        for name in ("fact_llm_requests", "fact_agent_calls"):
            described = [(c, t) for c, t, *_ in con.execute(f"DESCRIBE {name}").fetchall()]
            assert described == registry_types(name), name
        shown = con.execute("SELECT day, request_id FROM fact_llm_requests ORDER BY ALL"
                            ).fetchall()
    # `day` is read from the pinned day folders: the same values the files carry.
    written = pl.concat([pl.read_parquet(paths.lake_file("llm_requests", D1 + dt.timedelta(d)))
                         for d in range(3)]).select("day", "request_id").sort("day", "request_id")
    assert shown == written.rows()


def test_a_day_filter_and_run_requests_open_only_that_days_file(data_dir: Path):  # noqa: F811
    materialize(data_dir, D1, D3)
    # Replace the pins of D2 and D3 by garbage (unlinked first: the lake files stay): a query
    # that opens any of them fails, so the queries below pass only if the view skips them.
    later = [p for p in pinned_files(data_dir) if f"day={D1}" not in str(p)]
    assert len(later) == 2
    for pin in later:
        pin.unlink()
        pin.write_bytes(b"not a parquet file")
    with duckdb.connect(str(DataPaths(data_dir).warehouse), read_only=True) as con:
        def rows(query: str, params: list | None = None) -> list[tuple]:
            return con.execute(query, params).fetchall()

        with pytest.raises(duckdb.Error):  # the test's premise: every file is needed here
            rows("SELECT count(*) FROM fact_llm_requests")
        assert rows("SELECT count(*) FROM fact_llm_requests WHERE day = ?", [D1]) == [(2,)]
        assert rows("SELECT count(*) FROM fact_llm_requests WHERE day BETWEEN ? AND ?",
                    [D1 - dt.timedelta(days=9), D1]) == [(2,)]
        # A day known only when the query runs (a subquery) prunes too ...
        assert rows("SELECT count(*) FROM fact_llm_requests "
                    "WHERE day = (SELECT min(day) FROM fact_workflow_runs)") == [(2,)]
        # ... so one run's requests need no day: the documented pattern and the macro.
        assert rows("SELECT request_id FROM fact_llm_requests WHERE run_id = $1 AND day IN "
                    "(SELECT day FROM fact_workflow_runs WHERE run_id = $1) ORDER BY 1",
                    [1]) == [("a1",), ("a2",)]
        assert rows("SELECT request_id FROM run_requests(1)") == [("a1",), ("a2",)]


def test_run_requests_returns_the_runs_requests_in_order(data_dir: Path):  # noqa: F811
    materialize(data_dir, D1, D3)
    with duckdb.connect(str(DataPaths(data_dir).warehouse), read_only=True) as con:
        for run_id in (1, 2, 3, 4, 99):  # 3 had no token data; 99 does not exist
            expected = con.execute("SELECT * FROM fact_llm_requests WHERE run_id = ? "
                                   "ORDER BY timestamp, request_id", [run_id]).fetchall()
            assert con.execute("SELECT * FROM run_requests(?)", [run_id]).fetchall() == expected
            assert len(expected) == {1: 2, 2: 1, 3: 0, 4: 1, 99: 0}[run_id]


def test_a_data_dir_below_a_day_folder_reads_day_from_the_files(
        data_dir: Path, tmp_path: Path):  # noqa: F811
    # A folder `day=...` above the data dir would be a second hive `day` to DuckDB: the view
    # falls back to the files' own day column (correct, without file skipping).
    moved = tmp_path / "day=backup" / "data"
    moved.parent.mkdir()
    shutil.move(data_dir, moved)
    materialize(moved, D1, D3)
    assert facts_and_kpis(moved) == (4, 4)
    assert sql(moved, f"SELECT count(*) FROM fact_llm_requests WHERE day = DATE '{D1}'"
               ).item() == 2
    pin = Path("warehouse") / "lake" / "llm_requests" / f"day={D1}" / "1-2.parquet"
    assert not lake_views.day_folders_only([moved / pin])
    assert lake_views.day_folders_only([tmp_path / "env=prod" / "data" / pin])


def test_files_of_two_schemas_are_both_read_and_skipped_by_day(tmp_path: Path):
    # Pinned files from before and after a column was added to the dataset.
    paths, t = DataPaths(tmp_path), table("fact_llm_requests")
    with duckdb.connect() as con:
        lake_views.ensure_manifest(con)
        files = {}
        for day, frame in ((D1, {"request_id": ["r1"]}), (D2, {"request_id": ["r2"]}),
                           (D3, {"request_id": ["r3"], "model": ["m"]})):
            files[day] = paths.warehouse_dir / "lake" / "llm_requests" / f"day={day}" / "1.parquet"
            files[day].parent.mkdir(parents=True)
            pl.DataFrame({"day": [day], **frame}).write_parquet(files[day])
            con.execute(f"INSERT INTO {lake_views.MANIFEST} VALUES ('llm_requests', ?, ?, now(), "
                        "NULL)", [day, str(files[day].relative_to(tmp_path))])
        con.execute(f"CREATE VIEW v AS {lake_views.view_sql(con, t, paths)}")
        assert [(c, ty) for c, ty, *_ in con.execute("DESCRIBE v").fetchall()] == \
            registry_types(t.name)
        assert con.execute("SELECT day, request_id, model FROM v ORDER BY day").fetchall() == [
            (D1, "r1", None), (D2, "r2", None), (D3, "r3", "m")]
        # Each schema is read on its own (binding opens the first file of each), so a day
        # filter skips the other files: reading them by name would open every file's footer on
        # every query.
        files[D2].unlink()
        files[D2].write_bytes(b"not a parquet file")
        for day in (D1, D3):
            assert con.execute("SELECT request_id FROM v WHERE day = ?", [day]).fetchall() == [
                (f"r{day.day}",)]
        assert con.execute("SELECT model FROM v WHERE day IN (SELECT max(day) FROM v "
                           "WHERE day > ?)", [D2]).fetchall() == [("m",)]
