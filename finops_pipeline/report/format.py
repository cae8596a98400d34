"""Numbers as a person reads them in a report cell (the Python twins of transforms/readable),
and a Markdown table of rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

DASH = "–"
Formatter = Callable[[Any], str]
#: A 7-day change within this many percent is "flat".
FLAT_PCT = 10.0


def tokens(n: float | None) -> str:
    """2.3M, 450k, 812."""
    if n is None:
        return DASH
    a = abs(n)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= limit:
            return f"{n / limit:.1f}".removesuffix(".0") + suffix
    return f"{n:.0f}"


def usd(x: float | None) -> str:
    """$1,234.56, <$0.01; an unknown cost is a dash, never $0."""
    if x is None:
        return DASH
    if 0 < x < 0.005:
        return "<$0.01"
    return f"-${-x:,.2f}" if x < 0 else f"${x:,.2f}"


def pct(fraction: float | None, decimals: int = 1) -> str:
    if fraction is None:
        return DASH
    return f"{100 * fraction:.{decimals}f}%"


def ratio(x: float | None) -> str:
    return DASH if x is None else f"{x:,.1f}"


def integer(n: float | None) -> str:
    return DASH if n is None else f"{n:,.0f}"


def with_unit(x: float | None, unit: str, fmt: Formatter | None = None) -> str:
    """`1,234 ms`, `6.0 s`; a dash when unknown."""
    return DASH if x is None else f"{(fmt or integer)(x)} {unit}"


def change(pct_value: float | None) -> str:
    """+12.5%, -3.0%; a dash without a previous period."""
    return DASH if pct_value is None else f"{pct_value:+.1f}%"


def arrow(change_pct: float | None, previous: float | None) -> str:
    """▲ rising, ▼ falling, ▶ flat (within FLAT_PCT), 🆕 no spend in the previous 7 days."""
    if not previous:
        return "🆕"
    if change_pct is None:
        return DASH
    if change_pct > FLAT_PCT:
        return f"▲ {change_pct:+.0f}%"
    if change_pct < -FLAT_PCT:
        return f"▼ {change_pct:+.0f}%"
    return f"▶ {change_pct:+.0f}%"


def cell(text: Any) -> str:
    """Text safe inside a Markdown table cell (pipes and newlines would break the row)."""
    return str(text).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
          align: str | None = None) -> str:
    """A GitHub Markdown table; `align` has one letter per column (l, r, c)."""
    align = align or "l" * len(headers)
    marks = {"l": ":---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |",
             "| " + " | ".join(marks[a] for a in align) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)

