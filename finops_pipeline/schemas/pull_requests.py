"""Copilot coding-agent pull requests: raw fields as text, then the lake dataset."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

from finops_pipeline.schemas import checks

PR_STATES = ("merged", "rejected", "open")


PULL_REQUESTS_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(), "source": pl.String(), "repo": pl.String(), "number": pl.Int64(),
    "state": pl.String(), "created_at": pl.Datetime("us", "UTC"),
    "updated_at": pl.Datetime("us", "UTC"),
    "merged_at": pl.Datetime("us", "UTC"), "closed_at": pl.Datetime("us", "UTC"),
    "head_ref": pl.String(), "author": pl.String(), "title": pl.String(), "url": pl.String(),
    "_source": pl.String(), "_line": pl.Int64(),
}


class RawPullRequest(pa.DataFrameModel):
    repo: str = pa.Field(nullable=False, str_matches=r"^[^/\s]+/[^/\s]+$")
    number: str = pa.Field(nullable=False)
    state: str = pa.Field(nullable=False, isin=list(PR_STATES))
    created_at: str = pa.Field(nullable=False)
    updated_at: str = pa.Field(nullable=True)
    merged_at: str = pa.Field(nullable=True)
    closed_at: str = pa.Field(nullable=True)

    @pa.check("number", name="a positive integer")
    def _number(cls, data: PolarsData) -> pl.LazyFrame:
        return checks.matches(data, checks.POSITIVE_INT)

    @pa.check("created_at", "updated_at", "merged_at", "closed_at",
              name="an ISO 8601 timestamp")
    def _timestamp(cls, data: PolarsData) -> pl.LazyFrame:
        return checks.is_timestamp(data)

    class Config:
        strict = False


class PullRequests(pa.DataFrameModel):
    """The `pull_requests` lake dataset: one row per (repo, number) on the day it was last
    updated and on the day it was created (each in its state at that day's fetch)."""

    day: pl.Date = pa.Field(nullable=False)
    repo: str = pa.Field(nullable=False)
    number: pl.Int64 = pa.Field(nullable=False, ge=1)

    @pa.dataframe_check(name="updated or created on the partition day (UTC)")
    def _updated_on_day(cls, data: PolarsData) -> pl.LazyFrame:
        seen = pl.coalesce("updated_at", "created_at").dt.date() == pl.col("day")
        return data.lazyframe.select(seen | (pl.col("created_at").dt.date() == pl.col("day")))

    class Config:
        strict = False
