"""DuckDB DDL generated from the table registry: tables, additive migrations, lake views."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

import duckdb

from finops_pipeline.lake import DataPaths
from finops_pipeline.warehouse import lake_views
from finops_pipeline.warehouse.tables import Table, polars_to_duckdb
from finops_pipeline.warehouse.views import view_statements

log = logging.getLogger(__name__)
# Which keys of a table without a day each day loaded (see warehouse/load.py).
KEY_LEDGER = "meta.loaded_keys"


def ensure_key_ledger(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS meta")
    con.execute(f"""CREATE TABLE IF NOT EXISTS {KEY_LEDGER} (
        table_name VARCHAR NOT NULL, day DATE NOT NULL, key VARCHAR NOT NULL)""")
    con.execute(f"COMMENT ON TABLE {KEY_LEDGER} IS 'Which keys of a table without a day each "
                "day loaded (warehouse/load.py). Internal.'")


def _comment(t: Table) -> str:
    return lake_views.sql_string(f"{t.description} Grain: {', '.join(t.grain)}.")


def _existing(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Name -> 'BASE TABLE' | 'VIEW' of what the main schema holds."""
    return dict(con.execute("SELECT table_name, table_type FROM information_schema.tables "
                            "WHERE table_schema = 'main'").fetchall())


def ensure_schema(con: duckdb.DuckDBPyConnection, paths: DataPaths, now: dt.datetime,
                  registered: Sequence[Table]) -> bool:
    """Create missing tables and add columns a newer version introduced (views come last,
    `refresh_lake_views`, once the loads have pinned their files).

    Additive: a warehouse built by an older version keeps its rows; days loaded before a column
    existed show it as null until they are re-materialized. A fact an older version stored as
    a table and this one serves from the lake is dropped and every lake day of it pinned (its
    rows are the lake's). Returns True when a table was dropped, so the file can be compacted.
    """
    lake_views.ensure_manifest(con)
    ensure_key_ledger(con)
    existing = _existing(con)
    dropped = False
    for t in registered:
        kind = existing.get(t.name)
        if t.storage == "lake_view":
            if kind == "BASE TABLE":
                log.info("warehouse: %s is now a view over the lake; dropping the old table",
                         t.name)
                con.execute(f"DROP TABLE {t.name}")
                lake_views.pin_all_days(con, paths, t.reads[0], now)
                dropped = True
            continue
        if kind == "VIEW":  # a fact served from the lake before, stored from now on
            con.execute(f"DROP VIEW {t.name}")
            kind = None
        if kind is None:
            cols = ",\n  ".join(f'"{c}" {polars_to_duckdb(d)}' for c, d in t.schema.items())
            con.execute(f"CREATE TABLE {t.name} (\n  {cols}\n)")
        else:
            have = {r[0] for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                "AND table_schema = 'main'", [t.name]).fetchall()}
            for col, dtype in t.schema.items():
                if col not in have:
                    con.execute(f'ALTER TABLE {t.name} ADD COLUMN "{col}" '
                                f"{polars_to_duckdb(dtype)}")
        con.execute(f"COMMENT ON TABLE {t.name} IS {_comment(t)}")
    return dropped


def refresh_lake_views(con: duckdb.DuckDBPyConnection, paths: DataPaths,
                       registered: Sequence[Table]) -> None:
    """(Re)create every lake view over the currently pinned files, then the usual views."""
    for t in registered:
        if t.storage == "lake_view":
            con.execute(f"CREATE OR REPLACE VIEW {t.name} AS "
                        f"{lake_views.view_sql(con, t, paths)}")
            con.execute(f"COMMENT ON VIEW {t.name} IS {_comment(t)}")
    for statement in view_statements():
        con.execute(statement)
