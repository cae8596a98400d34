"""The github_billing source against the fake GitHub server: one day's AI-credit usage per
account, paging, the API version header, the legacy endpoint, faults, and the lake rows."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import duckdb
import polars as pl
import pytest

from finops_pipeline.cli import materialize_range
from finops_pipeline.config import load_settings
from finops_pipeline.lake import DataPaths
from finops_pipeline.sources.base import SourceContext
from finops_pipeline.sources.github_billing import GitHubBillingApiSource
from finops_pipeline.transforms.billing import normalize_billing_usage
from finops_pipeline_tests.fake_github import FakeClock, FakeGitHub, Fault
from finops_pipeline_tests.test_github_pipeline import fake_clock_github

TOKEN = "ghs_billingTokenABCDEFGHIJKLMNOPQRSTUVWXY"
D1, D2 = dt.date(2026, 6, 1), dt.date(2026, 6, 2)
MAY = dt.date(2026, 5, 31)  # before AI credits: the premium-request endpoint
CONFIG = """sources:
  github_billing: {orgs: [acme, beta], enterprises: [bigcorp]}
"""


def item(model: str, net: float, product: str = "copilot", **more) -> dict:
    return {"product": product, "sku": "copilot_ai_credit", "model": model,
            "unitType": "ai-credits", "pricePerUnit": 0.01, "grossQuantity": net * 100,
            "grossAmount": net, "discountQuantity": 0, "discountAmount": 0,
            "netQuantity": net * 100, "netAmount": net, **more}


@pytest.fixture
def gh():
    with FakeGitHub(token=TOKEN) as fake:
        fake.add_billing("acme", "2026-06-01", [item(f"model-{n}", 1.0) for n in range(35)])
        fake.add_billing("acme", "2026-06-02", [item("claude-sonnet-4.6", 12.5)])
        fake.add_billing("beta", "2026-06-01", [item("gpt-5", 3.0)])
        fake.add_billing("bigcorp", "2026-06-01", [item("gpt-5", 40.0)], kind="enterprises")
        fake.add_billing("acme", "2026-05-31", [item("claude-sonnet-4", 2.0,
                                                     sku="copilot_premium_request")],
                         endpoint="premium_request")
        yield fake


def settings_for(tmp_path: Path, gh: FakeGitHub, config: str = CONFIG):
    path = tmp_path / "finops.yaml"
    path.write_text(config)
    os.environ.update({"GITHUB_API_URL": gh.api_url, "GITHUB_TOKEN": TOKEN,
                       "FINOPS_CONFIG": str(path)})
    return load_settings(data_dir=tmp_path / "data")


def extract(tmp_path: Path, gh: FakeGitHub, days: list[dt.date]) -> list:
    settings = settings_for(tmp_path, gh)
    ctx = SourceContext(settings, None, tmp_path / "state",
                        {"github": fake_clock_github(FakeClock())}, say=lambda _: None)
    return list(GitHubBillingApiSource().extract(ctx, days))


def test_one_day_of_every_account_every_page_with_the_billing_api_version(tmp_path, gh):
    (day,) = extract(tmp_path, gh, [D1])
    rows = day.frames["billing_usage"]
    assert day.error is None and rows.height == 35 + 1 + 1
    assert rows.group_by("_account_type", "_account").len().sort("_account").rows() == [
        ("organization", "acme", 35), ("organization", "beta", 1), ("enterprise", "bigcorp", 1)]
    acme = gh.requests_to("api", "/organizations/acme/settings/billing/ai_credit/usage")
    assert len(acme) == 2  # 35 items at the default 30 per page
    assert all(r.headers["x-github-api-version"] == "2026-03-10" for r in acme)
    assert "year=2026&month=6&day=1" in acme[0].query
    assert json.loads(rows["_period"][0]) == {"year": 2026, "month": 6, "day": 1}


def test_days_before_ai_credits_read_the_premium_request_endpoint(tmp_path, gh):
    (day,) = extract(tmp_path, gh, [MAY])
    rows = day.frames["billing_usage"]
    assert set(rows["_endpoint"]) == {"premium_request"}
    assert rows.filter(pl.col("_account") == "acme").height == 1


def test_faults_are_retried_and_a_refused_account_keeps_the_day_s_slice(tmp_path, gh):
    path = "/organizations/beta/settings/billing/ai_credit/usage"
    gh.inject(path, Fault.server_error(503), Fault.too_many_requests(retry_after=3))
    (day,) = extract(tmp_path, gh, [D1])
    assert day.error is None and day.frames["billing_usage"].height == 37
    gh.inject(path, Fault.permission_denied())
    d1, d2 = extract(tmp_path, gh, [D1, D2])
    assert d1.frames is None and "permission denied (403)" in d1.error and TOKEN not in d1.error
    assert d2.error is None  # one refused answer does not stop the other days


def test_a_refused_token_stops_asking(tmp_path, gh):
    gh.token = "something-else"
    days = extract(tmp_path, gh, [D1, D2])
    assert [d.frames for d in days] == [None, None]
    assert "401" in days[0].error and TOKEN not in days[0].error
    assert len(gh.requests_to("api")) == 1


def _raw(items: list, period: dict | None = None, account: str = "acme") -> pl.DataFrame:
    period = period if period is not None else {"year": 2026, "month": 6, "day": 1}
    return pl.DataFrame([{
        "_source": f"/organizations/{account}/settings/billing/ai_credit/usage",
        "_line": n, "_raw": json.dumps(i), "_account_type": "organization",
        "_account": account, "_endpoint": "ai_credit", "_period": json.dumps(period)}
        for n, i in enumerate(items, start=1)])


def test_bad_items_are_quarantined_naming_the_field():
    out = normalize_billing_usage({"billing_usage": _raw([
        item("gpt-5", 3.0), item("gpt-5", 3.0),  # the same item twice: a duplicate
        item("m1", 1.0, netAmount=-1), item("m2", 1.0, product=""), ["not", "an", "object"],
        item("m3", 1.0, grossQuantity="lots")])}, D1, "github_billing")["billing_usage"]
    assert out.rows.select("model", "net_amount").rows() == [("gpt-5", 3.0)]
    assert out.duplicates == 1 and out.rows_in == 6
    assert dict(zip(out.rejected["_line"], out.rejected["_reason"], strict=True)) == {
        3: "netAmount: a non-negative number (got '-1')",
        4: "product: is required (missing, null or blank)",
        5: "usage item is not a JSON object",
        6: "grossQuantity: a non-negative number (got 'lots')"}


@pytest.mark.parametrize(("period", "reason"), [
    ({"year": 2026, "month": 6}, "timePeriod has no day: the answer covers the month, not "
                                 "2026-06-01"),
    ({"year": 2026, "month": 6, "day": 2}, "timePeriod 2026-06-02 is not the day asked for, "
                                           "2026-06-01"),
])
def test_an_answer_for_another_period_is_never_filed_under_the_day(period, reason):
    out = normalize_billing_usage({"billing_usage": _raw([item("gpt-5", 3.0)], period)},
                                  D1, "github_billing")["billing_usage"]
    assert out.rows.height == 0 and out.rejected["_reason"].to_list() == [reason]


def test_through_dagster_the_usage_lands_in_fact_billing_usage_idempotently(tmp_path, gh):
    settings = settings_for(tmp_path, gh)
    resources = {"github": fake_clock_github(FakeClock())}
    assert materialize_range(settings, D1, D2, resources=resources)
    warehouse = DataPaths(settings.data_dir).warehouse

    def rows() -> list[tuple]:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return con.sql("SELECT day, account_type, account, model, net_amount "
                           "FROM fact_billing_usage ORDER BY ALL").fetchall()

    first = rows()
    assert len(first) == 38
    assert (D2, "organization", "acme", "claude-sonnet-4.6", 12.5) in first
    assert materialize_range(settings, D1, D2, resources=resources)
    assert rows() == first


def test_reconciliation_matches_models_across_spellings_and_keeps_both_sides():
    from finops_pipeline.config import FileConfig
    from finops_pipeline.transforms.reconciliation import model_key, reconciliation_daily

    spellings = pl.DataFrame({"m": ["Claude Sonnet 4.6", "claude-sonnet-4.6",
                                    "anthropic/claude_sonnet_4.6"]})
    assert spellings.select(model_key(pl.col("m")))["m"].unique().to_list() == [
        "claude-sonnet-4-6"]
    wm = pl.DataFrame([
        {"day": D1, "repo": "acme/api", "model": "claude-sonnet-4.6", "requests": 10,
         "credited_requests": 10, "ai_credits": 600.0, "cost_usd": 9.0},
        {"day": D1, "repo": "acme/web", "model": "claude-sonnet-4.6", "requests": 2,
         "credited_requests": 2, "ai_credits": 100.0, "cost_usd": 1.5},
        {"day": D1, "repo": "acme/web", "model": "gpt-4.1", "requests": 3,
         "credited_requests": 3, "ai_credits": 50.0, "cost_usd": 0.2},  # seen, not billed
        {"day": D1, "repo": "solo/app", "model": "gpt-5", "requests": 1,  # no billing data
         "credited_requests": 0, "ai_credits": None, "cost_usd": 0.1},
    ])
    billing = pl.DataFrame([
        {"day": D1, "account_type": "organization", "account": "acme", "endpoint": "ai_credit",
         "model": "Claude Sonnet 4.6", "net_quantity": 1000.0, "gross_amount": 10.0,
         "net_amount": 10.0},
        {"day": D1, "account_type": "organization", "account": "acme", "endpoint": "ai_credit",
         "model": "GPT-5", "net_quantity": 200.0, "gross_amount": 2.0, "net_amount": 2.0},
        {"day": D1, "account_type": "enterprise", "account": "bigcorp", "endpoint": "ai_credit",
         "model": "GPT-5",
         "net_quantity": 9.0, "gross_amount": 9.0, "net_amount": 9.0},  # not reconciled
    ])
    out = reconciliation_daily(wm, billing, days=(D1, D1), config=FileConfig())
    rows = {r["model"]: r for r in out.iter_rows(named=True)}
    assert set(out["org"]) == {"acme"} and set(rows) == {"Claude Sonnet 4.6", "GPT-5",
                                                         "gpt-4.1"}
    claude = rows["Claude Sonnet 4.6"]
    assert (claude["telemetry_requests"], claude["telemetry_ai_credits"]) == (12, 700.0)
    assert claude["telemetry_billed_usd"] == pytest.approx(7.0)
    assert claude["unexplained_usd"] == pytest.approx(3.0)
    assert claude["unexplained_share"] == pytest.approx(0.3)
    gpt5 = rows["GPT-5"]  # billed, never seen in telemetry
    assert gpt5["telemetry_ai_credits"] is None and gpt5["unexplained_share"] == 1.0
    seen = rows["gpt-4.1"]  # seen, not billed: the telemetry explains more than the bill
    assert seen["billed_net_usd"] == 0.0 and seen["unexplained_usd"] == pytest.approx(-0.5)
    assert seen["unexplained_share"] is None


def test_the_bill_is_reconciled_flagged_and_recommended_through_dagster(tmp_path):
    from finops_pipeline_tests.test_pipeline_e2e import land_run, record

    with FakeGitHub(token=TOKEN) as fake:
        fake.add_billing("acme", "2026-06-01", [item("Claude Sonnet 4.6", 10.0),
                                                item("GPT-5", 2.0)])
        settings = settings_for(tmp_path, fake, "sources:\n  github_billing: {orgs: [acme]}\n")
        landing = settings.data_dir / "landing" / "gh-aw-logs"
        land_run(landing, 31, "2026-06-01T09:00:00Z", "Copilot Agent", "acme/api", [
            record(f"r{n}", provider="copilot", model="claude-sonnet-4.6", inp=1000, cr=0,
                   ai_credits_this_response=c, ai_credits_total=t)
            for n, (c, t) in enumerate([(400.0, 400.0), (200.0, 600.0)])])
        assert materialize_range(settings, D1, D1,
                                 resources={"github": fake_clock_github(FakeClock())})
    with duckdb.connect(str(DataPaths(settings.data_dir).warehouse), read_only=True) as con:
        rec = con.sql("SELECT model, telemetry_ai_credits, billed_net_usd, unexplained_usd, "
                      "unexplained_share FROM reconciliation_daily ORDER BY model").fetchall()
        flags = con.sql("SELECT key, rule, observed FROM anomalies "
                        "WHERE rule = 'billing_unexplained'").fetchall()
        recs = con.sql("SELECT key, current_cost_usd, potential_savings_usd FROM "
                       "recommendations WHERE kind = 'instrument_billed_usage'").fetchall()
    assert rec == [("Claude Sonnet 4.6", 600.0, 10.0, pytest.approx(4.0), pytest.approx(0.4)),
                   ("GPT-5", None, 2.0, 2.0, 1.0)]
    assert flags == [("acme", "billing_unexplained", pytest.approx(0.5))]
    assert recs == [("acme", pytest.approx(6.0), None)]
    report = (settings.data_dir / "reports" / "2026-06-01" / "report.md").read_text()
    section = report.split("## What GitHub billed")[1].split("\n## ")[0]
    assert "$12.00 billed on the day; the telemetry's AI credits explain $6.00, $6.00 (50.0%)" \
        in section
    assert "| acme | Claude Sonnet 4.6 | 600.0 | $6.00 |" in section
    assert "| **Billed by GitHub (AI credits)** | $6.00 |" in report


def test_org_names_match_case_insensitively_and_premium_request_days_are_left_out():
    from finops_pipeline.config import FileConfig
    from finops_pipeline.transforms.reconciliation import reconciliation_daily

    wm = pl.DataFrame([{"day": D1, "repo": "Acme/widgets", "model": "gpt-5", "requests": 5,
                        "credited_requests": 5, "ai_credits": 130.0, "cost_usd": 2.0},
                       {"day": MAY, "repo": "Acme/widgets", "model": "gpt-5", "requests": 4,
                        "credited_requests": 0, "ai_credits": None, "cost_usd": 1.0}])
    billing = pl.DataFrame([
        {"day": D1, "account_type": "organization", "account": "acme", "endpoint": "ai_credit",
         "model": "GPT-5", "net_quantity": 130.0, "gross_amount": 1.3, "net_amount": 1.3},
        {"day": MAY, "account_type": "organization", "account": "acme",
         "endpoint": "premium_request", "model": "GPT-5", "net_quantity": 40.0,
         "gross_amount": 1.6, "net_amount": 1.6}])
    out = reconciliation_daily(wm, billing, days=(MAY, D1), config=FileConfig())
    assert out.select("day", "org", "telemetry_ai_credits", "unexplained_usd").rows() == [
        (D1, "acme", 130.0, pytest.approx(0.0))]  # the bill's spelling; May is per request


def test_a_malformed_time_period_is_a_reason_not_a_crash():
    for period in ({"year": "2026", "month": "6", "day": "1"},):  # numbers as text: fine
        out = normalize_billing_usage({"billing_usage": _raw([item("gpt-5", 3.0)], period)},
                                      D1, "github_billing")["billing_usage"]
        assert out.rows.height == 1
    out = normalize_billing_usage({"billing_usage": _raw([item("gpt-5", 3.0)], {
        "year": "soon", "month": [6], "day": {"d": 1}})}, D1, "github_billing")["billing_usage"]
    assert out.rows.height == 0 and out.rejected["_reason"].item().startswith("timePeriod")


def test_a_blank_token_is_no_token(tmp_path, gh):
    os.environ["GITHUB_TOKEN"] = "   "
    from finops_pipeline.defs.resources import GitHubResource
    assert GitHubResource().resolved_token() is None
