"""What GitHub bills: one day's AI-credit usage per organization, enterprise or user, from the
billing API (schemas/billing.py for the endpoint and its answer).

On when finops.yaml lists `sources.github_billing.orgs`, `.enterprises` or `.users`;
authenticated by GITHUB_TOKEN (an organization's billing needs its `administration:read`, an
enterprise's the enterprise billing scope). Days before `ai_credits_since` are read from the
legacy premium-request endpoint, which has the same shape. A day is delivered only when every
account answered completely, so a failure keeps the day's earlier slice; retries, rate limits
and the token's handling are the GitHub client's (sources/github/client.py). Output:
raw/github_billing/.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence

import polars as pl

from finops_pipeline.config import GitHubBillingSource, Settings
from finops_pipeline.schemas.billing import ACCOUNT_PATHS, BILLING_API_VERSION, ENDPOINTS
from finops_pipeline.schemas.raw import BILLING_USAGE
from finops_pipeline.sources.base import SourceContext, SourceDay, failed_days
from finops_pipeline.sources.github.client import GitHubClient, GitHubError
from finops_pipeline.sources.github.source import fetch_failed

SOURCE = "github_billing"
NO_TOKEN = ("GITHUB_TOKEN is not set: the github_billing source is on ({accounts}) but cannot "
            "authenticate; its earlier data was kept. Set a token that can read the accounts' "
            "billing (administration:read for an organization).")


def accounts(cfg: GitHubBillingSource) -> list[tuple[str, str]]:
    """(account type, name) of every configured account, in a stable order."""
    return ([("organization", o) for o in cfg.orgs] + [("enterprise", e) for e in cfg.enterprises]
            + [("user", u) for u in cfg.users])


def endpoint_for(day: dt.date, cfg: GitHubBillingSource) -> str:
    return "ai_credit" if day >= cfg.ai_credits_since else "premium_request"


def fetch_account_day(client: GitHubClient, account_type: str, account: str, day: dt.date,
                      endpoint: str) -> list[dict]:
    """The raw rows of one account's usage on `day` (every page)."""
    path = f"/{ACCOUNT_PATHS[account_type]}/{account}/{ENDPOINTS[endpoint]}"
    pages = client.paginate(path, {"year": day.year, "month": day.month, "day": day.day},
                            "usageItems", api_version=BILLING_API_VERSION)
    items = list(pages)
    period = json.dumps(pages.envelope.get("timePeriod")) if "timePeriod" in pages.envelope \
        else None
    return [{"_source": path, "_line": n, "_raw": json.dumps(item),
             "_account_type": account_type, "_account": account, "_endpoint": endpoint,
             "_period": period} for n, item in enumerate(items, start=1)]


class GitHubBillingApiSource:
    """AI-credit (and, before them, premium-request) usage billed to organizations,
    enterprises or users, per day, from GitHub's billing API. Output: raw/github_billing/."""

    name = SOURCE
    landing_name = None
    raw_kinds = ("billing_usage",)
    asset_kinds = frozenset({"github", "python"})
    resource_keys = frozenset({"github"})
    off_hint = "no orgs, enterprises or users in finops.yaml sources.github_billing"

    def enabled(self, settings: Settings) -> bool:
        cfg = settings.config.sources.github_billing
        return cfg is not None and bool(accounts(cfg))

    def extract(self, ctx: SourceContext, days: Sequence[dt.date]) -> Iterator[SourceDay]:
        settings = ctx.settings
        cfg = settings.config.sources.github_billing or GitHubBillingSource()
        listed = accounts(cfg)
        names = ", ".join(f"{t} {n}" for t, n in listed)
        access = ctx.resources["github"]
        if not access.resolved_token():
            yield from failed_days(days, NO_TOKEN.format(accounts=names))
            return
        with access.client(settings.github_api_url,
                           max_in_flight=cfg.max_concurrency) as client:
            for i, day in enumerate(days):
                endpoint = endpoint_for(day, cfg)
                try:
                    rows = [row for account_type, account in listed
                            for row in fetch_account_day(client, account_type, account, day,
                                                         endpoint)]
                except GitHubError as exc:
                    undelivered, stop = fetch_failed(exc, day, days[i + 1:])
                    yield from undelivered
                    if stop:
                        return
                    continue
                frame = pl.DataFrame(rows, schema=BILLING_USAGE.schema)
                ctx.say(f"[{i + 1}/{len(days)}] {day} github_billing: {frame.height} items "
                        f"from {endpoint} usage of {names}")
                yield SourceDay(day, {"billing_usage": frame},
                                figures={"items": frame.height, "accounts": len(listed)})
