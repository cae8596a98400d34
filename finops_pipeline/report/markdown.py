"""The daily report as GitHub Markdown: seed 003's "Token Usage Report: YYYY-MM-DD".

`render_report(data, charts, previous, not_drawn)` is a pure function of the warehouse rows
(`report/data.py`), the chart files drawn beside the report, the previous report's link, and the
charts left undrawn (a note in their place says how to draw them).
Sections, in order: overview, workflow summary, optimization opportunities, anomalies,
per-workflow details (`<details>` blocks), workflows without token data, agents and models
(with showback by team), historical trend, previous report. A day without data gets a short
report saying so and what is missing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from finops_pipeline.report import format as f
from finops_pipeline.report.data import HISTORY_DAYS, ReportData

TITLE = "Token Usage Report: {day}"
SEVERITY_ICON = {"critical": "🔴", "warning": "🟠", "info": "🔵"}
#: chart name -> (file name, alt text); the renderer shows those that were drawn.
CHARTS = {
    "history": ("tokens_cost_30d.png", f"Tokens and cost per day, last {HISTORY_DAYS} days"),
    "top_workflows": ("top_workflows.png", "Top workflows by cost"),
    "model_mix": ("model_mix.png", "Model mix by cost"),
    "budget_burn": ("budget_burn.png", "Budget burn by team, month to date"),
}
#: In place of a chart the run did not draw (only the last days of a long run get charts).
NOT_DRAWN = ("> 📈 *{alt}*: not drawn (a materialization draws charts for the last "
             "`report.chart_days` days of its range only); `finops report --date {day}` "
             "draws it.")


def _rows(df: pl.DataFrame) -> list[dict[str, Any]]:
    return df.to_dicts()


@dataclass(frozen=True)
class _Charts:
    """The charts of a report: drawn (name -> link), or not drawn though the day has data."""

    day: dt.date
    drawn: Mapping[str, str]
    not_drawn: Collection[str]

    def image(self, name: str) -> list[str]:
        if name in self.drawn:
            return [f"![{CHARTS[name][1]}]({self.drawn[name]})", ""]
        if name in self.not_drawn:
            return [NOT_DRAWN.format(alt=CHARTS[name][1], day=self.day.isoformat()), ""]
        return []


def _group(df: pl.DataFrame, *keys: str) -> dict[tuple, list[dict[str, Any]]]:
    """The rows of `df` by their `keys`, in order (polars' partition_by costs milliseconds per
    call, which a year of reports pays thousands of times)."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in df.to_dicts():
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    return groups


def _first(df: pl.DataFrame) -> dict[str, Any]:
    return df.row(0, named=True) if df.height else {}


