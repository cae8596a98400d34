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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import polars as pl


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

    def raw_sources(self, kind: str) -> list[str]:
        """Names of the sources that have ever written raw data of this kind."""
        base = self.root / "raw"
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if (p / kind).is_dir())

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
        _fsync_dir(final.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def _fsync_dir(directory: Path) -> None:
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
