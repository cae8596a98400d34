"""What a normalizer returns for one dataset of one source's day, and the helpers that keep
the books: every raw row ends valid, quarantined (with its location and reason) or a counted
duplicate (DESIGN section 8)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

from finops_pipeline.schemas.datasets import QUARANTINE_SCHEMA


@dataclass(frozen=True)
class Normalized:
    """One dataset's rows from one source's day, before the sources of the day are combined.

    Attributes:
        rows: valid rows in the dataset's schema, already de-duplicated within the source.
        rejected: quarantine rows (QUARANTINE_SCHEMA).
        rows_in: raw rows read; rows_in = rows.height + rejected.height + duplicates.
        duplicates: rows dropped as repeats of a kept row.
        files: files the raw rows came from.
        runs_skipped, skip_reasons: runs that gave no rows for this dataset, and why.
    """

    rows: pl.DataFrame
    rejected: pl.DataFrame
    rows_in: int
    duplicates: int
    files: int
    runs_skipped: int = 0
    skip_reasons: Mapping[str, int] = field(default_factory=dict)


def dedupe(df: pl.DataFrame, key: Sequence[str],
           order: Sequence[str]) -> tuple[pl.DataFrame, int]:
    """Keep the first row of each `key` by `order`; return (kept, how many were dropped)."""
    if df.height < 2 or _distinct_hashes(df, key):
        # The usual day has no repeats: one hash pass instead of sorting and copying every
        # column of every row (5 s for 2M requests). Distinct hashes prove distinct keys; a
        # repeated hash (a repeat, or rarely a collision) takes the exact path below.
        return df, 0
    kept = df.sort(list(order), nulls_last=True).unique(subset=list(key), keep="first",
                                                         maintain_order=True)
    return kept, df.height - kept.height


def _distinct_hashes(df: pl.DataFrame, key: Sequence[str]) -> bool:
    """Whether every row's key hashes differently (8 bytes a row, not a struct of the keys)."""
    return df.select(pl.struct(list(key)).hash().n_unique()).item() == df.height


def to_quarantine(rejected: pl.DataFrame, day: dt.date, source: str) -> pl.DataFrame:
    """Rejected raw rows (with `_source`, `_line`, `_reason`, `_raw`) as quarantine rows."""
    if rejected.height == 0:
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    return rejected.select(
        pl.lit(day).alias("day"),
        pl.lit(source).alias("source"),
        pl.col("_source").cast(pl.String),
        pl.col("_line").cast(pl.Int64),
        pl.col("_reason").cast(pl.String),
        pl.col("_raw").cast(pl.String),
    ).sort("_source", "_line", nulls_last=True)
