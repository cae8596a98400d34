"""Build a day's report: read the warehouse, draw the charts, write
`reports/YYYY-MM-DD/report.md` beside its PNGs.

Charts are most of a report's cost (matplotlib), so the caller decides whether a day gets them:
`finops report` always draws them, a materialization only for the last days of its range
(`report.chart_days`); a report without its charts says in their place how to draw them.

The day's folder is written whole in a staging folder and renamed into place, so a reader
(or the publisher) sees the old report or the new one, never half of each; re-running a day
replaces its folder (same warehouse, same bytes).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from finops_pipeline.lake import DataPaths, fsync_dir
from finops_pipeline.report.charts import charts_with_data, draw_charts
from finops_pipeline.report.data import ReportData, load_report_data
from finops_pipeline.report.markdown import render_report
from finops_pipeline.warehouse.access import read_only

REPORT_FILE = "report.md"


@dataclass(frozen=True)
class BuiltReport:
    day: dt.date
    path: Path  # the report.md
    charts: dict[str, str]  # chart name -> file name beside it
    markdown: str
    has_data: bool
    not_drawn: tuple[str, ...] = ()  # charts the day has data for, left out (a note instead)


def report_dir(paths: DataPaths, day: dt.date) -> Path:
    return paths.reports / day.isoformat()


def previous_report(paths: DataPaths, day: dt.date) -> tuple[dt.date, str] | None:
    """The latest report before `day` on disk, with its link relative to `day`'s report."""
    if not paths.reports.is_dir():
        return None
    earlier = []
    for child in paths.reports.iterdir():
        try:
            other = dt.date.fromisoformat(child.name)
        except ValueError:
            continue
        if other < day and (child / REPORT_FILE).is_file():
            earlier.append(other)
    if not earlier:
        return None
    last = max(earlier)
    return last, f"../{last.isoformat()}/{REPORT_FILE}"


def days_with_charts(days: Iterable[dt.date], last: int) -> set[dt.date]:
    """The days of a run that get charts: its `last` latest days (every day of a shorter run,
    none when `last` is 0)."""
    return set(sorted(days)[-last:]) if last > 0 else set()


def _replace_dir(staged: Path, final: Path) -> None:
    """Swap `staged` into `final` (two renames; the old folder is removed afterwards)."""
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)  # left by a crash of a process with our pid
    if final.exists():
        final.rename(old)
    staged.rename(final)
    fsync_dir(final.parent)
    shutil.rmtree(old, ignore_errors=True)


def write_report(paths: DataPaths, day: dt.date, data: ReportData | None = None, *,
                 charts: bool = True) -> BuiltReport:
    """Build the report of `day` from the published warehouse (or `data`, already read).

    Args:
        charts: draw the charts; without them, each chart the day has data for becomes a
            one-line note saying how to draw it (`finops report --date D`).
    """
    if data is None:
        with read_only(paths.warehouse) as con:
            data = load_report_data(con, day)
    final = report_dir(paths, day)
    final.parent.mkdir(parents=True, exist_ok=True)
    staged = final.with_name(f".{final.name}.staging-{os.getpid()}")
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir()
    try:
        drawn = draw_charts(data, staged) if charts else {}
        not_drawn = () if charts else tuple(charts_with_data(data))
        markdown = render_report(data, drawn, previous_report(paths, day), not_drawn)
        (staged / REPORT_FILE).write_text(markdown, encoding="utf-8")
        _replace_dir(staged, final)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return BuiltReport(day, final / REPORT_FILE, drawn, markdown, data.has_data, not_drawn)
