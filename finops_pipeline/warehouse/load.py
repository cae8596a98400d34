"""Idempotent loads: a load replaces whole units (days, or a keyed table's keys), atomically.

Every load names its scope, the values of the table's `replace_key` it replaces: the rows of
those units are deleted and the new rows inserted in one transaction, so re-running a load
never duplicates and a unit that lost its rows is emptied. A row outside the scope is a bug in
a builder and rolls the whole load back. A daily table's units are days; a table without a day
(call chains) is replaced by key, and `meta.loaded_keys` remembers which keys each day loaded,
so re-loading a day also empties the keys it no longer produces.

Three loaders share this: `load_lake_days` (facts and daily KPIs from the lake files of each
day), `load_analytics` (tables built from a trailing window of the warehouse's own small
tables) and `replace_day` (one day of named frames, for tools and tests).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl

from finops_pipeline.config import FileConfig
from finops_pipeline.lake import DataPaths
from finops_pipeline.schemas.datasets import LAKE_DATASETS
from finops_pipeline.schemas.raw import with_missing_columns
from finops_pipeline.warehouse.lake_views import pin_day
from finops_pipeline.warehouse.schema import KEY_LEDGER
from finops_pipeline.warehouse.tables import Table, table, tables

Progress = Callable[[str], None]
log = logging.getLogger(__name__)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def replace_rows(con: duckdb.DuckDBPyConnection, t: Table, rows: pl.DataFrame,
                 scope: pl.DataFrame) -> int:
    """Replace the units of `scope` in `t` by `rows` (inside the caller's transaction).

    Args:
        t: the table; its `replace_key` names the unit columns.
        rows: the new rows, with at least the table's columns.
        scope: one row per unit replaced (the `replace_key` columns).
    """
    key = list(t.replace_key)
    check_units(t, rows, scope)
    cols = ", ".join(f'"{c}"' for c in t.schema)
    keys = ", ".join(f'"{c}"' for c in key)
    con.register("_scope", scope.select(key).unique())
    try:
        con.execute(f"DELETE FROM {t.name} WHERE ({keys}) IN (SELECT {keys} FROM _scope)")
    finally:
        con.unregister("_scope")
    if rows.height:
        con.register("_incoming", rows.select(list(t.schema)))
        try:
            con.execute(f"INSERT INTO {t.name} ({cols}) SELECT {cols} FROM _incoming")
        finally:
            con.unregister("_incoming")
    return rows.height


def check_units(t: Table, rows: pl.DataFrame, scope: pl.DataFrame) -> None:
    """Raise when `rows` hold a unit (a day, a key) that `scope` does not replace."""
    key = list(t.replace_key)
    outside = rows.select(key).unique().join(scope.select(key), on=key, how="anti")
    if outside.height:
        example = ", ".join(f"{k}={v}" for k, v in outside.row(0, named=True).items())
        what = "another day" if t.daily else "a key outside the load"
        raise ValueError(f"{t.name}: {outside.height} unit(s) of {what} in the load of "
                         f"{_describe(scope, key)} (e.g. {example})")


def _describe(scope: pl.DataFrame, key: list[str]) -> str:
    values = scope.select(key).unique().sort(key).rows()
    shown = ", ".join(str(v[0] if len(v) == 1 else v) for v in values[:3])
    return shown + (f" and {len(values) - 3} more" if len(values) > 3 else "")


def _days_frame(days: Sequence[dt.date]) -> pl.DataFrame:
    return pl.DataFrame({"day": list(days)}, schema={"day": pl.Date})


def _keys_json(rows: pl.DataFrame, key: list[str]) -> pl.Series:
    return rows.select(pl.struct(key).struct.json_encode().alias("key")).unique()["key"]


def _replace_keyed(con: duckdb.DuckDBPyConnection, t: Table, rows: pl.DataFrame,
                   day: dt.date) -> int:
    """Load a table without a day from one lake day: replace the keys this day loaded before
    (so a key the day no longer produces is emptied) and the keys its rows carry (a key moves
    to the last day that loaded it)."""
    key = list(t.replace_key)
    schema = {k: t.schema[k] for k in key}
    new = _keys_json(rows, key)
    earlier = con.execute(f"SELECT key FROM {KEY_LEDGER} WHERE table_name = ? AND day = ?",
                          [t.name, day]).fetchall()
    every = pl.concat([new, pl.Series("key", [k for (k,) in earlier], dtype=pl.String)])
    scope = (every.unique().to_frame().select(pl.col("key").str.json_decode(pl.Struct(schema)))
             .unnest("key")) if len(every) else pl.DataFrame(schema=schema)
    written = replace_rows(con, t, rows, scope)
    con.register("_keys", new.to_frame())
    try:
        con.execute(f"DELETE FROM {KEY_LEDGER} WHERE table_name = ? AND (day = ? OR key IN "
                    "(SELECT key FROM _keys))", [t.name, day])
        con.execute(f"INSERT INTO {KEY_LEDGER} SELECT ?, ?, key FROM _keys", [t.name, day])
    finally:
        con.unregister("_keys")
    return written


def replace_day(con: duckdb.DuckDBPyConnection, day: dt.date,
                frames: Mapping[str, pl.DataFrame]) -> dict[str, int]:
    """Replace `day` in each named table by its frame, in one transaction. Returns row counts."""
    counts: dict[str, int] = {}
    with transaction(con):
        for name, df in frames.items():
            t = table(name)
            counts[name] = (replace_rows(con, t, df, _days_frame([day])) if t.daily
                            else _replace_keyed(con, t, df, day))
    return counts


def read_lake_day(paths: DataPaths, dataset: str, day: dt.date,
                  path: Path | None = None, details: bool = True) -> pl.DataFrame:
    """A dataset's lake file of `day` (or the pinned copy at `path`) in the current schema;
    an empty frame, with a warning, when there is none. Without `details`, the dataset's
    `detail_columns` are left unread (and absent)."""
    d = LAKE_DATASETS[dataset]
    schema = d.schema if details else {c: t for c, t in d.schema.items()
                                        if c not in d.detail_columns}
    file = path or paths.lake_file(dataset, day)
    if not file.is_file():
        log.warning("no lake file for %s on %s; loading it as empty", dataset, day)
        return pl.DataFrame(schema=schema)
    present = set(pl.read_parquet_schema(file))
    df = pl.read_parquet(file, columns=[c for c in schema if c in present])
    return with_missing_columns(df, schema).select(list(schema))


def _build_from_lake(t: Table, inputs: Mapping[str, pl.DataFrame],
                     config: FileConfig) -> pl.DataFrame:
    try:
        return t.run(*(inputs[r] for r in t.reads), config=config)
    except pl.exceptions.ColumnNotFoundError as exc:
        details = {c for r in t.reads for c in LAKE_DATASETS[r].detail_columns}
        if t.details or not any(c in str(exc) for c in details):
            raise
        raise ValueError(f"table {t.name} reads a detail column of {', '.join(t.reads)} "
                         f"(Dataset.detail_columns); declare it with Table(..., details=True)"
                         f": {exc}") from exc


def load_lake_days(con: duckdb.DuckDBPyConnection, paths: DataPaths,
                   days: Sequence[dt.date], registered: Sequence[Table] | None = None,
                   progress: Progress | None = None,
                   config: FileConfig | None = None) -> list[dict]:
    """Build every lake-backed table for each day from its lake files, one transaction a day.

    A lake view's dataset is pinned first (warehouse/lake_views.py) and the day's other tables
    are built from the pinned file, so the KPIs describe exactly the rows the view shows even
    if the lake file is replaced meanwhile. Returns one row of counts per day.
    """
    chosen = [t for t in (registered or tables()) if t.from_lake]
    needed = sorted({r for t in chosen for r in t.reads})
    pinned = {t.reads[0] for t in chosen if t.storage == "lake_view"}
    # Per-request details (ids, paths, timestamps) are read only for a table that asks.
    detailed = {r for t in chosen if t.details for r in t.reads}
    report = []
    now = dt.datetime.now(dt.UTC)
    for start in range(0, len(days), BATCH_DAYS):
        batch = days[start:start + BATCH_DAYS]
        # A daily table's rows of the batch's days are replaced with one DELETE and one INSERT
        # (per day, a year's backfill paid ~11k statements); keyed tables stay day by day,
        # since a key belongs to the last day that loaded it.
        pending: dict[str, list[pl.DataFrame]] = {}
        with transaction(con):
            for i, day in enumerate(batch, start=start + 1):
                counts: dict[str, int] = {}
                inputs = {}
                for name in needed:
                    path = pin_day(con, paths, name, day, now) if name in pinned else None
                    inputs[name] = read_lake_day(paths, name, day, path,
                                                 details=name in detailed)
                for t in chosen:
                    if t.storage == "lake_view":
                        counts[t.name] = inputs[t.reads[0]].height
                        continue
                    rows = _build_from_lake(t, inputs, config or FileConfig())
                    if t.daily:
                        check_units(t, rows, _days_frame([day]))
                        pending.setdefault(t.name, []).append(rows)
                        counts[t.name] = rows.height
                    else:
                        counts[t.name] = _replace_keyed(con, t, rows, day)
                report.append({"day": day.isoformat(), **counts})
                if progress:
                    progress(f"[{i}/{len(days)}] {day} warehouse: "
                             + ", ".join(f"{k} {v}" for k, v in counts.items()))
            for name, frames in pending.items():
                replace_rows(con, table(name), pl.concat(frames, how="vertical_relaxed"),
                             _days_frame(batch))
    return report


# Lake days loaded per transaction: a month of a daily table's rows is small.
BATCH_DAYS = 31


def analytics_range(t: Table, first: dt.date, last: dt.date, latest: dt.date | None,
                    changed: Mapping[str, tuple[dt.date, dt.date]]) -> tuple[dt.date, dt.date]:
    """The days of `t` a load of lake days first..last changes.

    A row of day D reads days D - window_days + 1 .. D + outcome_days, so inputs changed on
    days a..b (the lake days, or the days an upstream analytics table rebuilt: `changed`)
    change its rows a - outcome_days .. b + window_days - 1, but never past the latest day
    the warehouse holds (`latest`): rows after it are built when their days are loaded.
    """
    spans = [(first, last), *(changed[r] for r in t.reads if r in changed)]
    start = min(a for a, _ in spans) - dt.timedelta(days=t.outcome_days)
    end = max(b for _, b in spans) + dt.timedelta(days=t.window_days - 1)
    cap = max(last, latest) if latest is not None else last
    return start, min(end, cap)


def load_analytics(con: duckdb.DuckDBPyConnection, days: Sequence[dt.date],
                   registered: Sequence[Table] | None = None,
                   progress: Progress | None = None,
                   config: FileConfig | None = None) -> list[dict]:
    """Rebuild every analytics table for every day that the lake days `days` feed.

    Each table reads its inputs' rows of the window (start - window_days + 1 .. end +
    outcome_days) from the warehouse itself, small tables only, and replaces days start..end,
    all tables in one transaction. Returns one row per table: the range replaced and the rows
    written.
    """
    config = config or FileConfig()
    chosen = [t for t in (registered or tables()) if t.analytics]
    if not chosen or not days:
        return []
    first, last = min(days), max(days)
    changed: dict[str, tuple[dt.date, dt.date]] = {}
    report = []
    with transaction(con):
        for t in chosen:
            latest = max((d for r in t.reads
                          for (d,) in con.execute(f"SELECT max(day) FROM {r}").fetchall()
                          if d is not None), default=None)
            start, end = analytics_range(t, first, last, latest, changed)
            read_from = start - dt.timedelta(days=t.window_days - 1)
            read_to = end + dt.timedelta(days=t.outcome_days)
            inputs = [con.sql(f"SELECT * FROM {r} WHERE day BETWEEN ? AND ?",
                              params=[read_from, read_to]).pl() for r in t.reads]
            rows = t.run(*inputs, days=(start, end), config=config)
            span = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
            written = replace_rows(con, t, rows, _days_frame(span))
            changed[t.name] = (start, end)
            report.append({"table": t.name, "first_day": start.isoformat(),
                           "last_day": end.isoformat(), "rows": written})
            if progress:
                progress(f"analytics: {t.name} days {start}..{end}: {written} rows")
    return report
