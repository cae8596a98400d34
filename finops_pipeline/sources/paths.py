"""The roots a file source reads: folders, files, and glob patterns of finops.yaml."""

from __future__ import annotations

import datetime as dt
import glob
from collections.abc import Iterable
from pathlib import Path


def expand_globs(roots: Iterable[Path]) -> list[Path]:
    """Roots with glob patterns (`/srv/agents/**/*.jsonl`) replaced by what they match,
    sorted; other roots kept as they are (a missing one is the caller's to skip)."""
    out: list[Path] = []
    for root in roots:
        text = str(root)
        if any(ch in text for ch in "*?["):
            out.extend(Path(p) for p in sorted(glob.glob(text, recursive=True)))
        else:
            out.append(root)
    return out


def find_files(roots: Iterable[Path], suffixes: tuple[str, ...]) -> list[Path]:
    """The files with one of `suffixes` under `roots` (folders, files or glob patterns),
    sorted and each once."""
    found: set[Path] = set()
    for path in expand_globs(roots):
        if path.is_dir():
            found.update(p for p in path.rglob("*") if p.is_file() and p.suffix in suffixes)
        elif path.is_file() and path.suffix in suffixes:
            found.add(path)
    return sorted(found)


def mtime_day(path: Path) -> dt.date:
    """The UTC day a file was last modified (where a line that says nothing else goes)."""
    return dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC).date()
