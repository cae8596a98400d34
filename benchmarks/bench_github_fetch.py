"""Benchmark: fetch_day against the fake GitHub with simulated latency, sequential vs concurrent.

    .venv/bin/python benchmarks/bench_github_fetch.py [--runs 500] [--latency 0.02]

Every request to the fake (API and blob host) waits `--latency` seconds before it is
answered, like a round trip to GitHub. Each completed run costs three requests (artifact
listing, the API's 302, the blob download) plus the day's listing pages.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from finops_pipeline.schemas.gh_aw_layout import CANONICAL_TOKEN_USAGE  # noqa: E402
from finops_pipeline.sources.github import GitHubClient, fetch_day  # noqa: E402
from finops_pipeline_tests.fake_github import FakeGitHub, make_zip  # noqa: E402

REPO = "acme/bench"
DAY = dt.date(2026, 3, 1)
TOKEN = "ghp_" + "bench" + "0" * 31


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per request")
    parser.add_argument("--in-flight", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()

    lines = b"".join(
        b'{"timestamp":"2026-03-01T10:00:00Z","request_id":"r%d","provider":"openai",'
        b'"model":"gpt-5","input_tokens":1200,"output_tokens":300}\n' % i
        for i in range(50)
    )
    archive = make_zip({CANONICAL_TOKEN_USAGE: lines, "aw_info.json": b'{"engine":"copilot"}'})
    with FakeGitHub(token=TOKEN, latency=args.latency, rate_limit=1_000_000) as gh:
        for run in gh.add_runs(REPO, DAY, args.runs):
            gh.add_artifact(REPO, run["id"], "agent", archive)
        print(
            f"{args.runs} runs, {args.latency * 1000:.0f} ms per request, zip {len(archive)} bytes"
        )
        for limit in args.in_flight:
            gh.reset_log()
            with GitHubClient(gh.api_url, TOKEN, max_in_flight=limit) as client:
                started = time.perf_counter()
                day = fetch_day(client, [REPO], DAY, max_workers=max(8, limit))
                elapsed = time.perf_counter() - started
            assert len(day.token_files) == args.runs, day.skipped
            print(
                f"max_in_flight={limit:<3} {elapsed:6.2f} s  {args.runs / elapsed:7.1f} runs/s  "
                f"{len(gh.requests)} requests  (fake saw at most {gh.max_in_flight} at once)"
            )


if __name__ == "__main__":
    main()
