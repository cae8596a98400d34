"""Writing the warehouse without ever blocking or confusing a reader.

DuckDB allows one writer process, and while a file is open read-write no other process can
open it, not even read-only. So the pipeline never opens the published file for writing: it
copies it to a staging path, loads the days there, checkpoints, and atomically renames the
copy over the published file. A reader that has the old file open keeps reading the old
(complete) inode; the next reader opens the new one. A crash at any point leaves the published
file untouched. An exclusive lock file serializes writers across processes.

The copy is what keeps this cheap only while the file is small: the large facts are views over
the lake (warehouse/schema.py), so the file holds runs, pull requests and the daily and
analytics tables, and a publish costs O(day) work plus a copy of megabytes.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import duckdb

from finops_pipeline.lake import DataPaths, fsync_dir
from finops_pipeline.warehouse import lake_views
from finops_pipeline.warehouse.schema import ensure_schema, refresh_lake_views
from finops_pipeline.warehouse.tables import Table, tables


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


@contextmanager
def open_for_update(paths: DataPaths, registered: Sequence[Table] | None = None,
                    wait: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection to a private copy, published atomically on success.

    Args:
        registered: the tables to create or migrate (the registry's by default).
        wait: wait for another writer to finish (else raise WarehouseBusy).
    """
    registered = tuple(registered) if registered is not None else tables()
    with _writer_lock(paths, wait):
        paths.staging.mkdir(parents=True, exist_ok=True)
        building = paths.staging / "finops.duckdb.building"
        for leftover in (building, building.with_name(building.name + ".wal")):
            leftover.unlink(missing_ok=True)
        if paths.warehouse.is_file():
            shutil.copy2(paths.warehouse, building)
        compacted = building.with_name("finops.duckdb.compacted")
        try:
            con = duckdb.connect(str(building))
            try:
                started = dt.datetime.now(dt.UTC)
                dropped = ensure_schema(con, paths, started, registered)
                yield con
                # The loads pinned new lake files: point the views at them, forget old pins,
                # date this run's retirements at its publish, make the new pins durable.
                refresh_lake_views(con, paths, registered)
                unreferenced = lake_views.collect_garbage(con, paths, started)
                lake_views.stamp_retirements(con, started, dt.datetime.now(dt.UTC))
                lake_views.fsync_new_pins(con, paths, started)
                con.execute("CHECKPOINT")
            finally:
                con.close()
            if dropped:
                # DuckDB never returns a dropped table's blocks to the file system: rewrite
                # the file once, so the copy made by every later publish stays small.
                _compact(building, compacted)
                os.replace(compacted, building)
            with open(building, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(building, paths.warehouse)
            # The rename itself must reach the disk, or a power cut could bring back the old
            # file (or none) after the run reported success.
            fsync_dir(paths.warehouse_dir)
            # Only now is the previous manifest no longer the published one.
            lake_views.delete_files(unreferenced)
        finally:
            for leftover in (building, building.with_name(building.name + ".wal"), compacted,
                             compacted.with_name(compacted.name + ".wal")):
                leftover.unlink(missing_ok=True)


def refresh_views(paths: DataPaths) -> None:
    """Publish the warehouse again with nothing loaded: its views and macros re-created by this
    version over the files already pinned (every materialization does this too). For a
    warehouse an older version published, e.g. to give it the day-pruning fact views."""
    with open_for_update(paths):
        pass


def _compact(source: os.PathLike, target: os.PathLike) -> None:
    """Copy every table and view of `source` into a new file `target`."""
    with duckdb.connect() as con:
        con.execute("ATTACH ? AS src (READ_ONLY)", [str(source)])
        con.execute("ATTACH ? AS dst", [str(target)])
        con.execute("COPY FROM DATABASE src TO dst")
        con.execute("DETACH dst")
