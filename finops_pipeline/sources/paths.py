"""The roots a file source reads: folders, files, and glob patterns of finops.yaml."""

from __future__ import annotations

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
