"""Dagster Definitions: sources -> lake -> warehouse, daily UTC partitions."""

import dagster as dg

from finops_pipeline.defs.assets.lake import lake
from finops_pipeline.defs.assets.sources import gh_aw_logs, github
from finops_pipeline.defs.assets.warehouse import warehouse
from finops_pipeline.defs.checks import WAREHOUSE_CHECKS
from finops_pipeline.defs.jobs import daily_job
from finops_pipeline.defs.resources import FinopsConfig
from finops_pipeline.defs.schedules import finops_daily_schedule

# Everything a day needs, in dependency order; `finops materialize` runs exactly this.
ALL_ASSETS = [gh_aw_logs, github, lake, warehouse, *WAREHOUSE_CHECKS]

defs = dg.Definitions(
    assets=[gh_aw_logs, github, lake, warehouse],
    asset_checks=WAREHOUSE_CHECKS,
    jobs=[daily_job],
    schedules=[finops_daily_schedule],
    resources={"finops": FinopsConfig()},
)
