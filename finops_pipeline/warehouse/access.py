"""Read-only access for users (`finops sql`, notebooks): never blocks the pipeline."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl


class WarehouseMissing(FileNotFoundError):
    """No warehouse has been published yet."""


def query(warehouse: Path, sql: str, params: list | None = None) -> pl.DataFrame:
    """Run `sql` against the published warehouse, opened read-only."""
    if not warehouse.is_file():
        raise WarehouseMissing(
            f"no warehouse at {warehouse}: run `finops demo` or `finops materialize` first"
        )
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(sql, params=params).pl() if params else con.sql(sql).pl()
