"""The report's charts as PNG files, drawn headless (matplotlib's Agg backend, no display).

Each chart has a title, labelled axes and units, and is readable at GitHub's issue width
(1,000 x 450 pixels at 100 dpi). A chart without data is not drawn; the report leaves it out.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display, no GUI toolkit

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from finops_pipeline.report import format as f  # noqa: E402
from finops_pipeline.report.data import HISTORY_DAYS, ReportData  # noqa: E402
from finops_pipeline.report.markdown import CHARTS  # noqa: E402

SIZE = (10, 4.5)
DPI = 100
TOP_N = 10
BUCKET_COLORS = {  # input, cache read, cache write, output
    "input_tokens": "#4C72B0", "cache_read_tokens": "#8FBBD9", "cache_write_tokens": "#DD8452",
    "output_tokens": "#55A868",
}
BUCKET_LABELS = {"input_tokens": "input (uncached)", "cache_read_tokens": "cache read",
                 "cache_write_tokens": "cache write", "output_tokens": "output"}
COST_COLOR = "#C44E52"
# Metadata PNGs carry by default (the matplotlib version and a creation time): without them
# the same data gives the same bytes.
_PNG_METADATA = {"Software": None}


def _token_axis(ax: plt.Axes) -> None:
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f.tokens(v)))


def _usd_axis(axis: plt.Axes, largest: float, which: str = "y") -> None:
    """Dollar ticks, whole dollars once the axis reaches $10 (one format per axis)."""
    decimals = 0 if largest >= 10 else 2
    fmt = FuncFormatter(lambda v, _: f"${v:,.{decimals}f}")
    (axis.yaxis if which == "y" else axis.xaxis).set_major_formatter(fmt)


def _runs(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def _save(fig: Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, metadata=_PNG_METADATA)
    plt.close(fig)


def history_chart(data: ReportData, path: Path) -> bool:
    """Stacked daily tokens by bucket, with the day's cost on a second axis."""
    if data.history.height == 0:
        return False
    # From the first day the warehouse holds within the window: days before it were never
    # loaded (unknown), days after it without a row were idle (0).
    first = max(data.day - dt.timedelta(days=HISTORY_DAYS - 1),
                data.history["day"].cast(pl.Date).min())
    calendar = pl.DataFrame({"day": pl.date_range(first, data.day, "1d", eager=True)})
    h = calendar.join(data.history.with_columns(pl.col("day").cast(pl.Date)), on="day",
                      how="left").fill_null(0)
    days = h["day"].to_list()
    fig, ax = plt.subplots(figsize=SIZE)
    bottom = [0.0] * len(days)
    for bucket, color in BUCKET_COLORS.items():
        values = h[bucket].cast(pl.Float64).to_list()
        ax.bar(days, values, bottom=bottom, color=color, label=BUCKET_LABELS[bucket],
               width=0.8)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    _token_axis(ax)
    ax.set_ylabel("tokens per day")
    cost_ax = ax.twinx()
    cost_ax.plot(days, h["cost_usd"].cast(pl.Float64).to_list(), color=COST_COLOR,
                 marker="o", markersize=3, linewidth=2, label="cost (USD)")
    cost_ax.set_ylim(bottom=0)
    cost_ax.set_ylabel("cost per day (USD)", color=COST_COLOR)
    _usd_axis(cost_ax, float(h["cost_usd"].max() or 0))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %d"))
    ax.xaxis.set_major_locator(mdates.DayLocator(interval=max(1, len(days) // 10)))
    fig.autofmt_xdate()
    handles, labels = ax.get_legend_handles_labels()
    more_handles, more_labels = cost_ax.get_legend_handles_labels()
    ax.legend(handles + more_handles, labels + more_labels, loc="upper left", fontsize=8,
              ncol=5, frameon=False)
    ax.set_ylim(top=max(bottom) * 1.18 if max(bottom) > 0 else 1)
    ax.set_title(f"GitHub workflows: tokens and cost per day, {first:%b %d} – "
                 f"{data.day:%b %d, %Y}")
    ax.grid(axis="y", alpha=0.3)
    _save(fig, path)
    return True


def _barh(labels: list[str], values: list[float], title: str, xlabel: str, path: Path,
          value_text: list[str]) -> None:
    fig, ax = plt.subplots(figsize=SIZE)
    positions = range(len(labels))
    ax.barh(positions, values, color="#4C72B0")
    ax.set_yticks(list(positions), labels=labels, fontsize=9)
    ax.invert_yaxis()  # largest on top
    for y, (value, text) in enumerate(zip(values, value_text, strict=True)):
        ax.text(value, y, f" {text}", va="center", fontsize=9)
    ax.set_xlim(right=max(values) * 1.2 if values and max(values) > 0 else 1)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    _usd_axis(ax, max(values, default=0), "x")
    _save(fig, path)


def top_workflows_chart(data: ReportData, path: Path) -> bool:
    priced = data.workflows.filter(pl.col("cost_usd") > 0).head(TOP_N)
    if priced.height == 0:
        return False
    labels = [_short(f"{r['repo']}:{r['workflow']}") for r in priced.iter_rows(named=True)]
    costs = priced["cost_usd"].to_list()
    _barh(labels, costs, f"Top {priced.height} workflows by cost on {data.day}",
          "cost (USD, API list prices)", path,
          [f"{f.usd(c)} · {_runs(r)}" for c, r in zip(costs, priced["runs"], strict=True)])
    return True


def model_mix_chart(data: ReportData, path: Path) -> bool:
    priced = data.models.filter(pl.col("cost_usd") > 0).head(TOP_N)
    if priced.height == 0:
        return False
    labels = [f"{r['provider']}: {_short(r['model'], 40)}" for r in priced.iter_rows(named=True)]
    costs = priced["cost_usd"].to_list()
    total = data.models["cost_usd"].sum()
    _barh(labels, costs, f"Model mix by cost on {data.day}", "cost (USD)", path,
          [f"{f.usd(c)} · {f.pct(c / total, 0)}" for c in costs])
    return True


def budget_burn_chart(data: ReportData, path: Path) -> bool:
    """Month-to-date cost against month-to-date budget per team (teams with a budget)."""
    teams = data.teams.filter(pl.col("level") != "total", pl.col("mtd_budget_usd").is_not_null())
    if teams.height == 0:
        return False
    labels = teams["team"].to_list()
    spent = teams["mtd_cost_usd"].fill_null(0).to_list()
    budget = teams["mtd_budget_usd"].to_list()
    fig, ax = plt.subplots(figsize=SIZE)
    positions = list(range(len(labels)))
    ax.barh([p + 0.2 for p in positions], budget, height=0.4, color="#BBBBBB",
            label="budget to date")
    colors = [COST_COLOR if s > b else "#55A868" for s, b in zip(spent, budget, strict=True)]
    ax.barh([p - 0.2 for p in positions], spent, height=0.4, color=colors,
            label="spent to date (red: over)")
    ax.set_yticks(positions, labels=labels)
    ax.invert_yaxis()
    for p, s, b in zip(positions, spent, budget, strict=True):
        ax.text(s, p - 0.2, f" {f.usd(s)} ({f.pct(s / b, 0) if b else f.DASH})",
                va="center", fontsize=9)
    ax.set_xlim(right=max(spent + budget) * 1.5 or 1)  # room for the labels and legend
    _usd_axis(ax, max(spent + budget), "x")
    ax.set_xlabel("USD, month to date")
    ax.set_title(f"Budget burn by team, {data.day:%B %Y} to {data.day}")
    ax.legend(loc="center right", fontsize=8, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    _save(fig, path)
    return True


def _short(text: str, limit: int = 48) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


DRAWERS = {"history": history_chart, "top_workflows": top_workflows_chart,
           "model_mix": model_mix_chart, "budget_burn": budget_burn_chart}


def draw_charts(data: ReportData, out_dir: Path) -> dict[str, str]:
    """Draw every chart with data into `out_dir`; chart name -> file name, for those drawn."""
    drawn = {}
    for name, draw in DRAWERS.items():
        file_name = CHARTS[name][0]
        if draw(data, out_dir / file_name):
            drawn[name] = file_name
    return drawn
