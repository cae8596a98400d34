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
