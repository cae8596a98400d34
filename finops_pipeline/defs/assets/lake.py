"""Lake stage: validated, normalized, de-duplicated Parquet, one file per dataset per day."""

import dagster as dg
import polars as pl

from finops_pipeline import stages
from finops_pipeline.defs.assets.common import markdown_preview, partition_days, progress_logger
from finops_pipeline.defs.partitions import daily_partitions
from finops_pipeline.defs.resources import FinopsConfig

ACCOUNTING_CHECK = "rows_in_balance"
QUARANTINE_CHECK = "quarantine_rate_below_threshold"
PRICED_CHECK = "all_requests_priced"
LAKE_KEYS = {
    "workflow_runs": dg.AssetKey(["lake", "workflow_runs"]),
    "llm_requests": dg.AssetKey(["lake", "llm_requests"]),
    "pull_requests": dg.AssetKey(["lake", "pull_requests"]),
    "ingest_log": dg.AssetKey(["lake", "ingest_log"]),
}
SOURCE_KEYS = [dg.AssetKey(["sources", "gh_aw_logs"]), dg.AssetKey(["sources", "github"])]
_DESCRIPTIONS = {
    "workflow_runs": "One row per workflow run attempt (repo, run_id, run_attempt) per day.",
    "llm_requests": "One row per LLM request (repo, run_id, request_id), disjoint token buckets.",
    "pull_requests": "Copilot coding-agent pull requests (repo, number) on their creation day.",
    "ingest_log": "Per day, dataset and source: rows_in = valid + quarantined + duplicate.",
}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(key, deps=SOURCE_KEYS, group_name="lake",
                     kinds={"polars", "parquet"}, description=_DESCRIPTIONS[name])
        for name, key in LAKE_KEYS.items()
    ],
    check_specs=[
        dg.AssetCheckSpec(ACCOUNTING_CHECK, asset=LAKE_KEYS["ingest_log"], blocking=True,
                          description="Every raw row is valid, quarantined or a duplicate."),
        dg.AssetCheckSpec(QUARANTINE_CHECK, asset=LAKE_KEYS["ingest_log"],
                          description="Warns when a day rejects more than "
                          "thresholds.quarantine_rate_warn (default 5%) of its input rows."),
        dg.AssetCheckSpec(PRICED_CHECK, asset=LAKE_KEYS["llm_requests"],
                          description="Warns about requests of models with no known price "
                          "(null cost, never 0): add them to finops.yaml prices:."),
    ],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def lake(context: dg.AssetExecutionContext, finops: FinopsConfig):
    """Validate every raw row with pandera, quarantine failures with the reason, normalize the
    token buckets, drop counted duplicates and write lake/<dataset>/day=.../data.parquet."""
    settings = finops.settings()
    report = stages.build_lake(settings, partition_days(context), progress_logger(context))
    per_day = report.frame()
    yield dg.MaterializeResult(
        asset_key=LAKE_KEYS["workflow_runs"],
        metadata={"dagster/row_count": report.total("runs"), "per_day": markdown_preview(per_day)},
    )
    yield dg.MaterializeResult(
        asset_key=LAKE_KEYS["llm_requests"],
        metadata={"dagster/row_count": report.total("requests"),
                  "cost_usd": round(sum(r["cost_usd"] for r in report.rows), 2),
                  "unpriced_requests": report.total("unpriced_requests"),
                  "rows_quarantined": report.total("rows_quarantined"),
                  "rows_duplicate": report.total("rows_duplicate")},
    )
    yield dg.MaterializeResult(
        asset_key=LAKE_KEYS["pull_requests"],
        metadata={"dagster/row_count": report.total("pull_requests")},
    )
    yield dg.MaterializeResult(
        asset_key=LAKE_KEYS["ingest_log"],
        metadata={"rows_in": report.total("rows_in"),
                  "rows_quarantined": report.total("rows_quarantined"),
                  "rows_duplicate": report.total("rows_duplicate")},
    )
    unbalanced = [r["day"] for r in report.rows if not r["balanced"]]
    # Unbalanced books are a bug (ERROR, blocks the warehouse); rejected input is a WARN.
    yield dg.AssetCheckResult(
        asset_key=LAKE_KEYS["ingest_log"],
        check_name=ACCOUNTING_CHECK,
        passed=not unbalanced,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"unbalanced_days": ", ".join(unbalanced) or "none"},
    )
    unpriced = [r for r in report.rows if r["unpriced_requests"]]
    yield dg.AssetCheckResult(
        asset_key=LAKE_KEYS["llm_requests"],
        check_name=PRICED_CHECK,
        passed=not unpriced,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"unpriced_requests": report.total("unpriced_requests"),
                  "models": ", ".join(sorted({m for r in unpriced
                                              for m in r["unpriced_models"].split(", ")}))
                  or "none"},
    )
    limit = settings.thresholds.quarantine_rate_warn
    rates = per_day.select(
        "day", "rows_in", "rows_quarantined",
        (pl.col("rows_quarantined") / pl.max_horizontal(pl.col("rows_in"), pl.lit(1)))
        .alias("quarantine_rate"),
    ) if per_day.height else per_day
    over = rates.filter(pl.col("quarantine_rate") > limit) if per_day.height else per_day
    yield dg.AssetCheckResult(
        asset_key=LAKE_KEYS["ingest_log"],
        check_name=QUARANTINE_CHECK,
        passed=over.height == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"rows_quarantined": report.total("rows_quarantined"), "threshold": limit,
                  "days_over_threshold": markdown_preview(over) if over.height else "none"},
    )
