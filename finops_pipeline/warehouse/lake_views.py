"""Large facts as views over pinned lake files: O(day) publishes, readers still see whole days.

Copying a large fact into the DuckDB file on every publish made a publish cost O(warehouse).
Instead, a `lake_view` table is a view over the lake's Parquet day files. But a view over
`lake/<dataset>/day=*/data.parquet` itself would change the moment the lake stage rewrites a
day, before the warehouse stage publishes that day's KPIs: a reader could see new requests next
to old KPIs. So each publish *pins* the day files it loads:

* the day's lake file is hard-linked (copied where links are impossible) to
  `warehouse/lake/<dataset>/day=D/<inode>-<mtime>.parquet`: no bytes are copied, and since the
  lake never writes into an existing file (it renames a new one into place), the pinned file
  keeps exactly the bytes that were loaded. The KPIs of the day are built from the pinned file,
  so they describe exactly what the view shows;
* the manifest `meta.lake_files` (inside the DuckDB file) records which pinned file is
  current for each day, and the view lists exactly those files.

The manifest and the view are part of the DuckDB file, so they change with the same atomic
rename as every other table: a reader's fact rows always match its KPIs. A pinned file that a
publish replaced is *retired* (stamped with that publish's time), not deleted, and removed by
the first publish `RETIRED_GRACE` later, so a reader that opened the previous warehouse keeps
finding its files while it finishes its queries.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import shutil
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

import duckdb

from finops_pipeline.lake import DataPaths, fsync_dir
from finops_pipeline.warehouse.tables import Table, polars_to_duckdb

MANIFEST = "meta.lake_files"
# How long a replaced pinned file outlives the publish that retired it: long enough for any
# query that started on the previous warehouse; the next publish after that removes it.
RETIRED_GRACE = dt.timedelta(hours=1)
log = logging.getLogger(__name__)


class PinnedFileMissing(FileNotFoundError):
    """A file the manifest pins is gone from disk (deleted by hand?)."""


def sql_string(text: str | Path) -> str:
    """A SQL string literal (for file paths, which DuckDB's table functions take as constants)."""
    return "'" + str(text).replace("'", "''") + "'"


def ensure_manifest(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS meta")
    con.execute(f"""CREATE TABLE IF NOT EXISTS {MANIFEST} (
        dataset VARCHAR NOT NULL, day DATE NOT NULL,
        file VARCHAR NOT NULL,              -- relative to the data dir
        pinned_at TIMESTAMPTZ NOT NULL,
        retired_at TIMESTAMPTZ)             -- null: the day's current file""")
    con.execute(f"COMMENT ON TABLE {MANIFEST} IS 'Which pinned lake file each lake view reads "
                "for each day (warehouse/lake_views.py). Internal.'")


def _pinned_root(paths: DataPaths) -> Path:
    return paths.warehouse_dir / "lake"


def _current(con: duckdb.DuckDBPyConnection, dataset: str, day: dt.date) -> str | None:
    # fetchall, not fetchone: DuckDB keeps a half-read result open, which blocks the
    # connection's next register().
    rows = con.execute(f"SELECT file FROM {MANIFEST} WHERE dataset = ? AND day = ? "
                       "AND retired_at IS NULL", [dataset, day]).fetchall()
    return rows[0][0] if rows else None


def pin_day(con: duckdb.DuckDBPyConnection, paths: DataPaths, dataset: str,
            day: dt.date, now: dt.datetime) -> Path | None:
    """Pin the day's lake file for the view (inside the load transaction); return the pinned
    file, which is what the day's other tables must be built from. No lake file (a day nothing
    was ever written for) unpins the day and returns None."""
    lake_file = paths.lake_file(dataset, day)
    current = _current(con, dataset, day)
    folder = _pinned_root(paths) / dataset / f"day={day.isoformat()}"
    staged: Path | None = folder / f".pin-{uuid.uuid4().hex}.tmp"
    if lake_file.is_file():
        folder.mkdir(parents=True, exist_ok=True)
    try:
        os.link(lake_file, staged)
    except FileNotFoundError:
        staged = None
    except OSError:  # another file system, or one without hard links: copy the day
        shutil.copy2(lake_file, staged)
        with open(staged, "rb") as fh:
            os.fsync(fh.fileno())
    target = None
    if staged is not None:
        # Named after what was linked, so a lake file replaced meanwhile cannot make the
        # pin's name and bytes disagree.
        st = staged.stat()
        target = folder / f"{st.st_ino}-{st.st_mtime_ns}.parquet"
        os.replace(staged, target)  # also restores a pinned file deleted by hand
        if current == str(target.relative_to(paths.root)):
            return target  # the lake file has not changed since it was pinned
    con.execute(f"UPDATE {MANIFEST} SET retired_at = ? WHERE dataset = ? AND day = ? "
                "AND retired_at IS NULL", [now, dataset, day])
    if target is not None:
        con.execute(f"INSERT INTO {MANIFEST} VALUES (?, ?, ?, ?, NULL)",
                    [dataset, day, str(target.relative_to(paths.root)), now])
    return target


def pin_all_days(con: duckdb.DuckDBPyConnection, paths: DataPaths, dataset: str,
                 now: dt.datetime) -> None:
    """Pin every day the lake holds (a warehouse that stored the fact as a table upgrades)."""
    for lake_file in sorted((paths.root / "lake" / dataset).glob("day=*/data.parquet")):
        day = dt.date.fromisoformat(lake_file.parent.name.removeprefix("day="))
        pin_day(con, paths, dataset, day, now)


def pinned_files(con: duckdb.DuckDBPyConnection, paths: DataPaths, dataset: str,
                 days: Iterable[dt.date] | None = None) -> list[Path]:
    """The current pinned files of a dataset (of `days`, else of every day), in day order."""
    query = (f"SELECT file FROM {MANIFEST} WHERE dataset = ? AND retired_at IS NULL")
    params: list = [dataset]
    if days is not None:
        query += " AND day IN (SELECT unnest(?::DATE[]))"
        params.append(list(days))
    return [paths.root / f for (f,) in con.execute(query + " ORDER BY day", params).fetchall()]


def read_files_sql(files: Sequence[Path], by_name: bool = True, day_from_path: bool = False
                   ) -> str:
    """read_parquet() of `files`.

    Lake files carry their own `day`, so by default no hive columns are read. With
    `day_from_path`, `day` comes from each file's `day=YYYY-MM-DD` folder instead (the same
    value: a pinned file lies in its day's folder and holds only that day's rows), which lets
    DuckDB skip every file whose day a filter rules out before opening it.
    """
    listed = "[" + ", ".join(sql_string(f) for f in files) + "]"
    hive = ("hive_partitioning = true, hive_types = {'day': DATE}" if day_from_path
            else "hive_partitioning = false")
    return f"read_parquet({listed}, {hive}" + (", union_by_name = true)" if by_name else ")")


def day_folders_only(files: Sequence[Path]) -> bool:
    """Whether each path of `files` has exactly one `day=` folder (its pinned day's): a data
    dir below a folder like `day=...` would give DuckDB a second, wrong or unparsable, `day`.
    Other `key=value` folders above are harmless: the view selects its columns by name."""
    return all(sum(part.split("=", 1)[0].lower() == "day" for part in f.parts if "=" in part)
               == 1 for f in files)


def _typed_columns(t: Table, present: set[str]) -> str:
    return ", ".join(
        f'CAST("{c}" AS {polars_to_duckdb(d)}) AS "{c}"' if c in present
        else f'CAST(NULL AS {polars_to_duckdb(d)}) AS "{c}"'
        for c, d in t.schema.items())


def view_sql(con: duckdb.DuckDBPyConnection, t: Table, paths: DataPaths) -> str:
    """The view of a lake_view table over its pinned files, every registry column typed.

    `day` comes from the pinned folders: a filter on day (a constant, or a subquery such as
    the day of a run) opens only the files of those days, not one file per day loaded.
    Files written before a column existed lack it: the files are grouped by their columns, each
    group read on its own (a typed NULL for what it lacks) and the groups unioned. Reading
    mixed files by name instead would open every file's footer on every query, skipped day or
    not.
    """
    (dataset,) = t.reads
    files = pinned_files(con, paths, dataset)
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise PinnedFileMissing(
            f"{len(missing)} file(s) the warehouse pins for {t.name} are gone, e.g. "
            f"{missing[0]}: re-materialize their days to pin the lake files again")
    if not files:
        return f"SELECT {_typed_columns(t, set())} WHERE false"
    listed = "[" + ", ".join(sql_string(f) for f in files) + "]"
    columns = dict(con.execute(
        f"SELECT file_name, list(name ORDER BY name) FROM parquet_schema({listed}) "
        "WHERE num_children IS NULL OR num_children = 0 GROUP BY file_name").fetchall())
    groups: dict[tuple[str, ...], list[Path]] = {}
    for f in files:  # in day order: usually one group, else one per schema the lake has had
        groups.setdefault(tuple(columns[str(f)]), []).append(f)
    by_day = day_folders_only(files)
    return "\nUNION ALL\n".join(
        f"SELECT {_typed_columns(t, set(cols))} FROM "
        f"{read_files_sql(group, by_name=False, day_from_path=by_day)}"
        for cols, group in groups.items())


def stamp_retirements(con: duckdb.DuckDBPyConnection, since: dt.datetime,
                      published_at: dt.datetime) -> None:
    """Date this run's retirements at its publish, so the grace period starts when readers
    can first stop needing the retired files, not when a long backfill began."""
    con.execute(f"UPDATE {MANIFEST} SET retired_at = ? WHERE retired_at >= ?",
                [published_at, since])


def fsync_new_pins(con: duckdb.DuckDBPyConnection, paths: DataPaths,
                   since: dt.datetime) -> None:
    """Make the pins of this run durable before the warehouse naming them is published."""
    rows = con.execute(f"SELECT DISTINCT file FROM {MANIFEST} WHERE pinned_at >= ?",
                       [since]).fetchall()
    folders = {(paths.root / f).parent for (f,) in rows}
    for folder in sorted(folders | {f.parent for f in folders} | {_pinned_root(paths)}):
        if folder.is_dir():
            fsync_dir(folder)


def collect_garbage(con: duckdb.DuckDBPyConnection, paths: DataPaths,
                    now: dt.datetime) -> list[Path]:
    """Forget pins retired more than RETIRED_GRACE ago; return every file under the pinned root
    that no manifest row names any more (those, and leftovers of crashed runs).

    Delete them only once this manifest is published (`delete_files`): until then the published
    warehouse is the previous one.
    """
    con.execute(f"DELETE FROM {MANIFEST} WHERE retired_at < ?", [now - RETIRED_GRACE])
    known = {paths.root / f for (f,) in con.execute(f"SELECT file FROM {MANIFEST}").fetchall()}
    root = _pinned_root(paths)
    on_disk = {p for p in root.rglob("*") if p.is_file()} if root.is_dir() else set()
    return sorted(on_disk - known)


def delete_files(files: Iterable[Path]) -> int:
    """Delete unreferenced pinned files and the day folders they leave empty."""
    deleted = 0
    for f in files:
        try:
            f.unlink()
            deleted += 1
        except FileNotFoundError:
            continue
        with contextlib.suppress(OSError):
            f.parent.rmdir()  # only when empty
    if deleted:
        log.info("warehouse: deleted %d pinned lake files no warehouse reads any more", deleted)
    return deleted
