"""Writing the warehouse without ever blocking or confusing a reader.

DuckDB allows one writer process, and while a file is open read-write no other process can
open it, not even read-only. So the pipeline never opens the published file for writing: it
copies it to a staging path, loads the days there, checkpoints, and atomically renames the
copy over the published file. A reader that has the old file open keeps reading the old
(complete) inode; the next reader opens the new one. A crash at any point leaves the published
file untouched. An exclusive lock file serializes writers across processes.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from finops_pipeline.lake import DataPaths
from finops_pipeline.warehouse.tables import create_statements, polars_to_duckdb, tables
from finops_pipeline.warehouse.views import view_statements


class WarehouseBusy(RuntimeError):
    """Another process is writing the warehouse."""


@contextmanager
def _writer_lock(paths: DataPaths, wait: bool) -> Iterator[None]:
    paths.warehouse_dir.mkdir(parents=True, exist_ok=True)
    with open(paths.warehouse_dir / ".writer.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise WarehouseBusy(f"another process is writing {paths.warehouse}") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create missing tables and views, and add columns a newer version introduced.

    Additive only: a warehouse built by an older version keeps its rows; days loaded before a
    column existed show it as null until they are re-materialized.
    """
    for statement in create_statements():
        con.execute(statement)
    for t in tables():
        existing = {r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
            [t.name]).fetchall()}
        for col, dtype in t.schema.items():
            if col not in existing:
                con.execute(f'ALTER TABLE {t.name} ADD COLUMN "{col}" {polars_to_duckdb(dtype)}')
    for statement in view_statements():
        con.execute(statement)


@contextmanager
def open_for_update(paths: DataPaths, wait: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection to a private copy, published atomically on success."""
    with _writer_lock(paths, wait):
        paths.staging.mkdir(parents=True, exist_ok=True)
        building = paths.staging / "finops.duckdb.building"
        for leftover in (building, building.with_name(building.name + ".wal")):
            leftover.unlink(missing_ok=True)
        if paths.warehouse.is_file():
            shutil.copy2(paths.warehouse, building)
        try:
            con = duckdb.connect(str(building))
            try:
                ensure_schema(con)
                yield con
                con.execute("CHECKPOINT")
            finally:
                con.close()
            with open(building, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(building, paths.warehouse)
        finally:
            for leftover in (building, building.with_name(building.name + ".wal")):
                leftover.unlink(missing_ok=True)