def _overview(data: ReportData) -> list[str]:
    today = _first(data.overview)
    prev = _first(data.previous_7d)
    days = prev.get("days") or 0

    def avg(name: str) -> float | None:
        value = prev.get(name)
        return value / days if days and value is not None else None

    def versus(name: str) -> str:
        before = avg(name)
        now = today.get(name)
        if not before or now is None:
            return f.DASH
        return f.change(100 * (now - before) / before)

    prev_hit = None
    if prev.get("input_tokens") is not None and prev.get("cache_read_tokens") is not None:
        denominator = prev["input_tokens"] + prev["cache_read_tokens"]
        prev_hit = prev["cache_read_tokens"] / denominator if denominator else None
    rows = [
        ("Runs", f.integer(today.get("runs")), f.ratio(avg("runs")), versus("runs")),
        ("Instrumented runs (with token data)", f.integer(today.get("instrumented_runs")),
         f.DASH, f.DASH),
        ("Requests", f.integer(today.get("requests")), f.ratio(avg("requests")),
         versus("requests")),
        ("Input tokens (uncached)", f.tokens(today.get("input_tokens")), f.DASH, f.DASH),
        ("Output tokens", f.tokens(today.get("output_tokens")), f.DASH, f.DASH),
        ("Cache read tokens", f.tokens(today.get("cache_read_tokens")), f.DASH, f.DASH),
        ("Cache write tokens", f.tokens(today.get("cache_write_tokens")), f.DASH, f.DASH),
        ("**Total tokens**", f.tokens(today.get("total_tokens")),
         f.tokens(avg("total_tokens")), versus("total_tokens")),
        ("**Cost (API list prices)**", f.usd(today.get("cost_usd")), f.usd(avg("cost_usd")),
         versus("cost_usd")),
    ]
    if today.get("ai_credits") is not None:
        rows.append(("AI credits in the requests (billed at $0.01)",
                     f"{today['ai_credits']:,.1f}", f.DASH, f.DASH))
        rows.append(("**Billed by GitHub (AI credits)**", f.usd(today.get("billed_usd")),
                     f.DASH, f.DASH))
    if data.ai_credits is not None:
        rows.append(("AI credits gh-aw reported for the runs", f"{data.ai_credits:,.1f}",
                     f.DASH, f.DASH))
    rows.append(("Cache hit rate", f.pct(today.get("cache_hit_rate")), f.pct(prev_hit),
                 f.DASH))
    out = ["## Overview", "",
           f.table(["", data.day.isoformat(), f"daily average, previous {days} days",
                    "change"], rows, "lrrr"), ""]
    unpriced = today.get("unpriced_requests") or 0
    if unpriced:
        out += [f"⚠️ {unpriced:,} requests could not be priced (unknown model): their cost "
                "is not in the total.", ""]
    totals = _first(data.agent_totals)
    if totals.get("agents"):
        out += [f"Multi-agent apps and traced services: {f.integer(totals['agents'])} agents, "
                f"{f.integer(totals['calls'])} agent calls, {f.tokens(totals['total_tokens'])} "
                f"tokens, {f.usd(totals['cost_usd'])} (top agents below).", ""]
    return out


def _workflow_summary(data: ReportData, charts: _Charts) -> list[str]:
    out = ["## Workflow summary", ""]
    if data.workflows.height == 0:
        return out + ["No GitHub workflow ran on this day.", ""]
    billed = data.workflows["billed_usd"].null_count() < data.workflows.height
    rows = [(f"`{w['repo']}:{w['workflow']}`", f.integer(w["runs"]),
             _measured(w, f.tokens(w["total_tokens"])), _measured(w, f.usd(w["cost_usd"])),
             *([f.usd(w["billed_usd"])] if billed else []),
             f.usd(w["avg_cost_per_run"]),
             f.pct(w["cache_hit_rate"]), f.ratio(w["io_ratio"]), w["top_model"] or f.DASH,
             f.arrow(w["cost_change_pct_7d"], w["cost_prev_7d"]))
            for w in _rows(data.workflows)]
    headers = ["Workflow", "Runs", "Tokens", "Cost", *(["Billed"] if billed else []),
               "Cost/run", "Cache hit", "I/O ratio", "Top model", "Cost, 7d vs prev 7d"]
    out += [f.table(headers, rows, "lrrr" + ("r" if billed else "") + "rrrlr"), ""]
    if billed:
        out += ["Cost is the API list price of the tokens; Billed is what GitHub bills in AI "
                "credits ($0.01 each) where the requests reported them.", ""]
    return out + charts.image("top_workflows")


def _measured(workflow: dict[str, Any], text: str) -> str:
    """A workflow's tokens or cost; unknown (a dash, not 0) when no run had token data."""
    return text if workflow.get("instrumented_runs") else f.DASH


def _plural(n: int | None, word: str) -> str:
    return f"{f.integer(n)} {word}" + ("" if n == 1 else "s")


def _evidence(text: str | None) -> str:
    try:
        evidence = json.loads(text or "{}")
    except json.JSONDecodeError:
        return f.cell(text)
    parts = []
    for key, value in evidence.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            shown = value
        elif isinstance(value, int) or abs(value) >= 1000:
            shown = f"{value:,.0f}"
        else:
            shown = f"{value:.4g}"
        parts.append(f"{key}={shown}")
    return ", ".join(parts)


