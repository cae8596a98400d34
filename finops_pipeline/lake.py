"""Paths under the data dir, atomic Parquet writes and day-partitioned reads.

Layout (DESIGN section 3, extended in docs/architecture.md):

    landing/<source>/                           inputs of the file sources (always read)
    raw/<source>/<kind>/day=YYYY-MM-DD/data.parquet   what a source extracted for a day
    lake/<dataset>/day=YYYY-MM-DD/data.parquet        validated, normalized, one file a day
    quarantine/<dataset>/day=YYYY-MM-DD/data.parquet  rejected rows with _reason/_source/_line
    state/                                      small indexes (which file holds which day)
    warehouse/finops.duckdb                     the published warehouse
    .staging/                                   temporary files, renamed into place

Every write goes to `.staging/` (same filesystem, outside the lake roots) and is moved into
place with `os.replace`, so a killed writer never leaves a truncated file at a final path and
readers see either the old day or the new one.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from polars.io.plugins import register_io_source

from finops_pipeline.schemas.raw import RAW_KINDS, raw_rows


@dataclass(frozen=True)
class DataPaths:
    """Every path the pipeline reads or writes, derived from one data dir."""

    root: Path

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    def landing_source(self, source: str) -> Path:
        return self.landing / source

    @property
    def staging(self) -> Path:
        return self.root / ".staging"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def warehouse_dir(self) -> Path:
        return self.root / "warehouse"

    @property
    def warehouse(self) -> Path:
        return self.warehouse_dir / "finops.duckdb"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    def raw_file(self, source: str, kind: str, day: dt.date) -> Path:
        return self.root / "raw" / source / kind / f"day={day.isoformat()}" / "data.parquet"

    def lake_file(self, dataset: str, day: dt.date) -> Path:
        return self.root / "lake" / dataset / f"day={day.isoformat()}" / "data.parquet"

    def quarantine_file(self, dataset: str, day: dt.date) -> Path:
        return self.root / "quarantine" / dataset / f"day={day.isoformat()}" / "data.parquet"


@contextmanager
def staged_path(paths: DataPaths, final: Path, suffix: str = ".parquet") -> Iterator[Path]:
    """Yield a staging path; on success fsync it and atomically move it to `final`."""
    paths.staging.mkdir(parents=True, exist_ok=True)
    tmp = paths.staging / f"{final.stem}-{uuid.uuid4().hex}{suffix}"
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
        fsync_dir(final.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_parquet_atomic(paths: DataPaths, df: pl.DataFrame, final: Path) -> Path:
    """Write `df` to `final` atomically (an empty frame still writes its schema)."""
    with staged_path(paths, final) as tmp:
        # Statistics off and a fixed compression keep re-runs byte-stable for the same rows.
        df.write_parquet(tmp, compression="zstd", statistics=False)
    return final


# A day file of more rows than this is written sorted a slice at a time, from the sort's
# permutation: the day's rows are held once, not twice (a sort copies every column; 2M requests
# are ~0.9 GB).
SORTED_SLICE_ROWS = 256 * 1024


def write_sorted_parquet_atomic(paths: DataPaths, df: pl.DataFrame, by: Sequence[str],
                                final: Path) -> Path:
    """Write `df` sorted by `by` to `final` atomically: the same rows as `df.sort(by)`."""
    if df.height <= SORTED_SLICE_ROWS:
        return write_parquet_atomic(paths, df.sort(list(by)), final)
    order = df.select(pl.arg_sort_by(list(by), maintain_order=True))[:, 0]

    def sorted_slices() -> Iterator[pl.DataFrame]:
        for start in range(0, df.height, SORTED_SLICE_ROWS):
            yield df.select(pl.all().gather(order.slice(start, SORTED_SLICE_ROWS)))

    with staged_path(paths, final) as tmp:
        lazy_from_batches(sorted_slices, df.schema).sink_parquet(
            tmp, compression="zstd", statistics=False)
    return final


def lazy_from_batches(batches: Callable[[], Iterator[pl.DataFrame]],
                      schema: Mapping[str, pl.DataType], name: str = "batches") -> pl.LazyFrame:
    """A LazyFrame whose rows are the frames `batches()` yields, produced only when it is
    collected or sunk (each time): a sink then holds one batch at a time, not all of them."""
    def source(with_columns, predicate, n_rows, _batch_size) -> Iterator[pl.DataFrame]:
        taken = 0
        for df in batches():
            if predicate is not None:
                df = df.filter(predicate)
            if with_columns is not None:
                df = df.select(with_columns)
            if n_rows is not None:
                df = df.head(n_rows - taken)
                taken += df.height
            yield df
            if n_rows is not None and taken >= n_rows:
                return

    return register_io_source(source, schema=dict(schema), explain_name=name)


def write_or_remove(paths: DataPaths, df: pl.DataFrame, final: Path) -> Path | None:
    """Write a non-empty frame atomically; remove the file when the frame is empty.

    Used for quarantine files: a re-run that no longer rejects anything must clear them.
    """
    if df.height:
        return write_parquet_atomic(paths, df, final)
    if final.exists():
        final.unlink()
    return None


def read_parquet_or_none(path: Path) -> pl.DataFrame | None:
    """Read a day file, or None when it does not exist yet."""
    return pl.read_parquet(path) if path.is_file() else None


def write_raw_day(paths: DataPaths, source: str, day: dt.date,
                  frames: Mapping[str, pl.DataFrame | pl.LazyFrame]) -> dict[str, int]:
    """Replace a source's raw slice of `day`: one file per kind, each in its raw schema.

    A LazyFrame is streamed to its file (a day of token lines never has to fit in memory).
    Returns the rows written per kind.
    """
    written = {}
    for kind, df in frames.items():
        expected = RAW_KINDS[kind].schema
        schema = dict(df.collect_schema()) if isinstance(df, pl.LazyFrame) else dict(df.schema)
        if schema != expected:
            # A source writing the wrong columns is a bug in the source, never bad input.
            raise TypeError(f"source {source} wrote raw {kind} with columns {schema}; "
                            f"the raw contract (schemas/raw.py) is {expected}")
        final = paths.raw_file(source, kind, day)
        if isinstance(df, pl.LazyFrame):
            with staged_path(paths, final) as tmp:
                df.sink_parquet(tmp, compression="zstd", statistics=False,
                                row_group_size=RAW_ROW_GROUP)
                written[kind] = raw_rows(pl.scan_parquet(tmp))
        else:
            write_parquet_atomic(paths, df, final)
            written[kind] = df.height
    return written


# Rows per row group of a streamed raw file: a reader taking a chunk of lines decodes only the
# row groups that hold it.
RAW_ROW_GROUP = 64 * 1024


def read_raw_day(paths: DataPaths, source: str, kinds: Iterable[str],
                 day: dt.date) -> dict[str, pl.DataFrame | pl.LazyFrame] | None:
    """A source's raw slice of `day` by kind, or None when it never delivered that day.

    A kind the source writes but whose file is missing reads as empty; files an older version
    wrote gain the columns added since, as nulls. A streamed kind (`RawKind.streamed`) is a
    LazyFrame over its file, for its reader to take a chunk at a time.
    """
    frames: dict[str, pl.DataFrame | pl.LazyFrame | None] = {}
    for kind in kinds:
        path = paths.raw_file(source, kind, day)
        if not path.is_file():
            frames[kind] = None
        elif RAW_KINDS[kind].streamed:
            frames[kind] = RAW_KINDS[kind].conform(pl.scan_parquet(path))
        else:
            frames[kind] = RAW_KINDS[kind].conform(pl.read_parquet(path))
    if all(df is None for df in frames.values()):
        return None
    return {k: df if df is not None else RAW_KINDS[k].empty() for k, df in frames.items()}
