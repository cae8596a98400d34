"""Idempotent day loads: each day replaced whole, in one transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import duckdb
import polars as pl

from finops_pipeline.warehouse.tables import table


def replace_day(con: duckdb.DuckDBPyConnection, day: dt.date,
                frames: Mapping[str, pl.DataFrame]) -> dict[str, int]:
    """Delete `day` from each table and insert its new rows, atomically. Returns row counts."""
    counts: dict[str, int] = {}
    con.execute("BEGIN TRANSACTION")
    try:
        for name, df in frames.items():
            cols = list(table(name).schema)
            quoted = ", ".join(f'"{c}"' for c in cols)
            con.execute(f"DELETE FROM {name} WHERE day = ?", [day])
            if df.height:
                if df.filter(pl.col("day") != day).height:
                    raise ValueError(f"{name}: rows of another day in the load of {day}")
                con.register("_incoming", df.select(cols))
                con.execute(f"INSERT INTO {name} ({quoted}) SELECT {quoted} FROM _incoming")
                con.unregister("_incoming")
            counts[name] = df.height
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return counts
