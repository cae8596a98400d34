"""A fetched GitHub day as the raw frames every source writes (schemas/raw.py).

Pure: no I/O. The lake stage parses these exactly like the gh-aw rows: runs by the shared
field paths (the API's names included), token-usage lines by the same record checks.
"""

from __future__ import annotations

import json

import polars as pl

from finops_pipeline.schemas.raw import PULL_REQUESTS, RUNS, SKIPS, TOKEN_USAGE
from finops_pipeline.sources.github.fetch import GitHubDay
from finops_pipeline.sources.jsontext import token_lines_frame

SOURCE = "github"
SHAPE = "github_api"


def run_ref(repo: str, run_id: int, attempt: int) -> str:
    return f"github:{repo}#{run_id}#{attempt}"


def raw_frames(day: GitHubDay) -> dict[str, pl.DataFrame]:
    """runs, token_usage, pull_requests and skips frames of one fetched day."""
    token_files = {(t.repo, t.run_id): t for t in day.token_files}
    runs, lines = [], []
    for run in day.runs:
        repo = (run.get("repository") or {}).get("full_name") or ""
        run_id, attempt = int(run["id"]), int(run.get("run_attempt") or 1)
        ref = run_ref(repo, run_id, attempt)
        aw_info = day.aw_info.get((repo, run_id))
        agent_usage = day.agent_usage.get((repo, run_id))
        token_file = token_files.get((repo, run_id))
        runs.append({
            "_source": (run.get("html_url") or "").split("?")[0] or ref,
            "_line": None,
            "_shape": SHAPE,
            "_run_ref": ref,
            "_raw": json.dumps(run, sort_keys=True),
            "_aw_info": aw_info.decode("utf-8", errors="replace") if aw_info else None,
            "_agent_usage": agent_usage.decode("utf-8", errors="replace")
            if agent_usage else None,
            "_token_files": 1 if token_file else 0,
        })
        if token_file:
            where = (f"github:{repo}/actions/runs/{run_id} artifact "
                     f"{token_file.artifact_name}:{token_file.member_path}")
            lines.append(token_lines_frame(ref, where, token_file.data, rank=0))
    pulls = [{"_source": p.get("url") or f"github:{p.get('repo')}#{p.get('number')}",
              "_line": None, "_raw": json.dumps(p, sort_keys=True)} for p in day.pull_requests]
    skips = [{"reason": k, "count": v} for k, v in sorted(day.skipped.items())]
    return {
        "runs": pl.DataFrame(runs, schema=RUNS.schema),
        "token_usage": pl.concat(lines) if lines else TOKEN_USAGE.empty(),
        "pull_requests": pl.DataFrame(pulls, schema=PULL_REQUESTS.schema),
        "skips": pl.DataFrame(skips, schema=SKIPS.schema),
    }
