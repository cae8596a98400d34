"""Split a frame into valid rows and quarantined rows with a readable reason, via pandera."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData
from pandera.engines import polars_engine
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
    # The rows are screened in one pass; pandera sees only those that failed the screen, to
    # name their reasons: pandera stays the judge of those rows. A frame the screen cannot
    # judge (a missing column or a wrong dtype: a bug in our own extraction) goes to pandera
    # whole, which raises.
    passing = _passing_rows(df, model)
    if passing is not None:
        if passing.all():
            return df, df.head(0).with_columns(pl.lit(None, pl.String).alias("_reason"))
        valid, rejected = _split_by_pandera(df.filter(~passing), model)
        return pl.concat([df.filter(passing), valid]), rejected
    return _split_by_pandera(df, model)


def _split_by_pandera(
    df: pl.DataFrame, model: type[pa.DataFrameModel]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(valid, rejected with `_reason`) as pandera's lazy validation reports the failures."""
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


def _passing_rows(df: pl.DataFrame, model: type[pa.DataFrameModel]) -> pl.Series | None:
    """Which rows pass every check of `model`, in one polars query; None when it cannot tell.

    Pandera runs each check as its own query (about 100 for a token-usage record: 1.2 s for
    500k rows). The same check functions, evaluated together, cost one parallel pass; the
    screen is as strict as pandera (nulls and NaN fail non-nullable columns, a null check
    result fails unless the check ignores nulls).
    """
    schema = model.to_schema()
    for name, column in schema.columns.items():
        if name not in df.columns or column.unique or column.coerce or (
                column.dtype is not None
                and not column.dtype.check(polars_engine.Engine.dtype(df.schema[name]))):
            return None
    lf = df.lazy()
    parts: list[pl.LazyFrame] = []

    def add(out: pl.LazyFrame | bool, ignore_na: bool) -> bool:
        if isinstance(out, bool):
            return out  # a frame-level answer: a failure is pandera's to report
        names = out.collect_schema().names()
        column = pl.col(names[0]) if len(names) == 1 else pl.all_horizontal(pl.all())
        ok = (column | column.is_null()) if ignore_na else column.fill_null(False)
        parts.append(out.select(ok.alias(f"_ok{len(parts)}")))
        return True

    for name, column in schema.columns.items():
        if not column.nullable:
            present = pl.col(name).is_not_null()
            if df.schema[name].is_float():
                present = present & pl.col(name).is_not_nan()
            parts.append(lf.select(present.alias(f"_ok{len(parts)}")))
        for check in column.checks:
            if check.element_wise or not add(_check_output(check, lf, name), check.ignore_na):
                return None
    for check in schema.checks:
        if check.element_wise or not add(_check_output(check, lf, "*"), check.ignore_na):
            return None
    if not parts:
        return pl.repeat(True, df.height, eager=True)
    return pl.concat(parts, how="horizontal").select(
        pl.all_horizontal(pl.all())).collect().to_series()


def _check_output(check: pa.Check, lf: pl.LazyFrame, key: str) -> pl.LazyFrame | bool:
    """A check's per-row result as pandera computes it, not collected."""
    name = getattr(check._check_fn, "__name__", None)
    if name is not None and check.is_builtin_check(name):
        # What pandera's Check.__call__ does first: pick up the polars version of a builtin.
        check._check_fn = check.get_builtin_check_fn(name)
    return pa.Check.get_backend(lf)(check).apply(PolarsData(lf, key))


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
