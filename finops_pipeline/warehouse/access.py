"""Read-only access for users (`finops sql`, notebooks): never blocks the pipeline."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl

# A query that opens the file at the very instant a new warehouse is renamed into place can
# read the header of one version and a block of the other (DuckDB opens the path more than once
# while attaching): a transient "Could not read enough bytes" I/O error, about once in 10,000
# opens during publishes. Opening again gets the new, complete file.
OPEN_ATTEMPTS = 5
RETRY_SECONDS = 0.05


class WarehouseMissing(FileNotFoundError):
    """No warehouse has been published yet."""


@contextmanager
def read_only(warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the published warehouse: one consistent snapshot for every
    statement run on it."""
    if not warehouse.is_file():
        raise WarehouseMissing(
            f"no warehouse at {warehouse}: run `finops demo` or `finops materialize` first"
        )
    for attempt in range(1, OPEN_ATTEMPTS + 1):
        try:
            con = duckdb.connect(str(warehouse), read_only=True)
            break
        except duckdb.IOException:
            if attempt == OPEN_ATTEMPTS:
                raise
            time.sleep(RETRY_SECONDS * attempt)
    try:
        yield con
    finally:
        con.close()


def query(warehouse: Path, sql: str, params: list | None = None) -> pl.DataFrame:
    """Run `sql` against the published warehouse, opened read-only (one consistent snapshot)."""
    with read_only(warehouse) as con:
        return con.sql(sql, params=params).pl() if params else con.sql(sql).pl()
