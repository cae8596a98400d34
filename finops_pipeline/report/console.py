"""The console summary printed at the end of `finops materialize` and `finops demo`, in seed
004's layout: per workflow and per agent, tokens in / out / cache and cost; totals; averages.

Read from the warehouse (kpi_workflow_daily, kpi_agent_daily, history_daily) for a range of
days; plain text, 100 columns at most.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from finops_pipeline.report import format as f

WIDTH = 100
TOP = 10
_NAME = 34


def _line(name: str, inp: float, out: float, cache: float, total: float,
          cost: float | None) -> str:
    name = name if len(name) <= _NAME else name[: _NAME - 1] + "…"
    return (f"{name:>{_NAME}}: {f.tokens(inp):>7} in + {f.tokens(out):>7} out + "
            f"{f.tokens(cache):>7} cache = {f.tokens(total):>7} total ({f.usd(cost)})")


def _section(con: duckdb.DuckDBPyConnection, title: str, sql: str,
             days: list[dt.date]) -> list[str]:
    rows = con.sql(sql, params=days).fetchall()
    if not rows:
        return []
    out = [title]
    for name, inp, outp, cache, total, cost in rows[:TOP]:
        out.append(_line(name, inp, outp, cache, total, cost))
    if len(rows) > TOP:
        rest = rows[TOP:]
        known = [r[5] for r in rest if r[5] is not None]
        out.append(_line(f"({len(rest)} more)", sum(r[1] for r in rest), sum(r[2] for r in rest),
                         sum(r[3] for r in rest), sum(r[4] for r in rest),
                         sum(known) if known else None))
    out.append("-" * WIDTH)
    totals = [sum(r[i] for r in rows) for i in range(1, 5)]
    costs = [r[5] for r in rows if r[5] is not None]
    out.append(_line("TOTAL", *totals, sum(costs) if costs else None))
    return out


def console_summary(con: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date) -> str:
    """The summary of days `start`..`end` as text (empty sections left out)."""
    days = [start, end]
    rule = "=" * WIDTH
    lines = [rule, f"TOKEN USAGE SUMMARY  {start}..{end}", rule]
    workflows = _section(con, "GitHub workflows", """
        SELECT repo || ':' || workflow, sum(input_tokens)::DOUBLE, sum(output_tokens)::DOUBLE,
               sum(cache_read_tokens + cache_write_tokens)::DOUBLE, sum(total_tokens)::DOUBLE,
               sum(cost_usd)
        FROM kpi_workflow_daily WHERE day BETWEEN ? AND ? AND instrumented_runs > 0
        GROUP BY 1 ORDER BY sum(cost_usd) DESC NULLS LAST, 1""", days)
    agents = _section(con, "Agents (multi-agent apps and traced services)", """
        SELECT agent_name, sum(input_tokens)::DOUBLE, sum(output_tokens)::DOUBLE,
               sum(cache_read_tokens + cache_write_tokens)::DOUBLE, sum(total_tokens)::DOUBLE,
               sum(cost_usd)
        FROM kpi_agent_daily WHERE day BETWEEN ? AND ?
        GROUP BY 1 ORDER BY sum(cost_usd) DESC NULLS LAST, 1""", days)
    if not workflows and not agents:
        return "\n".join([*lines, f"No token usage recorded for {start}..{end}.", rule])
    lines += workflows
    if workflows and agents:
        lines.append("")
    lines += agents
    lines.append(rule)
    runs, inst, tokens, cost, hit, io = con.sql("""
        SELECT sum(runs), sum(instrumented_runs), sum(total_tokens)::DOUBLE, sum(cost_usd),
               sum(cache_read_tokens) / nullif(sum(cache_read_tokens + input_tokens), 0),
               sum(prompt_tokens) / nullif(sum(output_tokens), 0)
        FROM history_daily WHERE day BETWEEN ? AND ?""", params=days).fetchall()[0]
    if runs:
        lines.append(f"Runs: {f.integer(runs)} ({f.integer(inst)} with token data)   "
                     f"Avg tokens/run: {f.tokens(tokens / inst if inst else None)}   "
                     f"Avg cost/run: {f.usd(cost / inst if inst and cost is not None else None)}")
        lines.append(f"Cache hit rate: {f.pct(hit)}   Input/Output: {f.ratio(io)}")
    calls, agent_tokens = con.sql("""
        SELECT sum(calls), sum(total_tokens)::DOUBLE FROM kpi_agent_daily
        WHERE day BETWEEN ? AND ?""", params=days).fetchall()[0]
    if calls:
        lines.append(f"Agent calls: {f.integer(calls)}   Avg tokens/call: "
                     f"{f.tokens(agent_tokens / calls)}")
    lines.append(rule)
    return "\n".join(lines)
