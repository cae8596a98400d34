"""Split a frame into valid rows and quarantined rows with a readable reason, via pandera."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.errors import SchemaErrors

ROW = "__row"
_MAX_VALUE_CHARS = 80


def split_valid(
    df: pl.DataFrame, model: type[pa.DataFrameModel]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Validate eagerly and lazily (every failure collected); return (valid, rejected).

    `rejected` is `df`'s failing rows with a `_reason` column such as
    "input_tokens: a non-negative integer (got '-3'); status: is required".
    """
    if df.height == 0:
        return df, df.with_columns(pl.lit(None, pl.String).alias("_reason"))
    try:
        model.validate(df, lazy=True)
    except SchemaErrors as exc:
        reasons = failure_reasons(exc.failure_cases)
        if reasons.filter(pl.col(ROW).is_null()).height:
            # A frame-level failure (a missing column, a wrong dtype) is a bug in our own
            # extraction, not bad input: fail loudly rather than quarantine every row.
            raise
    else:
        return df, df.head(0).with_columns(pl.lit(None, pl.String).alias("_reason"))
    indexed = df.with_row_index(ROW).with_columns(pl.col(ROW).cast(pl.Int64))
    rejected = indexed.join(reasons, on=ROW, how="inner").sort(ROW).drop(ROW)
    valid = indexed.join(reasons, on=ROW, how="anti").drop(ROW)
    return valid, rejected


def failure_reasons(failure_cases: pl.DataFrame) -> pl.DataFrame:
    """One `_reason` per failing row index, every failing field named."""
    fc = failure_cases.with_columns(
        pl.col("index").cast(pl.Int64).alias(ROW),
        pl.col("failure_case").cast(pl.String).str.slice(0, _MAX_VALUE_CHARS).alias("value"),
    )
    check = pl.col("check").cast(pl.String)
    text = (
        pl.when(check == "not_nullable")
        .then(pl.col("column") + pl.lit(": is required (missing, null or blank)"))
        .when(pl.col("column").is_null() | (pl.col("schema_context") == "DataFrameSchema"))
        .then(check)
        .otherwise(
            pl.col("column") + pl.lit(": ") + check
            + pl.when(pl.col("value").is_not_null())
            .then(pl.lit(" (got '") + pl.col("value") + pl.lit("')"))
            .otherwise(pl.lit(""))
        )
    )
    return (
        fc.with_columns(text.alias("_reason"))
        .group_by(ROW, maintain_order=True)
        .agg(pl.col("_reason").unique(maintain_order=True).str.join("; "))
    )
