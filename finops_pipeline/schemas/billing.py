"""GitHub's billing usage (AI credits, and premium requests before them): the raw item and
the `billing_usage` lake dataset.

`GET /organizations/{org}/settings/billing/ai_credit/usage?year=&month=&day=` (also under
`/users/{username}/` and `/enterprises/{enterprise}/`; X-GitHub-Api-Version 2026-03-10)
answers `timePeriod{year, month, day}`, the account and `usageItems[]` with `product`, `sku`,
`model`, `unitType`, `pricePerUnit`, `grossQuantity`, `grossAmount`, `discountQuantity`,
`discountAmount`, `netQuantity`, `netAmount`. The legacy `.../premium_request/usage` has the
same shape for the months before AI credits.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

from finops_pipeline.schemas import checks

BILLING_API_VERSION = "2026-03-10"
ENDPOINTS = {"ai_credit": "settings/billing/ai_credit/usage",
             "premium_request": "settings/billing/premium_request/usage"}
ACCOUNT_PATHS = {"organization": "organizations", "enterprise": "enterprises",
                 "user": "users"}
#: usageItems[] field -> column.
ITEM_FIELDS = {"product": "product", "sku": "sku", "model": "model", "unitType": "unit_type",
               "pricePerUnit": "price_per_unit", "grossQuantity": "gross_quantity",
               "grossAmount": "gross_amount", "discountQuantity": "discount_quantity",
               "discountAmount": "discount_amount", "netQuantity": "net_quantity",
               "netAmount": "net_amount"}
NUMBER_FIELDS = ("pricePerUnit", "grossQuantity", "grossAmount", "discountQuantity",
                 "discountAmount", "netQuantity", "netAmount")

BILLING_USAGE_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(), "source": pl.String(), "account_type": pl.String(),
    "account": pl.String(), "endpoint": pl.String(), "product": pl.String(),
    "sku": pl.String(), "model": pl.String(), "unit_type": pl.String(),
    "price_per_unit": pl.Float64(), "gross_quantity": pl.Float64(),
    "gross_amount": pl.Float64(), "discount_quantity": pl.Float64(),
    "discount_amount": pl.Float64(), "net_quantity": pl.Float64(), "net_amount": pl.Float64(),
    "_source": pl.String(), "_line": pl.Int64(),
}
BILLING_USAGE_KEY = ("account_type", "account", "endpoint", "product", "sku", "model",
                     "unit_type")


class RawBillingItem(pa.DataFrameModel):
    """A usageItems[] element as extracted text."""

    product: str = pa.Field(nullable=False)
    pricePerUnit: str = pa.Field(nullable=True)  # noqa: N815 (the API's names)
    grossQuantity: str = pa.Field(nullable=True)  # noqa: N815
    grossAmount: str = pa.Field(nullable=True)  # noqa: N815
    discountQuantity: str = pa.Field(nullable=True)  # noqa: N815
    discountAmount: str = pa.Field(nullable=True)  # noqa: N815
    netQuantity: str = pa.Field(nullable=True)  # noqa: N815
    netAmount: str = pa.Field(nullable=False)  # noqa: N815

    @pa.check("product", name="not blank")
    def _not_blank(cls, data: PolarsData) -> pl.LazyFrame:
        return checks.is_not_blank(data)

    @pa.check(*NUMBER_FIELDS, name="a non-negative number")
    def _number(cls, data: PolarsData) -> pl.LazyFrame:
        return checks.matches(data, checks.NON_NEGATIVE_NUMBER)

    class Config:
        strict = False


class BillingUsage(pa.DataFrameModel):
    """The `billing_usage` lake dataset: one row per billed item of an account and day."""

    day: pl.Date = pa.Field(nullable=False)
    account_type: str = pa.Field(nullable=False, isin=list(ACCOUNT_PATHS))
    account: str = pa.Field(nullable=False)
    endpoint: str = pa.Field(nullable=False, isin=list(ENDPOINTS))
    product: str = pa.Field(nullable=False)
    net_amount: pl.Float64 = pa.Field(nullable=False, ge=0)

    class Config:
        strict = False
