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


def _materialize_reports(root: Path, config: Path) -> None:
    """The `report` asset alone over the demo's days, in one run, with `config`."""
    from finops_pipeline.defs.assets.report import report
    from finops_pipeline.defs.resources import FinopsConfig, GitHubResource

    dg.materialize(
        [report], instance=dg.DagsterInstance.ephemeral(),
        resources={"finops": FinopsConfig(data_dir=str(root), config_path=str(config)),
                   "github": GitHubResource()},
        tags={"dagster/asset_partition_range_start": DAYS[0].isoformat(),
              "dagster/asset_partition_range_end": END.isoformat()},
        raise_on_error=True)


def test_a_long_run_draws_the_charts_of_its_last_days_only(demo, tmp_path):
    """report.chart_days = 1 over 3 days: PNGs for the last day; the earlier days keep the
    whole Markdown, with a note naming `finops report --date D` where each chart was."""
    import shutil

    from finops_pipeline.report.publish import issue_body

    root = tmp_path / "data"
    shutil.copytree(demo[0], root, ignore=shutil.ignore_patterns("dagster_home", "reports"))
    config = tmp_path / "finops.yaml"
    config.write_text("report: {chart_days: 1}\n")
    _materialize_reports(root, config)
    reports = DataPaths(root).reports
    first = {}
    for day in DAYS:
        folder = reports / day.isoformat()
        first[day] = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
        text = first[day]["report.md"].decode()
        assert [s for s in SECTIONS if s in text] == SECTIONS  # the whole report
        links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
        assert all((folder / link).is_file() for link in links)  # no broken image
        html = _html(text)
        assert html.count("<img ") == len(links)
        notes = re.findall(r"^> 📈 .*`finops report --date (\S+)` draws it\.$", text,
                           re.MULTILINE)
        if day == END:
            assert len(links) >= 3 and not notes
            assert sorted(p for p in first[day] if p.endswith(".png")) == sorted(links)
        else:
            assert not links and not [p for p in first[day] if p.endswith(".png")]
            assert len(notes) >= 3 and set(notes) == {day.isoformat()}  # one per chart
            assert html.count("<blockquote>") >= 3  # each note renders on its own
            assert issue_body(text, "r.md")[0] == text  # published as it is
    # the same run again: the same bytes, charts or not
    _materialize_reports(root, config)
    for day in DAYS:
        folder = reports / day.isoformat()
        assert {p.name: p.read_bytes() for p in sorted(folder.iterdir())} == first[day]
    # an explicit rebuild of an early day draws its charts
    assert main(["--data-dir", str(root), "report", "--date", DAYS[0].isoformat()]) == 0
    text = (reports / DAYS[0].isoformat() / "report.md").read_text()
    assert "> 📈" not in text and len(re.findall(r"!\[", text)) >= 3


def test_days_with_charts_are_the_last_of_the_run():
    from finops_pipeline.report.build import days_with_charts

    days = [END, DAYS[0], DAYS[1]]  # in any order
    assert days_with_charts(days, 1) == {END}
    assert days_with_charts(days, 2) == {DAYS[1], END}
    assert days_with_charts(days, 7) == set(DAYS)
    assert days_with_charts(days, 0) == set()


def test_reading_days_in_batches_gives_each_day_s_own_rows(demo, monkeypatch):
    """A run reads its days a batch at a time; each day's rows are those it reads alone."""
    import dataclasses

    from finops_pipeline.report import data as report_data

    days = [DAYS[0] - dt.timedelta(days=1), *DAYS, END + dt.timedelta(days=1)]
    monkeypatch.setattr(report_data, "BATCH_DAYS", 2)
    with read_only(DataPaths(demo[0]).warehouse) as con:
        batched = list(report_data.load_report_range(con, reversed(days)))
        alone = [report_data.load_report_data(con, day) for day in days]
    assert [b.day for b in batched] == days
    for b, a in zip(batched, alone, strict=True):
        for field in dataclasses.fields(a):
            mine, theirs = getattr(b, field.name), getattr(a, field.name)
            assert mine.equals(theirs) if hasattr(mine, "equals") else mine == theirs, \
                (b.day, field.name)
    assert batched[0].last_day_with_data is None and not batched[0].has_data
    assert batched[-1].last_day_with_data == END and batched[2].history.height == 2
