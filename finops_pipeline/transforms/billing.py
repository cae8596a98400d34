"""Raw billing usage items -> the `billing_usage` rows of one day (schemas/billing.py).

Every item ends valid, quarantined with a reason naming the field, or a counted duplicate:

* an item that is not a JSON object, lacks `product` or `netAmount`, or has an amount or
  quantity that is not a non-negative number is quarantined;
* an answer whose `timePeriod` is not the day asked for (another day, or the month: no `day`)
  is quarantined item by item: a month's total filed under one day would count it again on
  every day;
* the same (account, endpoint, product, sku, model, unit type) twice is a duplicate: the first
  item is kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import polars as pl

from finops_pipeline.schemas.billing import (
    BILLING_USAGE_KEY,
    BILLING_USAGE_SCHEMA,
    ITEM_FIELDS,
    NUMBER_FIELDS,
    BillingUsage,
    RawBillingItem,
)
from finops_pipeline.transforms.accounting import Normalized, dedupe, to_quarantine
from finops_pipeline.transforms.json_extract import extract_fields
from finops_pipeline.transforms.validation import split_valid

c = pl.col


def _period_reason(day: dt.date) -> pl.Expr:
    def part(name: str) -> pl.Expr:
        # a path match, not a decode: a part of the wrong form is null, never an error
        return c("_period").str.json_path_match(f"$.{name}").cast(pl.Int64, strict=False)

    asked = pl.lit(day.isoformat())
    answered = pl.format("{}-{}-{}", part("year"),
                         part("month").cast(pl.String).str.zfill(2),
                         part("day").cast(pl.String).str.zfill(2))
    return (
        pl.when(c("_period").is_null()).then(pl.lit("the answer has no timePeriod"))
        .when(part("day").is_null())
        .then(pl.lit("timePeriod has no day: the answer covers the month, not ") + asked)
        .when(answered.is_null() | (answered != asked))
        .then(pl.lit("timePeriod ") + answered + pl.lit(" is not the day asked for, ") + asked)
    )


def normalize_billing_usage(raw: Mapping[str, pl.DataFrame], day: dt.date,
                            source: str) -> dict[str, Normalized]:
    """The `billing_usage` dataset of one source's day."""
    items = raw["billing_usage"]
    fields = extract_fields(items, "_raw", {f: (f"$.{f}",) for f in ITEM_FIELDS})
    fields = fields.with_columns(
        pl.when(c("_json_type") != "OBJECT")
        .then(pl.lit("usage item is not a JSON object"))
        .otherwise(_period_reason(day)).alias("_reason"))
    pre = fields.filter(c("_reason").is_not_null())
    valid, bad = split_valid(fields.filter(c("_reason").is_null()).drop("_reason"),
                             RawBillingItem)
    rows = valid.select(
        pl.lit(day).alias("day"), pl.lit(source).alias("source"),
        c("_account_type").alias("account_type"), c("_account").alias("account"),
        c("_endpoint").alias("endpoint"),
        *[c(f).cast(pl.Float64).alias(col) if f in NUMBER_FIELDS else c(f).alias(col)
          for f, col in ITEM_FIELDS.items()],
        "_source", "_line",
    ).select([c(k).cast(v) for k, v in BILLING_USAGE_SCHEMA.items()])
    rows, inconsistent = split_valid(rows, BillingUsage)
    rows, duplicates = dedupe(rows, list(BILLING_USAGE_KEY), ["_source", "_line"])
    rejected = pl.concat([pre, bad, inconsistent.join(items.select("_source", "_line", "_raw"),
                                                       on=["_source", "_line"], how="left")],
                         how="diagonal_relaxed")
    return {"billing_usage": Normalized(
        rows.sort(*BILLING_USAGE_KEY, nulls_last=True), to_quarantine(rejected, day, source),
        items.height, duplicates, 0)}
