"""Warehouse writes: whole-day replacement, atomic publish, readers never blocked."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import polars as pl
import pytest

from finops_pipeline.lake import DataPaths
from finops_pipeline.schemas.datasets import INGEST_LOG_SCHEMA
from finops_pipeline.warehouse.load import replace_day
from finops_pipeline.warehouse.publish import WarehouseBusy, _writer_lock, open_for_update

D1, D2 = dt.date(2026, 3, 1), dt.date(2026, 3, 2)


def ingest_rows(day: dt.date, n: int) -> pl.DataFrame:
    return pl.DataFrame(
        [{"day": day, "dataset": "llm_requests", "source": f"s{i}", "rows_in": i, "rows_valid": i,
          "rows_quarantined": 0, "rows_duplicate": 0, "files": 1, "runs_skipped": 0,
          "skip_reasons": "{}"} for i in range(n)],
        schema=INGEST_LOG_SCHEMA,
    )


def count(paths: DataPaths, day: dt.date) -> int:
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        return con.execute("SELECT count(*) FROM ingest_log WHERE day = ?", [day]).fetchone()[0]


def test_replace_day_replaces_only_that_day(tmp_path: Path):
    paths = DataPaths(tmp_path)
    with open_for_update(paths) as con:
        replace_day(con, D1, {"ingest_log": ingest_rows(D1, 3)})
        replace_day(con, D2, {"ingest_log": ingest_rows(D2, 2)})
    with open_for_update(paths) as con:
        replace_day(con, D1, {"ingest_log": ingest_rows(D1, 1)})
        replace_day(con, D1, {"ingest_log": ingest_rows(D1, 1)})
    assert (count(paths, D1), count(paths, D2)) == (1, 2)


def test_load_with_rows_of_another_day_rolls_back(tmp_path: Path):
    paths = DataPaths(tmp_path)
    with open_for_update(paths) as con:
        replace_day(con, D1, {"ingest_log": ingest_rows(D1, 3)})
    with pytest.raises(ValueError, match="another day"), open_for_update(paths) as con:
        replace_day(con, D1, {"ingest_log": ingest_rows(D2, 1)})
    assert count(paths, D1) == 3
    assert not list(paths.staging.glob("finops.duckdb*"))


def test_second_writer_is_refused_when_not_waiting(tmp_path: Path):
    paths = DataPaths(tmp_path)
    with (_writer_lock(paths, wait=True), pytest.raises(WarehouseBusy),
          open_for_update(paths, wait=False)):
        pass


READER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from finops_pipeline.warehouse.access import query
    path, seconds = Path(sys.argv[1]), float(sys.argv[2])
    end, ok, errors = time.monotonic() + seconds, 0, []
    while time.monotonic() < end:
        try:
            # One statement, one snapshot: `finops sql` reads exactly like this.
            n, days = query(path, "SELECT count(*), count(DISTINCT day) FROM ingest_log").row(0)
            # A half-loaded state would show a row count that is not whole days.
            assert n == days * 50, (n, days)
            ok += 1
        except Exception as exc:
            errors.append(repr(exc))
    print(ok, len(errors), errors[:3])
""")


def test_reader_process_never_fails_during_writes(tmp_path: Path):
    paths = DataPaths(tmp_path)
    with open_for_update(paths) as con:
        replace_day(con, D1, {"ingest_log": ingest_rows(D1, 50)})
    reader = subprocess.Popen([sys.executable, "-c", READER, str(paths.warehouse), "4"],
                              stdout=subprocess.PIPE, text=True)
    writes = 0
    while reader.poll() is None:
        for day in (D1, D2, dt.date(2026, 3, 3)):
            with open_for_update(paths) as con:  # the writer never waits for the reader
                replace_day(con, day, {"ingest_log": ingest_rows(day, 50)})
            writes += 1
    out, _ = reader.communicate(timeout=30)
    ok, n_errors, errors = out.split(" ", 2)
    assert int(n_errors) == 0, errors
    assert int(ok) > 0 and writes > 0


def test_an_older_warehouse_gains_new_columns_and_keeps_its_rows(tmp_path: Path):
    paths = DataPaths(tmp_path)
    paths.warehouse_dir.mkdir(parents=True)
    with duckdb.connect(str(paths.warehouse)) as con:  # as an older version left it
        con.execute("CREATE TABLE ingest_log (day DATE, dataset VARCHAR, source VARCHAR, "
                    "rows_in BIGINT)")
        con.execute("INSERT INTO ingest_log VALUES ('2026-02-01', 'llm_requests', 'x', 7)")
    with open_for_update(paths) as con:
        replace_day(con, D1, {"ingest_log": ingest_rows(D1, 2)})
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        rows = con.execute("SELECT day, rows_in, rows_valid FROM ingest_log ORDER BY day, "
                           "rows_in").fetchall()
    assert rows == [(dt.date(2026, 2, 1), 7, None), (D1, 0, 0), (D1, 1, 1)]


def test_a_read_racing_a_publish_is_retried(tmp_path: Path, monkeypatch):
    from finops_pipeline.warehouse import access

    paths = DataPaths(tmp_path)
    with open_for_update(paths) as con:
        replace_day(con, D1, {"ingest_log": ingest_rows(D1, 3)})
    real, calls = duckdb.connect, {"n": 0}

    def racing_connect(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:  # what a reader sees when it opens during the rename
            raise duckdb.IOException("Could not read enough bytes from file")
        return real(*args, **kwargs)

    monkeypatch.setattr(access.duckdb, "connect", racing_connect)
    monkeypatch.setattr(access, "RETRY_SECONDS", 0.0)
    assert access.query(paths.warehouse, "SELECT count(*) AS n FROM ingest_log")["n"][0] == 3
    assert calls["n"] == 2
    monkeypatch.setattr(access.duckdb, "connect", lambda *a, **k: (_ for _ in ()).throw(
        duckdb.IOException("disk on fire")))
    with pytest.raises(duckdb.IOException, match="disk on fire"):
        access.query(paths.warehouse, "SELECT 1")


def test_lake_days_load_in_batches_that_replace_only_their_days(tmp_path: Path, monkeypatch):
    """Daily tables are replaced a batch of days at a time: batch borders change nothing, and a
    reload of some days leaves the others alone."""
    import finops_pipeline.warehouse.load as load
    from finops_pipeline.lake import write_parquet_atomic
    from finops_pipeline.warehouse.tables import table

    paths = DataPaths(tmp_path)
    days = [D1 + dt.timedelta(days=n) for n in range(5)]
    for n, day in enumerate(days):
        write_parquet_atomic(paths, ingest_rows(day, n + 1), paths.lake_file("ingest_log", day))
    monkeypatch.setattr(load, "BATCH_DAYS", 2)
    with open_for_update(paths) as con:
        report = load.load_lake_days(con, paths, days, [table("ingest_log")])
    assert [r["ingest_log"] for r in report] == [1, 2, 3, 4, 5]
    assert [count(paths, d) for d in days] == [1, 2, 3, 4, 5]
    for day in days[1:4]:  # those days now have one row each
        write_parquet_atomic(paths, ingest_rows(day, 1), paths.lake_file("ingest_log", day))
    with open_for_update(paths) as con:
        load.load_lake_days(con, paths, days[1:4], [table("ingest_log")])
    assert [count(paths, d) for d in days] == [1, 1, 1, 1, 5]
