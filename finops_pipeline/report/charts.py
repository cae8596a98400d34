"""The report's charts as PNG files, drawn headless (matplotlib's Agg canvas, no display).

Each chart has a title, labelled axes and units, and is readable at GitHub's issue width
(1,000 x 450 pixels at 100 dpi). A chart without data is not drawn; the report leaves it out.

matplotlib is imported when the first chart is drawn, not with this module: loading the
Dagster definitions (every `finops` command) must not pay for it, nor a run that draws no
chart. Figures are plain `Figure`s on an Agg canvas, not pyplot's: no global figure registry
to close, no backend selection, and pyplot's import is skipped. Each PNG is laid out once
(`tight_layout`) and rendered once (`print_png`); `savefig` would lay the figure out a second
time for nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from finops_pipeline.report import format as f
from finops_pipeline.report.data import HISTORY_DAYS, ReportData
from finops_pipeline.report.markdown import CHARTS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.ticker import Formatter

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


# The rows each chart draws, without matplotlib: an empty frame means the chart is not drawn.

def _history_rows(data: ReportData) -> pl.DataFrame:
    return data.history


def _top_workflow_rows(data: ReportData) -> pl.DataFrame:
    return data.workflows.filter(pl.col("cost_usd") > 0).head(TOP_N)


def _model_rows(data: ReportData) -> pl.DataFrame:
    return data.models.filter(pl.col("cost_usd") > 0).head(TOP_N)


def _budget_rows(data: ReportData) -> pl.DataFrame:
    """Teams with a budget (the total row left out)."""
    return data.teams.filter(pl.col("level") != "total", pl.col("mtd_budget_usd").is_not_null())


_ROWS: dict[str, Callable[[ReportData], pl.DataFrame]] = {
    "history": _history_rows, "top_workflows": _top_workflow_rows, "model_mix": _model_rows,
    "budget_burn": _budget_rows}


def charts_with_data(data: ReportData) -> list[str]:
    """The charts (names of `CHARTS`) the day has data for: those `draw_charts` draws."""
    if not data.has_data:
        return []
    return [name for name, rows in _ROWS.items() if rows(data).height]


def _figure() -> tuple[Figure, Axes]:
    """A figure of the report's size on its own Agg canvas, with one axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=SIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


def _formatter(fmt: Callable[[float], str]) -> Formatter:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: fmt(v))


def _token_axis(ax: Axes) -> None:
    ax.yaxis.set_major_formatter(_formatter(f.tokens))


def _usd_axis(axis: Axes, largest: float, which: str = "y") -> None:
    """Dollar ticks, whole dollars once the axis reaches $10 (one format per axis)."""
    decimals = 0 if largest >= 10 else 2
    fmt = _formatter(lambda v: f"${v:,.{decimals}f}")
    (axis.yaxis if which == "y" else axis.xaxis).set_major_formatter(fmt)


def _runs(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def _save(fig: Figure, path: Path) -> None:
    fig.tight_layout()
    fig.canvas.print_png(path, metadata=_PNG_METADATA)


def history_chart(data: ReportData, h: pl.DataFrame, path: Path) -> None:
    """Stacked daily tokens by bucket, with the day's cost on a second axis."""
    import matplotlib.dates as mdates

    # From the first day the warehouse holds within the window: days before it were never
    # loaded (unknown), days after it without a row were idle (0).
    first = max(data.day - dt.timedelta(days=HISTORY_DAYS - 1), h["day"].cast(pl.Date).min())
    calendar = pl.DataFrame({"day": pl.date_range(first, data.day, "1d", eager=True)})
    h = calendar.join(h.with_columns(pl.col("day").cast(pl.Date)), on="day",
                      how="left").fill_null(0)
    days = h["day"].to_list()
    fig, ax = _figure()
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


def _barh(labels: list[str], values: list[float], title: str, xlabel: str, path: Path,
          value_text: list[str]) -> None:
    fig, ax = _figure()
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


def top_workflows_chart(data: ReportData, priced: pl.DataFrame, path: Path) -> None:
    labels = [_short(f"{r['repo']}:{r['workflow']}") for r in priced.iter_rows(named=True)]
    costs = priced["cost_usd"].to_list()
    _barh(labels, costs, f"Top {priced.height} workflows by cost on {data.day}",
          "cost (USD, API list prices)", path,
          [f"{f.usd(c)} · {_runs(r)}" for c, r in zip(costs, priced["runs"], strict=True)])


def model_mix_chart(data: ReportData, priced: pl.DataFrame, path: Path) -> None:
    labels = [f"{r['provider']}: {_short(r['model'], 40)}" for r in priced.iter_rows(named=True)]
    costs = priced["cost_usd"].to_list()
    total = data.models["cost_usd"].sum()
    _barh(labels, costs, f"Model mix by cost on {data.day}", "cost (USD)", path,
          [f"{f.usd(c)} · {f.pct(c / total, 0)}" for c in costs])


def budget_burn_chart(data: ReportData, teams: pl.DataFrame, path: Path) -> None:
    """Month-to-date cost against month-to-date budget per team (teams with a budget)."""
    labels = teams["team"].to_list()
    spent = teams["mtd_cost_usd"].fill_null(0).to_list()
    budget = teams["mtd_budget_usd"].to_list()
    fig, ax = _figure()
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


def _short(text: str, limit: int = 48) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


DRAWERS = {"history": history_chart, "top_workflows": top_workflows_chart,
           "model_mix": model_mix_chart, "budget_burn": budget_burn_chart}


def draw_charts(data: ReportData, out_dir: Path) -> dict[str, str]:
    """Draw every chart with data into `out_dir`; chart name -> file name, for those drawn."""
    drawn = {}
    for name in charts_with_data(data):
        file_name = CHARTS[name][0]
        DRAWERS[name](data, _ROWS[name](data), out_dir / file_name)
        drawn[name] = file_name
    return drawn
