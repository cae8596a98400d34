"""Report stage: the daily Markdown report with its charts, after the warehouse publish.

One report per day of the run (`reports/YYYY-MM-DD/report.md` and PNGs), read from the
published warehouse on one read-only connection, a month of days per batch of queries; the
last day's Markdown is the asset's metadata, so the Dagster UI shows the report itself. With
`report.publish`, each day's report is also its GitHub issue (report/publish.py).

Charts are nearly all of a report's cost (matplotlib), and a year-old day's are rarely read:
a run draws them for its last `report.chart_days` days only (7 by default, so the daily
schedule's days all get them); earlier days of a backfill get the whole Markdown with a note in
each chart's place naming `finops report --date D`, which draws them.
"""

import dagster as dg
import polars as pl

from finops_pipeline.config import Settings
from finops_pipeline.defs.assets.common import DATA_POOL, markdown_preview, partition_days
from finops_pipeline.defs.assets.warehouse import WAREHOUSE_KEYS
from finops_pipeline.defs.partitions import daily_partitions
from finops_pipeline.defs.resources import FinopsConfig, GitHubResource
from finops_pipeline.report.build import BuiltReport, days_with_charts, write_report
from finops_pipeline.report.data import load_report_range
from finops_pipeline.report.publish import Published, PublishError, publish_report
from finops_pipeline.sources.github.errors import GitHubError
from finops_pipeline.warehouse.access import read_only

REPORT_KEY = dg.AssetKey(["report"])
#: Dagster keeps metadata in its run storage: a larger report is cut (the file is whole).
METADATA_MAX_CHARS = 60_000


@dg.asset(
    key=REPORT_KEY,
    deps=list(WAREHOUSE_KEYS.values()),
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=DATA_POOL,
    kinds={"markdown"},
    description="The daily report (reports/YYYY-MM-DD/report.md and its charts): overview, "
    "workflow summary, savings, anomalies, per-workflow details, gaps, agents and models, "
    "showback, the 30-day trend.",
)
def report(context: dg.AssetExecutionContext, finops: FinopsConfig,
           github: GitHubResource) -> dg.MaterializeResult:
    paths = finops.paths()
    settings = finops.settings()
    days = partition_days(context)
    with_charts = days_with_charts(days, settings.config.report.chart_days)
    if len(with_charts) < len(days):
        context.log.info(f"report: charts for the last {len(with_charts)} of {len(days)} days "
                         "(report.chart_days); `finops report --date D` draws a day's")
    built = []
    with read_only(paths.warehouse) as con:
        for data in load_report_range(con, days):
            day = data.day
            result = write_report(paths, day, data, charts=day in with_charts)
            context.log.info(f"report {day}: {result.path}"
                             + ("" if day in with_charts else " (no charts)"))
            built.append(result)
    published = _publish(context, settings, github, built) if \
        settings.config.report.publish else []
    last = built[-1]
    markdown = last.markdown
    if len(markdown) > METADATA_MAX_CHARS:
        markdown = markdown[:METADATA_MAX_CHARS] + f"\n\n… (cut; the whole report: {last.path})"
    per_day = pl.DataFrame({"day": [b.day for b in built],
                            "has_data": [b.has_data for b in built],
                            "charts": [len(b.charts) for b in built],
                            "charts_not_drawn": [len(b.not_drawn) for b in built],
                            "path": [str(b.path) for b in built]})
    metadata = {
        "report": dg.MetadataValue.md(markdown),
        "path": dg.MetadataValue.path(str(last.path)),
        "days": len(built),
        "per_day": markdown_preview(per_day),
    }
    if published:
        metadata["issues"] = markdown_preview(pl.DataFrame(
            {"day": [p.day for p in published], "action": [p.action for p in published],
             "issue": [p.url for p in published],
             "closed": [", ".join(f"#{n}" for n in p.closed) for p in published]}))
    return dg.MaterializeResult(metadata=metadata)


def _publish(context: dg.AssetExecutionContext, settings: Settings, github: GitHubResource,
             built: list[BuiltReport]) -> list[Published]:
    """Post each day's report as its issue, oldest first (so the newest stays open)."""
    cfg = settings.config.report
    try:
        client = github.client(settings.github_api_url, max_in_flight=2)
    except GitHubError as exc:
        raise dg.Failure(f"report.publish is on but {exc}") from None
    done = []
    with client:
        for b in built:
            try:
                p = publish_report(client, cfg.repo, cfg.label, b.day, b.markdown, str(b.path))
            except PublishError as exc:
                raise dg.Failure(str(exc)) from None
            context.log.info(f"report {b.day}: issue {p.action} {p.url}"
                             + (f", closed {p.closed}" if p.closed else "")
                             + (f" ({'; '.join(p.notes)})" if p.notes else ""))
            done.append(p)
    return done
