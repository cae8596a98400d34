"""The Dagster instance used when DAGSTER_HOME is unset: `<data dir>/dagster_home`.

Its event log is Dagster's run-sharded SQLite storage with one change (issue 13): the stock
storage builds and disposes of a SQLAlchemy engine for every statement, and commits each with a
full fsync. A run records two events per asset and day (a backfill of a year over ~40 assets:
~28k events), which at ~15 ms each cost more than the data work. `PooledSqliteEventLogStorage`
keeps one engine per database file and runs SQLite in WAL mode with `synchronous=NORMAL`: a
crash of the process loses nothing committed; a power cut can lose the last events of the run
log (never data: lake and warehouse files are fsynced on their own).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.sql import create_engine
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from finops_pipeline.lake import DataPaths

# One writer at a time for the warehouse pool; runs queue rather than collide; run monitoring
# frees pool slots held by runs that crashed, so a killed run never blocks the pool forever.
DAGSTER_YAML = """\
# Written by finops-pipeline when DAGSTER_HOME is unset. Edit freely; it is not overwritten.
telemetry:
  enabled: false
concurrency:
  pools:
    default_limit: 1
  runs:
    max_concurrent_runs: 4
run_monitoring:
  enabled: true
  free_slots_after_run_end_seconds: 300
event_log_storage:
  module: finops_pipeline.instance
  class: PooledSqliteEventLogStorage
  config:
    base_dir: {runs_dir}
"""


def ensure_dagster_home(paths: DataPaths) -> Path:
    """Create the instance folder and its dagster.yaml (once); return the folder."""
    home = paths.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        # The path is quoted as a YAML string (a JSON string is one).
        runs_dir = json.dumps(str((home / "history" / "runs").resolve()))
        config.write_text(DAGSTER_YAML.format(runs_dir=runs_dir), encoding="utf-8")
    return home


# Run databases (plus the index) kept open per process; the least recently used is closed.
MAX_OPEN_DATABASES = 8


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log, with one pooled engine per database file (see the module
    docstring). Configured like the stock storage: `config: {base_dir: ...}`."""

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    @property
    def _engines(self) -> OrderedDict[str, Engine]:
        return self.__dict__.setdefault("_pooled_engines", OrderedDict())

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:  # as the stock storage: one statement at a time per process
            engine = self._engines.get(shard)
            if engine is None:
                engine = create_engine(self.conn_string_for_shard(shard), pool_size=1,
                                       connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
                event.listen(engine, "connect", _fast_commits)
                self._engines[shard] = engine
                # A long-lived process (the UI, the daemon) reads many runs: keep the engines
                # of the few databases in use, so open files stay bounded.
                while len(self._engines) > MAX_OPEN_DATABASES:
                    _, oldest = self._engines.popitem(last=False)
                    oldest.dispose()
            self._engines.move_to_end(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    # The stock storage inspects the schema of the index database for every asset event (a
    # new engine and a PRAGMA each time: a third of an event's cost). Tables and columns are
    # only ever added, by `dagster instance migrate`, so a "yes" is remembered.
    def has_table(self, table_name: str) -> bool:
        seen = self.__dict__.setdefault("_tables_seen", set())
        if table_name not in seen and super().has_table(table_name):
            seen.add(table_name)
        return table_name in seen

    def _has_asset_key_col_on_connection(self, conn: Connection, column_name: str) -> bool:
        seen = self.__dict__.setdefault("_asset_key_columns_seen", set())
        if column_name not in seen and super()._has_asset_key_col_on_connection(conn,
                                                                               column_name):
            seen.add(column_name)
        return column_name in seen

    def upgrade(self) -> None:
        self._forget_schema()
        super().upgrade()
        self._forget_schema()

    def wipe(self) -> None:
        self._dispose_engines()
        self._forget_schema()
        super().wipe()

    def delete_events(self, run_id: str) -> None:
        super().delete_events(run_id)
        self._dispose_engines()

    def dispose(self) -> None:
        self._dispose_engines()
        super().dispose()

    def _forget_schema(self) -> None:
        self.__dict__.pop("_tables_seen", None)
        self.__dict__.pop("_asset_key_columns_seen", None)

    def _dispose_engines(self) -> None:
        with self._db_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


def _fast_commits(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
