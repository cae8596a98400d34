"""The daily report: built by the `report` asset of a real materialization (`finops demo`),
read back from the warehouse, rendered by a Markdown renderer, charts opened as images."""

from __future__ import annotations

import datetime as dt
import json
import re
import struct
from pathlib import Path

import dagster as dg
import pytest
from markdown_it import MarkdownIt

from finops_pipeline.cli import main
from finops_pipeline.lake import DataPaths
from finops_pipeline.report import format as f
from finops_pipeline.report.build import write_report
from finops_pipeline.report.console import console_summary
from finops_pipeline.warehouse.access import query, read_only

END = dt.date(2026, 3, 3)
DAYS = [dt.date(2026, 3, 1), dt.date(2026, 3, 2), END]
SECTIONS = ["## Overview", "## Workflow summary", "## Optimization opportunities",
            "## Anomalies", "## Per-workflow details", "## Workflows without token data",
            "## Agents and models", "## Historical trend"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("report") / "data"
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["--data-dir", str(root), "demo", "--days", "3", "--end",
                     END.isoformat()]) == 0
    return root, out.getvalue()


def _html(markdown: str) -> str:
    """GitHub-flavoured enough: CommonMark with HTML blocks and GFM tables."""
    return MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", head[16:24])


def test_every_day_of_the_run_has_its_report_and_charts(demo):
    root, printed = demo
    paths = DataPaths(root)
    for day in DAYS:
        text = (paths.reports / day.isoformat() / "report.md").read_text()
        assert text.startswith(f"# Token Usage Report: {day}\n")
        positions = [text.index(s) for s in SECTIONS]
        assert positions == sorted(positions)
        for image in re.findall(r"!\[[^\]]+\]\(([^)]+)\)", text):
            assert _png_size(paths.reports / day.isoformat() / image) == (1000, 450)
    # the last day links the one before; the first links nothing
    last = (paths.reports / END.isoformat() / "report.md").read_text()
    assert "Previous report: [2026-03-02](../2026-03-02/report.md)" in last
    assert "Previous report: none yet." in (paths.reports / "2026-03-01" / "report.md").read_text()
    assert f"Report:      {paths.reports / END.isoformat() / 'report.md'}" in printed


def test_the_markdown_renders_tables_details_and_images(demo):
    root, _ = demo
    text = (DataPaths(root).reports / END.isoformat() / "report.md").read_text()
    html = _html(text)
    pipes = [line for line in text.splitlines() if re.match(r"\| :?-{3}", line)]
    assert html.count("<table>") == len(pipes) >= 6  # every table renders as one
    assert html.count("<details>") == html.count("</details>") == text.count("<details>")
    assert "<summary><b>acme/" in html  # per-workflow blocks keep their summary
    assert html.count("<img ") == len(re.findall(r"!\[", text)) >= 3
    assert "|" not in re.sub(r"<[^>]+>", "", html.split("<table>")[1].split("</table>")[0]
                             ).replace("\\|", "")  # no cell spilled a pipe


def test_the_figures_are_the_warehouse_s(demo):
    root, _ = demo
    paths = DataPaths(root)
    text = (paths.reports / END.isoformat() / "report.md").read_text()
    day = query(paths.warehouse, "SELECT runs, total_tokens, cost_usd FROM history_daily "
                                 "WHERE day = ?", [END]).row(0, named=True)
    assert f"| Runs | {day['runs']:,} |" in text
    assert f"| **Total tokens** | {f.tokens(day['total_tokens'])} |" in text
    assert f"| **Cost (API list prices)** | {f.usd(day['cost_usd'])} |" in text
    billed = query(paths.warehouse, "SELECT billed_usd FROM history_daily WHERE day = ?",
                   [END]).item()
    assert billed > 0  # the demo's Copilot requests carry AI credits
    assert f"| **Billed by GitHub (AI credits)** | {f.usd(billed)} |" in text
    top = query(paths.warehouse, "SELECT rank, kind, key, potential_savings_usd "
                                 "FROM recommendations WHERE day = ? AND rank = 1", [END])
    row = top.row(0, named=True)
    assert (f"1. **{f.usd(row['potential_savings_usd'])}** of" in text
            and f"`{row['kind']}` · `{row['key']}`" in text)
    evidence = query(paths.warehouse, "SELECT evidence FROM recommendations WHERE day = ? "
                                      "AND rank = 1", [END]).item()
    assert all(f"{k}=" in text for k in json.loads(evidence))
    missing = query(paths.warehouse, "SELECT repo || ':' || workflow AS w FROM "
                                     "kpi_workflow_daily WHERE day = ? AND instrumented_runs "
                                     "< runs", [END])
    gaps = text.split("## Workflows without token data")[1].split("## Agents")[0]
    assert all(f"`{w}`" in gaps for w in missing["w"])
    assert "### Agents (multi-agent apps and traced services)" in text
    agents = query(paths.warehouse, "SELECT count(*) AS n, sum(calls) AS calls FROM "
                                    "kpi_agent_daily WHERE day = ?", [END]).row(0, named=True)
    assert agents["n"] > 10  # more than the table shows: the overview counts them all
    assert f"{agents['n']} agents, {agents['calls']:,} agent calls" in text
    assert "Responder" in text and "POST /triage" in text  # the traced service


