"""How gh-aw spells times, durations and JSON, byte for byte.

Kept apart from the shapes so the records' timestamps and the files' JSON are written by the
same few functions: the demo promises the same bytes for the same arguments.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def epoch_ms(value: dt.datetime) -> int:
    return (value - _EPOCH) // dt.timedelta(milliseconds=1)


def from_epoch_ms(ms: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(milliseconds=ms)


def format_ms(ms: int) -> str:
    """The api-proxy's record timestamp: UTC with milliseconds."""
    return f"{from_epoch_ms(ms):%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def format_s(value: dt.datetime) -> str:
    """GitHub's run timestamps: UTC, whole seconds."""
    return f"{value:%Y-%m-%dT%H:%M:%S}Z"


def dumps_line(record: dict[str, Any]) -> str:
    """One JSONL line, compact like the api-proxy writes it."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def pretty(obj: Any) -> bytes:
    """A JSON file as gh-aw writes it: two-space indent, trailing newline."""
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def go_duration(ns: int) -> str:
    """Go's `time.Duration.String()` for a non-negative duration: `4m12.5s`, `350ms`, `1h0m5s`."""
    if ns == 0:
        return "0s"
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return _trim(ns, size) + unit
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = f"{hours}h" if hours else ""
    if hours or minutes:
        text += f"{minutes}m"
    return text + _trim(rest, 1_000_000_000) + "s"


def _trim(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    digits = len(str(unit)) - 1
    frac_text = f"{frac:0{digits}d}".rstrip("0") if digits else ""
    return f"{whole}.{frac_text}" if frac_text else str(whole)
