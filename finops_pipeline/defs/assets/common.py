"""Helpers shared by the asset modules: partition days and metadata previews."""

import datetime as dt

import dagster as dg
import polars as pl

# Every step that writes the data dir (raw slices, lake files, the warehouse) takes a slot of
# this pool; the instance's dagster.yaml limits pools to one slot, so a step of another run
# never rewrites a day while this run reads it (a backfill overlapping the schedule).
DATA_POOL = "finops_data"


def partition_days(context: dg.AssetExecutionContext) -> list[dt.date]:
    """Every day of the run's partition range (one day, or a whole backfill in one run)."""
    return [dt.date.fromisoformat(k) for k in context.partition_keys]


def markdown_preview(df: pl.DataFrame, rows: int = 31) -> dg.MetadataValue:
    with pl.Config(tbl_formatting="MARKDOWN", tbl_hide_dataframe_shape=True,
                   tbl_hide_column_data_types=True, tbl_rows=rows, tbl_cols=-1,
                   tbl_width_chars=60_000,
                   fmt_str_lengths=60):
        return dg.MetadataValue.md(str(df.head(rows)))


# A run's metadata is recorded once per asset and partition: a backfill of N days writes each
# asset's previews N times (a year: ~14k copies of ~30 tables). Runs longer than this keep the
# numbers and drop the per-asset previews; the lake's books (ingest_log) keep theirs.
PREVIEW_MAX_DAYS = 7


def range_preview(df: pl.DataFrame, days: int, rows: int = 31) -> dg.MetadataValue:
    """`markdown_preview(df)` for a run of up to PREVIEW_MAX_DAYS days, else a short note."""
    if days <= PREVIEW_MAX_DAYS:
        return markdown_preview(df, rows)
    return dg.MetadataValue.text(f"{days} days in this run: previews are kept for runs of up "
                                 f"to {PREVIEW_MAX_DAYS} days (query the warehouse instead)")
