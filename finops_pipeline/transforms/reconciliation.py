"""How much of GitHub's bill the telemetry explains, per day, organization and model.

Telemetry: `kpi_workflow_model_daily`, the requests' AI credits (as the api-proxy wrote them)
and their list-price cost, per repo owner (the organization, matched case-insensitively as
GitHub does; `org` shows the bill's spelling) and model. Bill: `fact_billing_usage` AI-credit
items of organizations (enterprise and user accounts are kept in the fact table but not
reconciled: their usage spans organizations; premium-request days, before AI credits, are
priced per request and have no credits to compare). Per (day, org, model):

    telemetry_billed_usd = telemetry_ai_credits x $0.01
    unexplained_usd      = billed_net_usd - telemetry_billed_usd
    unexplained_share    = unexplained_usd / billed_net_usd        (null when nothing billed)

Only organizations with billing data that day get rows; among them a model billed but never
seen in telemetry gets its row (telemetry null), and a model seen but not billed too (billed
0). A negative unexplained amount means the telemetry's credits exceed the bill (a discount, an
included allowance). Model names are matched case-insensitively with spaces, dots and
underscores as hyphens and any `vendor/` prefix dropped, so the bill's "Claude Sonnet 4.6"
meets the telemetry's `claude-sonnet-4.6`; `model` shows the bill's spelling where there is one.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from finops_pipeline.config import FileConfig
from finops_pipeline.schemas.token_usage import USD_PER_AI_CREDIT

RECONCILIATION_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(), "org": pl.String(), "model": pl.String(),
    "telemetry_requests": pl.Int64(), "credited_requests": pl.Int64(),
    "telemetry_ai_credits": pl.Float64(), "telemetry_billed_usd": pl.Float64(),
    "telemetry_cost_usd": pl.Float64(), "billed_quantity": pl.Float64(),
    "billed_gross_usd": pl.Float64(), "billed_net_usd": pl.Float64(),
    "unexplained_usd": pl.Float64(), "unexplained_share": pl.Float64(),
}
c = pl.col


def model_key(model: pl.Expr) -> pl.Expr:
    """The spelling-free key two model names are matched on."""
    return (model.fill_null("(none)").str.to_lowercase().str.strip_chars()
            .str.replace(r"^[a-z0-9_-]+/", "").str.replace_all(r"[\s._]+", "-"))


def reconciliation_daily(workflow_model_daily: pl.DataFrame, billing: pl.DataFrame, *,
                         days: tuple[dt.date, dt.date], config: FileConfig) -> pl.DataFrame:
    """Rows of `reconciliation_daily` for `days` (RECONCILIATION_SCHEMA), by day, org, model."""
    in_days = c("day").cast(pl.Date).is_between(*days)
    telemetry = (
        workflow_model_daily.filter(in_days)
        .with_columns(c("day").cast(pl.Date),
                      c("repo").str.split("/").list.first().str.to_lowercase().alias("_org"),
                      model_key(c("model")).alias("_key"))
        .group_by("day", "_org", "_key").agg(
            c("model").first().alias("_telemetry_model"),
            c("requests").sum().cast(pl.Int64).alias("telemetry_requests"),
            c("credited_requests").sum().cast(pl.Int64),
            pl.when(c("ai_credits").is_not_null().any()).then(c("ai_credits").sum())
            .alias("telemetry_ai_credits"),
            pl.when(c("cost_usd").is_not_null().any()).then(c("cost_usd").sum())
            .alias("telemetry_cost_usd"),
        )
    )
    bill = (
        billing.filter(in_days, c("account_type") == "organization",
                       c("endpoint") == "ai_credit")
        .with_columns(c("day").cast(pl.Date), c("account").str.to_lowercase().alias("_org"),
                      model_key(c("model")).alias("_key"))
        .group_by("day", "_org", "_key").agg(
            c("account").first().alias("org"),
            c("model").drop_nulls().first().alias("_billed_model"),
            c("net_quantity").sum().alias("billed_quantity"),
            c("gross_amount").sum().alias("billed_gross_usd"),
            c("net_amount").sum().alias("billed_net_usd"),
        )
    )
    billed_orgs = bill.select("day", "_org", "org").unique(["day", "_org"])
    out = (
        bill.drop("org").join(telemetry.join(billed_orgs.drop("org"), on=["day", "_org"],
                                             how="semi"),
                              on=["day", "_org", "_key"], how="full", coalesce=True)
        .join(billed_orgs, on=["day", "_org"], how="left")
        .with_columns(
            pl.coalesce("_billed_model", "_telemetry_model", c("_key")).alias("model"),
            c("telemetry_requests", "credited_requests").fill_null(0),
            c("billed_quantity", "billed_gross_usd", "billed_net_usd").fill_null(0.0),
            (c("telemetry_ai_credits") * USD_PER_AI_CREDIT).alias("telemetry_billed_usd"),
        )
        .with_columns(
            (c("billed_net_usd") - c("telemetry_billed_usd").fill_null(0.0))
            .alias("unexplained_usd"),
        )
        .with_columns(
            pl.when(c("billed_net_usd") > 0)
            .then(c("unexplained_usd") / c("billed_net_usd")).alias("unexplained_share"),
        )
    )
    return (out.select([c(k).cast(v) for k, v in RECONCILIATION_SCHEMA.items()])
            .sort("day", "org", "model"))
