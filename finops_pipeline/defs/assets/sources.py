"""Sources stage: find and extract each day's raw telemetry, with the file and line of each row."""

import dagster as dg

from finops_pipeline import stages
from finops_pipeline.defs.assets.common import markdown_preview, partition_days, progress_logger
from finops_pipeline.defs.partitions import daily_partitions
from finops_pipeline.defs.resources import FinopsConfig


@dg.asset(
    key=["sources", "gh_aw_logs"],
    group_name="sources",
    kinds={"python", "json"},
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def gh_aw_logs(context: dg.AssetExecutionContext, finops: FinopsConfig) -> dg.MaterializeResult:
    """Runs and api-proxy token-usage lines from `gh aw logs` folders and `--json` files.

    Reads `landing/gh-aw-logs/` plus `sources.gh_aw_logs.paths` of finops.yaml. A run and its
    requests belong to the UTC day the run was created; a small index keeps one day's
    materialization from re-reading every file ever landed. Output: raw/gh_aw_logs/.
    """
    days = partition_days(context)
    report = stages.extract_gh_aw_logs(finops.settings(), days, progress_logger(context))
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": report.total("runs"),
            "runs": report.total("runs"),
            "token_lines": report.total("token_lines"),
            "files": report.total("files"),
            "days": len(days),
            "per_day": markdown_preview(report.frame()),
        }
    )


GITHUB_FETCH_CHECK = "github_fetch_complete"


@dg.asset(
    key=["sources", "github"],
    group_name="sources",
    kinds={"github", "python"},
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[dg.AssetCheckSpec(
        GITHUB_FETCH_CHECK, asset=dg.AssetKey(["sources", "github"]),
        description="Every day was fetched completely from the GitHub API (a day that was not "
        "keeps the data delivered before).")],
)
def github(context: dg.AssetExecutionContext, finops: FinopsConfig):
    """Workflow runs, api-proxy token usage from run artifacts, and Copilot coding-agent pull
    requests, from the GitHub REST API (or GitHub Enterprise Server via GITHUB_API_URL).

    On when repos are configured (finops.yaml `sources.github.repos` or FINOPS_GITHUB_REPOS);
    authenticated by GITHUB_TOKEN. A failure never erases what earlier runs delivered: the
    day's raw slice is only replaced by a complete fetch. Output: raw/github/.
    """
    days = partition_days(context)
    outcome = stages.extract_github(finops.settings(), days, progress_logger(context))
    report = outcome.report
    yield dg.MaterializeResult(
        metadata={
            "enabled": outcome.enabled,
            "dagster/row_count": report.total("runs"),
            "runs": report.total("runs"),
            "pending_runs": report.total("pending_runs"),
            "token_lines": report.total("token_lines"),
            "pull_requests": report.total("pull_requests"),
            "runs_skipped": report.total("runs_skipped"),
            "per_day": markdown_preview(report.frame()) if report.rows else "no days fetched",
            "problems": "\n".join(outcome.problems[:50]) or "none",
        }
    )
    yield dg.AssetCheckResult(
        check_name=GITHUB_FETCH_CHECK,
        passed=outcome.error is None,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"error": outcome.error or "none",
                  "failed_days": ", ".join(outcome.failed_days) or "none"},
    )