def test_rebuilding_a_day_gives_the_same_bytes(demo):
    root, _ = demo
    paths = DataPaths(root)
    folder = paths.reports / END.isoformat()
    before = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
    assert main(["--data-dir", str(root), "report", "--date", END.isoformat()]) == 0
    after = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
    assert after == before
    assert not [p for p in paths.reports.iterdir() if p.name.startswith(".")]  # no leftovers


def test_a_day_without_data_gets_a_short_report(demo, capsys):
    root, _ = demo
    paths = DataPaths(root)
    later = END + dt.timedelta(days=2)
    assert main(["--data-dir", str(root), "report", "--start", END.isoformat(), "--end",
                 later.isoformat()]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 3 and printed[-1].endswith("(no data for the day: a short report)")
    text = (paths.reports / later.isoformat() / "report.md").read_text()
    assert "No token usage was recorded for 2026-03-05" in text
    assert "## What is missing" in text and f"The last earlier day with data: {END}." in text
    assert "Previous report: [2026-03-04](../2026-03-04/report.md)" in text
    assert list((paths.reports / later.isoformat()).iterdir()) == [
        paths.reports / later.isoformat() / "report.md"]  # no empty charts


def test_the_asset_shows_the_report_in_dagster(demo):
    root, _ = demo
    with dg.DagsterInstance.from_config(str(root / "dagster_home")) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(["report"]))
    assert event is not None
    metadata = event.asset_materialization.metadata
    assert metadata["report"].value.startswith(f"# Token Usage Report: {END}")
    assert metadata["days"].value == 3


def test_console_summary_adds_up(demo):
    root, printed = demo
    paths = DataPaths(root)
    with read_only(paths.warehouse) as con:
        text = console_summary(con, DAYS[0], END)
        cost = con.sql("SELECT sum(cost_usd) FROM kpi_workflow_daily").fetchall()[0][0]
        agents = con.sql("SELECT sum(cost_usd) FROM kpi_agent_daily").fetchall()[0][0]
    totals = [line for line in text.splitlines() if line.strip().startswith("TOTAL:")]
    assert totals[0].endswith(f"({f.usd(cost)})") and totals[1].endswith(f"({f.usd(agents)})")
    assert text in printed  # `finops demo` ends with it
    # progress lines, not the framework's event log
    assert "dagster - DEBUG" not in printed and "STEP_START" not in printed
    assert re.search(r"^\d\d:\d\d:\d\d warehouse +\[3/3\] 2026-03-03 warehouse:", printed,
                     re.MULTILINE)


def test_report_without_a_warehouse_says_how_to_get_one(tmp_path, capsys):
    assert main(["--data-dir", str(tmp_path), "report", "--date", "2026-03-01"]) == 1
    assert "run `finops demo` or `finops materialize` first" in capsys.readouterr().err


def test_write_report_replaces_the_folder_whole(demo):
    root, _ = demo
    paths = DataPaths(root)
    stale = paths.reports / DAYS[0].isoformat() / "old_chart.png"
    stale.write_bytes(b"x")
    built = write_report(paths, DAYS[0])
    assert not stale.exists() and built.path.is_file() and len(built.charts) >= 3