def _recommendations(data: ReportData) -> list[str]:
    out = ["## Optimization opportunities", ""]
    if data.recommendations.height == 0:
        return out + ["No recommendation for the 7 days to this day.", ""]
    total = data.recommendations["potential_savings_usd"].sum()
    out += [f"The top {data.recommendations.height} of the 7 days to {data.day}; each saving "
            f"assumes its change alone (together at most {f.usd(total)}).", ""]
    for r in _rows(data.recommendations):
        pad = " " * (len(str(r["rank"])) + 2)  # continuation lines inside the list item
        out += [f"{r['rank']}. **{f.usd(r['potential_savings_usd'])}** of "
                f"{f.usd(r['current_cost_usd'])} · {r['priority']} · `{r['kind']}` · "
                f"`{r['key']}`  ",
                f"{pad}{r['recommendation']}",
                f"{pad}<details><summary>evidence</summary>",
                "",
                f"{pad}{_evidence(r['evidence'])}",
                f"{pad}</details>",
                ""]
    return out


def _anomalies(data: ReportData) -> list[str]:
    out = ["## Anomalies", ""]
    if data.anomalies.height == 0:
        return out + ["No anomaly on this day.", ""]
    rows = [(f"{SEVERITY_ICON.get(a['severity'], '')} {a['severity']}", a["scope"],
             f"`{a['key']}`", f"`{a['rule']}`",
             _number(a["metric"], a["observed"]), _number(a["metric"], a["expected"]),
             a["message"]) for a in _rows(data.anomalies)]
    return out + [f.table(["Severity", "Scope", "Key", "Rule", "Observed", "Expected",
                           "What it means"], rows, "llllrrl"), ""]


def _number(metric: str | None, value: float | None) -> str:
    if value is None:
        return f.DASH
    metric = metric or ""
    if "cost" in metric:
        return f.usd(value)
    if metric.endswith("_rate"):
        return f.pct(value)
    if "tokens" in metric or metric in ("small_requests",):
        return f.tokens(value)
    return f.ratio(value)


def _reconciliation(data: ReportData) -> list[str]:
    if data.reconciliation.height == 0:
        return []
    r = data.reconciliation
    billed = r["billed_net_usd"].sum()
    unexplained = r["unexplained_usd"].sum()
    share = unexplained / billed if billed else None
    out = ["## What GitHub billed", "",
           f"GitHub's billing API: {f.usd(billed)} billed on the day; the telemetry's AI "
           f"credits explain {f.usd(billed - unexplained)}, {f.usd(unexplained)} "
           f"({f.pct(share)}) has no recorded request behind it.", "",
           f.table(["Organization", "Model", "Credits seen", "Seen, billed value",
                    "Seen, list price", "Billed", "Unexplained", "Share"],
                   [(x["org"], x["model"], f.ratio(x["telemetry_ai_credits"]),
                     f.usd(x["telemetry_billed_usd"]), f.usd(x["telemetry_cost_usd"]),
                     f.usd(x["billed_net_usd"]), f.usd(x["unexplained_usd"]),
                     f.pct(x["unexplained_share"])) for x in _rows(r)], "llrrrrrr"), ""]
    return out


def _workflow_details(data: ReportData) -> list[str]:
    out = ["## Per-workflow details", ""]
    if data.workflows.height == 0:
        return out + ["No GitHub workflow ran on this day.", ""]
    mix = _group(data.model_mix, "repo", "workflow")
    runs = _group(data.top_runs, "repo", "workflow")
    flags = _group(data.flags, "key")
    for w in _rows(data.workflows):
        key = (w["repo"], w["workflow"])
        name = f"{w['repo']}:{w['workflow']}"
        out += [f"<details><summary><b>{name}</b> · {_measured(w, f.usd(w['cost_usd']))} · "
                f"{_plural(w['runs'], 'run')} · "
                f"{_measured(w, f.tokens(w['total_tokens']))} tokens</summary>", ""]
        out += [f"Per run: {f.ratio(w['avg_requests_per_run'])} requests, "
                f"{f.tokens(w['avg_tokens_per_run'])} tokens, {f.usd(w['avg_cost_per_run'])},"
                f" {f.ratio(w['avg_turns_per_run'])} turns. Per request: "
                f"{f.integer(w['avg_duration_ms_per_request'])} ms. Errors: "
                f"{f.pct(w['error_rate'])} of {f.integer(w['requests'])} requests; "
                f"{_plural(w['failed_runs'], 'failed run')}; {w['instrumented_runs']} of "
                f"{_plural(w['runs'], 'run')} with token data.", ""]
        models = mix.get(key)
        if models:
            out += ["**Model mix**", "",
                    f.table(["Provider", "Model", "Requests", "Tokens", "Cost"],
                            [(m["provider"], m["model"], f.integer(m["requests"]),
                              f.tokens(m["total_tokens"]), f.usd(m["cost_usd"]))
                             for m in models], "llrrr"), ""]
        flagged = flags.get((name,))
        if flagged:
            out += ["**Flags**", ""]
            out += [f"- {SEVERITY_ICON.get(a['severity'], '')} `{a['rule']}`: {a['message']}"
                    for a in flagged]
            out += [""]
        expensive = runs.get(key)
        if expensive:
            out += ["**Most expensive runs**", "",
                    f.table(["Run", "Conclusion", "Requests", "Tokens", "Cost", "Turns",
                             "Model"],
                            [(_run_link(r), r["conclusion"] or f.DASH,
                              *((f.integer(r["requests"]), f.tokens(r["total_tokens"]),
                                 f.usd(r["cost_usd"])) if r["has_token_data"]
                                else ("no token data", f.DASH, f.DASH)),
                              f.integer(r["turns"]), r["top_model"] or f.DASH)
                             for r in expensive], "llrrrrl"), ""]
        out += ["</details>", ""]
    return out


