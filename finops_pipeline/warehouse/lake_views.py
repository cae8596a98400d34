"""Large facts as views over pinned lake files: O(day) publishes, readers still see whole days.

Copying a large fact into the DuckDB file on every publish made a publish cost O(warehouse).
Instead, a `lake_view` table is a view over the lake's Parquet day files. But a view over
`lake/<dataset>/day=*/data.parquet` itself would change the moment the lake stage rewrites a
day, before the warehouse stage publishes that day's KPIs: a reader could see new requests next
to old KPIs. So each publish *pins* the day files it loaded:

* the day's lake file is hard-linked (copied where links are impossible) to
  `warehouse/lake/<dataset>/day=D/<inode>-<mtime>.parquet`: no bytes are copied, and since the
  lake never writes into an existing file (it renames a new one into place), the pinned file
  keeps exactly the bytes that were loaded;
* the manifest `meta.lake_files` (inside the DuckDB file) records which pinned file is
  current for each day, and the view lists exactly those files.

The manifest and the view are part of the DuckDB file, so they change with the same atomic
rename as every other table: a reader's fact rows always match its KPIs. A pinned file that a
publish replaced is *retired*, not deleted, and removed only `RETIRED_GRACE` later, so a reader
that opened the previous warehouse keeps finding its files while it finishes its queries.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import duckdb

from finops_pipeline.lake import DataPaths
from finops_pipeline.warehouse.tables import Table, polars_to_duckdb

MANIFEST = "meta.lake_files"
# How long a replaced pinned file outlives the publish that retired it: long enough for any
# query that started on the previous warehouse; the next publish after that removes it.
RETIRED_GRACE = dt.timedelta(hours=1)


def ensure_manifest(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS meta")
    con.execute(f"""CREATE TABLE IF NOT EXISTS {MANIFEST} (
        dataset VARCHAR NOT NULL, day DATE NOT NULL,
        file VARCHAR NOT NULL,              -- relative to the data dir
        pinned_at TIMESTAMPTZ NOT NULL,
        retired_at TIMESTAMPTZ)             -- null: the day's current file""")
    con.execute(f"COMMENT ON TABLE {MANIFEST} IS 'Which pinned lake file each lake view reads "
                "for each day (warehouse/lake_views.py). Internal.'")


def _pinned_path(paths: DataPaths, dataset: str, day: dt.date, st: os.stat_result) -> Path:
    return (paths.warehouse_dir / "lake" / dataset / f"day={day.isoformat()}"
            / f"{st.st_ino}-{st.st_mtime_ns}.parquet")


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:  # another file system, or one without hard links: copy the day
        shutil.copy2(source, tmp)
    os.replace(tmp, target)


def pin_day(con: duckdb.DuckDBPyConnection, paths: DataPaths, dataset: str,
            day: dt.date, now: dt.datetime) -> None:
    """Make the day's current lake file the one the view reads (inside the load transaction).

    No lake file (a day nothing was ever written for) unpins the day.
    """
    lake_file = paths.lake_file(dataset, day)
    # fetchall, not fetchone: DuckDB keeps a half-read result open, which blocks the
    # connection's next register().
    current = next(iter(con.execute(f"SELECT file FROM {MANIFEST} WHERE dataset = ? AND "
                                    "day = ? AND retired_at IS NULL",
                                    [dataset, day]).fetchall()), None)
    target = None
    if lake_file.is_file():
        target = _pinned_path(paths, dataset, day, lake_file.stat())
        if current and current[0] == str(target.relative_to(paths.root)):
            return  # the lake file has not changed since it was pinned
        if not target.is_file():
            _link(lake_file, target)
    con.execute(f"UPDATE {MANIFEST} SET retired_at = ? WHERE dataset = ? AND day = ? "
                "AND retired_at IS NULL", [now, dataset, day])
    if target is not None:
        con.execute(f"INSERT INTO {MANIFEST} VALUES (?, ?, ?, ?, NULL)",
                    [dataset, day, str(target.relative_to(paths.root)), now])


def pin_all_days(con: duckdb.DuckDBPyConnection, paths: DataPaths, dataset: str,
                 now: dt.datetime) -> int:
    """Pin every day the lake holds (a warehouse that stored the fact as a table upgrades)."""
    days = sorted(dt.date.fromisoformat(p.parent.name.removeprefix("day="))
                  for p in (paths.root / "lake" / dataset).glob("day=*/data.parquet"))
    for day in days:
        pin_day(con, paths, dataset, day, now)
    return len(days)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def view_sql(con: duckdb.DuckDBPyConnection, t: Table, paths: DataPaths) -> str:
    """The view of a lake_view table over its pinned files, every registry column typed.

    Files written before a column existed lack it: when the files' schemas differ they are read
    by name (nulls where missing), and a column no file has yet is a typed NULL.
    """
    (dataset,) = t.reads
    files = [str(paths.root / f) for (f,) in con.execute(
        f"SELECT file FROM {MANIFEST} WHERE dataset = ? AND retired_at IS NULL ORDER BY day",
        [dataset]).fetchall()]
    present: set[str] = set()
    uniform = True
    if files:
        listed = "[" + ", ".join(_quote(f) for f in files) + "]"
        schemas = con.execute(
            f"SELECT file_name, list(name ORDER BY name) FROM parquet_schema({listed}) "
            "WHERE num_children IS NULL OR num_children = 0 GROUP BY file_name").fetchall()
        present = {c for _, cols in schemas for c in cols}
        uniform = len({tuple(cols) for _, cols in schemas}) <= 1
    columns = ", ".join(
        f'CAST("{c}" AS {polars_to_duckdb(d)}) AS "{c}"' if c in present
        else f'CAST(NULL AS {polars_to_duckdb(d)}) AS "{c}"'
        for c, d in t.schema.items())
    if not files:
        return f"SELECT {columns} WHERE false"
    # Reading by name costs every file's footer on every query: only when schemas differ.
    by_name = "" if uniform else ", union_by_name = true"
    return (f"SELECT {columns} FROM read_parquet({listed}, hive_partitioning = false"
            f"{by_name})")


def collect_garbage(con: duckdb.DuckDBPyConnection, paths: DataPaths,
                    now: dt.datetime) -> int:
    """Delete pinned files retired more than RETIRED_GRACE ago, and pinned files no manifest
    row knows (left by a run that crashed before it published). Returns files deleted."""
    cutoff = now - RETIRED_GRACE
    old = con.execute(f"SELECT file FROM {MANIFEST} WHERE retired_at < ?", [cutoff]).fetchall()
    con.execute(f"DELETE FROM {MANIFEST} WHERE retired_at < ?", [cutoff])
    known = {f for (f,) in con.execute(f"SELECT file FROM {MANIFEST}").fetchall()}
    pinned_root = paths.warehouse_dir / "lake"
    on_disk = ({str(p.relative_to(paths.root)) for p in pinned_root.rglob("*.parquet")}
               if pinned_root.is_dir() else set())
    doomed = {f for (f,) in old} | (on_disk - known)
    for f in doomed:
        (paths.root / f).unlink(missing_ok=True)
    return len(doomed & on_disk)

