"""The source registry: every source the pipeline reads, in priority order.

Each entry becomes a Dagster asset `sources/<name>` (defs/assets/sources.py) and a raw slice
the lake reads. When two sources deliver the same run, request or pull request, the copy of
the source listed first is kept and the other is counted as a duplicate: the API's own record
wins over a local copy of it. Adding a source is one module under `sources/` and one line here.
"""

from __future__ import annotations

from finops_pipeline.schemas.raw import RAW_KINDS
from finops_pipeline.sources.agent_calls import AgentCallsSource
from finops_pipeline.sources.base import Source
from finops_pipeline.sources.gh_aw_logs import GhAwLogsSource
from finops_pipeline.sources.github.source import GitHubRestSource
from finops_pipeline.sources.github_billing import GitHubBillingApiSource
from finops_pipeline.sources.otel import OtelSource

SOURCES: tuple[Source, ...] = (
    GitHubRestSource(),
    GitHubBillingApiSource(),
    GhAwLogsSource(),
    AgentCallsSource(),
    OtelSource(),
)


def _check() -> None:
    names = [s.name for s in SOURCES]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate source names in {names}")
    for s in SOURCES:
        if not isinstance(s, Source):
            raise TypeError(f"{s!r} does not implement the Source protocol")
        unknown = set(s.raw_kinds) - set(RAW_KINDS)
        if unknown:
            raise ValueError(f"source {s.name} writes unknown raw kinds {sorted(unknown)}")


_check()