def _run_link(run: dict[str, Any]) -> str:
    label = f"#{run['run_id']}" + (f" (attempt {run['run_attempt']})"
                                   if (run["run_attempt"] or 1) > 1 else "")
    return f"[{label}]({run['url']})" if run.get("url") else label


def _uninstrumented(data: ReportData) -> list[str]:
    out = ["## Workflows without token data", ""]
    if data.uninstrumented.height == 0:
        if data.workflows.height:
            return out + ["Every run of the day has token data.", ""]
        return out + ["No GitHub workflow ran on this day.", ""]
    out += ["Runs without a `token-usage.jsonl` (not instrumented with the api-proxy, or the "
            "artifact was missing): their cost is unknown, not zero.", "",
            f.table(["Workflow", "Runs", "With token data", "Without"],
                    [(f"`{u['repo']}:{u['workflow']}`", u["runs"], u["instrumented_runs"],
                      u["missing"]) for u in _rows(data.uninstrumented)], "lrrr"), ""]
    return out


def _agents_and_models(data: ReportData, charts: _Charts) -> list[str]:
    out = ["## Agents and models", ""]
    if data.models.height:
        out += ["### Models", "",
                f.table(["Provider", "Model", "Requests", "Tokens", "Cost", "Share of cost",
                         "Cache hit", "Workflows"],
                        [(m["provider"], m["model"], f.integer(m["requests"]),
                          f.tokens(m["total_tokens"]), f.usd(m["cost_usd"]),
                          f.pct(m["share_of_cost"]), f.pct(m["cache_hit_rate"]),
                          f.integer(m["workflows"])) for m in _rows(data.models)],
                        "llrrrrrr"), ""]
        out += charts.image("model_mix")
    if data.agents.height:
        out += ["### Agents (multi-agent apps and traced services)", "",
                f.table(["Agent", "Calls", "Tokens in", "Tokens out", "Cache read", "Cost",
                         "Models", "Success", "p95 latency"],
                        [(a["agent_name"], f.integer(a["calls"]),
                          f.tokens(a["input_tokens"]), f.tokens(a["output_tokens"]),
                          f.tokens(a["cache_read_tokens"]), f.usd(a["cost_usd"]),
                          a["models_used"] or f.DASH, f.pct(a["success_rate"], 0),
                          f.with_unit(a["latency_p95_ms"], "ms"))
                         for a in _rows(data.agents)], "lrrrrrlrr"), ""]
    if data.app_workflows.height:
        out += ["### App workflows", "",
                f.table(["Workflow", "Executions", "Succeeded", "Failed", "Open", "Cost",
                         "Cost/execution", "Avg duration"],
                        [(w["workflow_name"], w["executions"], w["succeeded"], w["failed"],
                          w["open"], f.usd(w["cost_usd"]), f.usd(w["avg_cost_per_execution"]),
                          f.with_unit(w["avg_duration_seconds"], "s", f.ratio))
                         for w in _rows(data.app_workflows)], "lrrrrrrr"), ""]
    if data.teams.height:
        out += ["### Showback by team", "",
                f.table(["Team", "Tokens", "Cost", "Tasks", "Month to date", "MTD budget",
                         "MTD variance", "Efficiency"],
                        [("**total**" if t["level"] == "total" else t["team"],
                          f.tokens(t["total_tokens"]), f.usd(t["cost_usd"]),
                          f.integer(t["tasks"]), f.usd(t["mtd_cost_usd"]),
                          f.usd(t["mtd_budget_usd"]), _variance(t["mtd_variance_usd"]),
                          f.ratio(t["efficiency_score"])) for t in _rows(data.teams)],
                        "lrrrrrrr"), ""]
        out += charts.image("budget_burn")
    if len(out) == 2:
        out += ["No model, agent or team data on this day.", ""]
    return out


