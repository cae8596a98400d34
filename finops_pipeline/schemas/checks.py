"""Vectorized checks shared by the raw models.

Raw models validate fields as the text a source wrote (JSON scalars extracted as strings), so
a bad value is reported as it appeared, e.g. `input_tokens: a non-negative integer (got '-3')`.
"""

from __future__ import annotations

import polars as pl
from pandera.api.polars.types import PolarsData

from finops_pipeline.schemas.timeparse import parse_utc_timestamp

# JSON writers sometimes emit integral floats (1e3 -> "1000.0"); those are still integers.
NON_NEGATIVE_INT = r"^[0-9]{1,18}(\.0*)?$"
POSITIVE_INT = r"^0*[1-9][0-9]{0,17}(\.0*)?$"
NON_NEGATIVE_NUMBER = r"^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$"
BOOLEAN = r"^(true|false)$"
GO_DURATION = r"^([0-9]*\.?[0-9]+(h|ms|m|s|us|µs|ns))+$"


def matches(data: PolarsData, pattern: str) -> pl.LazyFrame:
    return data.lazyframe.select(pl.col(data.key).str.contains(pattern))


def is_timestamp(data: PolarsData) -> pl.LazyFrame:
    col = pl.col(data.key)
    return data.lazyframe.select(col.is_null() | parse_utc_timestamp(col).is_not_null())


def is_not_blank(data: PolarsData) -> pl.LazyFrame:
    return data.lazyframe.select(pl.col(data.key).str.strip_chars().str.len_chars() > 0)
