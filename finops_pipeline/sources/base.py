"""What every source is: the `Source` protocol and what its extraction returns.

A source finds and extracts one kind of telemetry for a list of UTC days. It never validates
fields or touches the lake: it returns raw frames (schemas/raw.py) that keep each row's text,
file and line, and the Dagster glue writes them to `raw/<source>/<kind>/day=D/`. A day it does
not deliver (`frames is None`) keeps the slice it delivered before (DESIGN section 8).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import polars as pl

from finops_pipeline.config import Settings


@dataclass(frozen=True)
class SourceContext:
    """What an extraction may use.

    Attributes:
        settings: finops.yaml plus the environment.
        landing: the always-read landing folder of file sources (`landing/<landing_name>/`);
            None for a source without one.
        state: a folder for the source's own small indexes (`state/`).
        resources: the Dagster resources named in `Source.resource_keys`, by key.
        say: progress lines for the run log.
    """

    settings: Settings
    landing: Path | None
    state: Path
    resources: Mapping[str, Any] = field(default_factory=dict)
    say: Callable[[str], None] = print


@dataclass
class SourceDay:
    """What a source delivered for one day.

    Attributes:
        frames: raw frames by kind (a kind of `Source.raw_kinds`, in its schemas/raw.py schema);
            None when the day was not delivered, so the slice delivered before is kept. A
            LazyFrame is streamed to the raw file when the day is written (a day of token
            lines need not fit in memory).
        figures: counts for the run's metadata (runs, token lines, files, ...); the first is
            the headline, the asset's `dagster/row_count`.
        problems: human-readable notes free of secrets (a run skipped, an artifact expired).
        error: why the day was not delivered; the source's check fails when set.
        counted: figures that are the rows written of a raw kind ({figure: kind}), filled in
            when the frames are written: how a streamed frame is counted.
    """

    day: dt.date
    frames: dict[str, pl.DataFrame] | None
    figures: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    error: str | None = None
    counted: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Source(Protocol):
    """A source of raw telemetry. Its docstring is its Dagster asset's description.

    Attributes:
        name: `raw/<name>/`, the `source` column of every row it delivers, and the asset
            `sources/<name>`; the registry's order is the priority when two sources deliver
            the same row (the first wins).
        landing_name: its folder under `landing/` (read whenever it is enabled).
        raw_kinds: the kinds of schemas/raw.py it writes.
        asset_kinds: Dagster `kinds` tags of its asset.
        resource_keys: Dagster resources its extraction needs (`SourceContext.resources`).
        off_hint: what to configure to switch it on, shown while it is off.
    """

    name: str
    landing_name: str
    raw_kinds: tuple[str, ...]
    asset_kinds: frozenset[str]
    resource_keys: frozenset[str]
    off_hint: str

    def enabled(self, settings: Settings) -> bool:
        """Whether the settings switch this source on."""
        ...

    def extract(self, ctx: SourceContext, days: Sequence[dt.date]) -> Iterator[SourceDay]:
        """One `SourceDay` per day of `days`, in order, each as soon as it is ready (so a long
        backfill holds one day in memory, not the range)."""
        ...


def failed_days(days: Sequence[dt.date], error: str) -> Iterator[SourceDay]:
    """Every day of `days` as not delivered, for the same reason."""
    for day in days:
        yield SourceDay(day, None, error=error)


def deliver_routed(rows: pl.DataFrame, days: Sequence[dt.date], kind: str,
                   columns: Sequence[str]) -> Iterator[SourceDay]:
    """One SourceDay per day of `days` from raw rows already routed to days (`_day`): the
    rows of the day as raw kind `kind`, with the lines and files they came from as figures."""
    for day in days:
        mine = rows.filter(pl.col("_day") == day)
        yield SourceDay(day, {kind: mine.select(list(columns))},
                        figures={"lines": mine.height,
                                 "files": mine.select(pl.col("_source").n_unique()).item()})