def _variance(x: float | None) -> str:
    if x is None:
        return f.DASH
    return f"🔺 {f.usd(x)} over" if x > 0 else f"{f.usd(-x)} under"


def _history(data: ReportData, charts: _Charts) -> list[str]:
    out = ["## Historical trend", ""]
    out += charts.image("history")
    recent = data.history.tail(7)
    if recent.height:
        out += ["Last 7 days (GitHub workflows):", "",
                f.table(["Day", "Runs", "Requests", "Tokens", "Cost", "Cache hit"],
                        [(h["day"].isoformat(), f.integer(h["runs"]), f.integer(h["requests"]),
                          f.tokens(h["total_tokens"]), f.usd(h["cost_usd"]),
                          f.pct(h["cache_hit_rate"])) for h in _rows(recent)],
                        "lrrrrr"), ""]
    return out


def _previous(previous: tuple[dt.date, str] | None) -> list[str]:
    if previous is None:
        return ["Previous report: none yet.", ""]
    day, link = previous
    return [f"Previous report: [{day.isoformat()}]({link})", ""]


def _empty_day(data: ReportData, previous: tuple[dt.date, str] | None) -> list[str]:
    out = [f"No token usage was recorded for {data.day} (UTC): no GitHub workflow run and no "
           "agent call belongs to this day.", "", "## What is missing", ""]
    if data.ingest.height:
        out += ["What each source delivered for the day:", "",
                f.table(["Source", "Dataset", "Rows read", "Valid", "Quarantined",
                         "Skipped runs"],
                        [(i["source"], i["dataset"], f.integer(i["rows_in"]),
                          f.integer(i["rows_valid"]), f.integer(i["rows_quarantined"]),
                          f.integer(i["runs_skipped"])) for i in _rows(data.ingest)],
                        "llrrrr"), ""]
    else:
        out += ["No source delivered anything for this day: it may not have been "
                "materialized yet (`finops materialize --date "
                f"{data.day}`), or no repository or landing folder is configured.", ""]
    if data.last_day_with_data:
        out += [f"The last earlier day with data: {data.last_day_with_data}.", ""]
    return out + _previous(previous)


def render_report(data: ReportData, charts: Mapping[str, str],
                  previous: tuple[dt.date, str] | None, not_drawn: Collection[str] = ()) -> str:
    """The report's Markdown.

    Args:
        data: the warehouse rows of the day.
        charts: chart name (`CHARTS`) -> the link to its image, for the charts drawn.
        previous: the previous report's day and link, if there is one.
        not_drawn: charts (names of `CHARTS`) the day has data for but that were not drawn:
            each gets a one-line note in its place saying how to draw it.
    """
    shown = _Charts(data.day, charts, not_drawn)
    lines = [f"# {TITLE.format(day=data.day.isoformat())}", ""]
    if not data.has_data:
        return "\n".join(lines + _empty_day(data, previous)).rstrip() + "\n"
    lines += [f"Token usage and cost of AI agents on {data.day} (UTC), from the finops "
              "warehouse. Costs are API list prices (genai-prices, cache-aware).", ""]
    for section in (_overview(data), _workflow_summary(data, shown), _recommendations(data),
                    _anomalies(data), _reconciliation(data), _workflow_details(data),
                    _uninstrumented(data),
                    _agents_and_models(data, shown), _history(data, shown),
                    _previous(previous)):
        lines += section
    return "\n".join(lines).rstrip() + "\n"
