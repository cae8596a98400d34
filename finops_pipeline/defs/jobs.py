"""The daily job: every asset of a day (or a range, in one run)."""

import dagster as dg

from finops_pipeline.defs.partitions import daily_partitions

daily_job = dg.define_asset_job(
    "finops_daily",
    selection=dg.AssetSelection.all(),
    partitions_def=daily_partitions,
    description="Sources -> lake -> warehouse for the selected days.",
)
