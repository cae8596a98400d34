"""One day of the lake from every source's raw slice: valid, quarantined or a counted duplicate.

The accounting promise (DESIGN section 8) is made here: for every dataset, source and day,
rows_in = rows_valid + rows_quarantined + rows_duplicate, recorded as `ingest_log` rows.

`NORMALIZERS` says which function turns raw rows into which datasets (schemas/datasets.py says
which raw kinds feed each dataset). A source's slice goes through every normalizer that reads a
kind the source writes; then `combine` unions the sources of the day.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from finops_pipeline.schemas.datasets import DATASETS, INGEST_LOG, QUARANTINE_SCHEMA
from finops_pipeline.schemas.raw import RAW_KINDS, raw_rows
from finops_pipeline.transforms.accounting import Normalized, dedupe
from finops_pipeline.transforms.agent_events import normalize_agent_events
from finops_pipeline.transforms.billing import normalize_billing_usage
from finops_pipeline.transforms.pull_requests import normalize_pull_requests
from finops_pipeline.transforms.run_requests import normalize_runs_and_requests


@dataclass(frozen=True)
class Normalizer:
    """A pure function from one source's raw frames of a day to the datasets it writes."""

    writes: tuple[str, ...]
    run: Callable[[Mapping[str, pl.DataFrame], dt.date, str], dict[str, Normalized]]

    @property
    def reads(self) -> tuple[str, ...]:
        """The raw kinds it reads: those that feed the datasets it writes."""
        return tuple(dict.fromkeys(k for d in self.writes for k in DATASETS[d].raw_kinds))


NORMALIZERS: tuple[Normalizer, ...] = (
    Normalizer(("workflow_runs", "llm_requests"), normalize_runs_and_requests),
    Normalizer(("pull_requests",), normalize_pull_requests),
    Normalizer(("agent_calls", "workflow_executions"), normalize_agent_events),
    Normalizer(("billing_usage",), normalize_billing_usage),
)
_written = [d for n in NORMALIZERS for d in n.writes]
if sorted(_written) != sorted(DATASETS):
    raise ValueError(f"every dataset needs exactly one normalizer: {_written} vs {list(DATASETS)}")


@dataclass(frozen=True)
class LakeDay:
    """A day's lake content: one frame per dataset, its quarantine, and the accounting.

    The datasets' rows are in no particular order (the lake writes each day file sorted by
    `Dataset.sort`); quarantine and ingest_log are sorted.
    """

    data: dict[str, pl.DataFrame]
    quarantine: dict[str, pl.DataFrame]
    ingest_log: pl.DataFrame

    @property
    def workflow_runs(self) -> pl.DataFrame:
        return self.data["workflow_runs"]

    @property
    def llm_requests(self) -> pl.DataFrame:
        return self.data["llm_requests"]

    @property
    def pull_requests(self) -> pl.DataFrame:
        return self.data["pull_requests"]


def _ingest_row(day: dt.date, dataset: str, source: str, out: Normalized) -> dict:
    return {"day": day, "dataset": dataset, "source": source, "rows_in": out.rows_in,
            "rows_valid": out.rows.height, "rows_quarantined": out.rejected.height,
            "rows_duplicate": out.duplicates, "files": out.files,
            "runs_skipped": out.runs_skipped,
            "skip_reasons": json.dumps(dict(out.skip_reasons), sort_keys=True)}


def empty_outputs(normalizer: Normalizer) -> dict[str, Normalized]:
    """What `normalizer` makes of no raw rows: empty datasets, nothing quarantined."""
    return {name: Normalized(DATASETS[name].empty(), pl.DataFrame(schema=QUARANTINE_SCHEMA),
                             0, 0, 0) for name in normalizer.writes}


def build_source_day(raw: Mapping[str, pl.DataFrame | pl.LazyFrame], day: dt.date,
                     source: str) -> LakeDay:
    """Parse, validate, normalize and de-duplicate one source's raw rows of one day.

    Args:
        raw: the source's raw frames by kind, for the kinds it writes (schemas/raw.py); a kind
            it writes but did not deliver that day may be missing and counts as empty. A
            streamed kind (`RawKind.streamed`) may be a LazyFrame.
        day: the partition day.
        source: the source name recorded on every row.
    """
    data, quarantine, ingest = {}, {}, []
    for normalizer in NORMALIZERS:
        if not set(normalizer.reads) & set(raw):
            continue  # the source writes nothing this normalizer reads
        frames = {k: raw[k] if raw.get(k) is not None else RAW_KINDS[k].empty()
                  for k in normalizer.reads}
        # Nothing delivered is nothing to parse: a source with no rows that day (most days of
        # most sources) skips the normalizer's fixed cost (~0.1 s of queries each; a year's
        # backfill pays it per source and day). The result is what the normalizer returns for
        # empty input (tested).
        outputs = (empty_outputs(normalizer) if all(raw_rows(f) == 0 for f in frames.values())
                   else normalizer.run(frames, day, source))
        for name, out in outputs.items():
            data[name], quarantine[name] = out.rows, out.rejected
            ingest.append(_ingest_row(day, name, source, out))
    return LakeDay(data, quarantine, pl.DataFrame(ingest, schema=INGEST_LOG.schema))


def combine(days: Sequence[LakeDay], priority: Sequence[str] = ()) -> LakeDay:
    """Union the sources of one day into the day's lake content.

    A row delivered by two sources is kept once, from the source listed first in `priority`
    (the source registry's order), and counted as a duplicate of the source whose copy was
    dropped.
    """
    rank = {source: i for i, source in enumerate(priority)}
    data, quarantine, lost = {}, {}, []
    ingest = (pl.concat([d.ingest_log for d in days]) if days else INGEST_LOG.empty())
    for name, dataset in DATASETS.items():
        frames = [d.data[name] for d in days if name in d.data]
        df = pl.concat(frames) if frames else dataset.empty()
        df = df.with_columns(pl.col("source").replace_strict(rank, default=len(rank),
                                                             return_dtype=pl.Int64).alias("_sp"))
        kept, dropped = dedupe(df, dataset.key, ["_sp", "source"])
        if dropped:
            lost.append(df.join(kept.select(*dataset.key, "source"),
                                on=[*dataset.key, "source"], how="anti")
                        .group_by("source").agg(pl.len().alias("_lost"))
                        .with_columns(pl.lit(name).alias("dataset")))
        # Not sorted here: the lake writes the file sorted, without a second copy of the day.
        data[name] = kept.drop("_sp")
        qs = [d.quarantine[name] for d in days if name in d.quarantine]
        quarantine[name] = (pl.concat(qs).sort("source", "_source", "_line", nulls_last=True)
                            if qs else pl.DataFrame(schema=QUARANTINE_SCHEMA))
    if lost:  # a dropped copy moves from its source's valid rows to its duplicates
        ingest = ingest.join(pl.concat(lost), on=["dataset", "source"], how="left").with_columns(
            pl.col("rows_valid") - pl.col("_lost").fill_null(0),
            pl.col("rows_duplicate") + pl.col("_lost").fill_null(0),
        ).drop("_lost")
    return LakeDay(data, quarantine, ingest.sort(INGEST_LOG.sort))
