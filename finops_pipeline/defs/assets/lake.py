"""Lake stage: validated, normalized, de-duplicated, priced Parquet, one file per dataset per day.

One multi-asset whose outputs are the registered datasets (schemas/datasets.py). For each day
it reads every registered source's raw slice, normalizes each (transforms/lake_day.py), unions
them by source priority, prices the priced datasets with today's price table and finops.yaml
overrides (so re-materializing a day re-prices it), and writes the day files and quarantine.
"""

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dagster as dg
import polars as pl

from finops_pipeline.config import PriceOverride
from finops_pipeline.defs.assets.common import (
    DATA_POOL,
    markdown_preview,
    partition_days,
    range_preview,
)
from finops_pipeline.defs.assets.sources import source_key
from finops_pipeline.defs.partitions import daily_partitions
from finops_pipeline.defs.resources import FinopsConfig
from finops_pipeline.lake import (
    DataPaths,
    read_raw_day,
    write_or_remove,
    write_parquet_atomic,
    write_sorted_parquet_atomic,
)
from finops_pipeline.pricing import price_requests, unpriced_summary
from finops_pipeline.schemas.datasets import DATASETS, INGEST_LOG, LAKE_DATASETS
from finops_pipeline.sources.base import Source
from finops_pipeline.sources.registry import SOURCES
from finops_pipeline.transforms.lake_day import LakeDay, build_source_day, combine

ACCOUNTING_CHECK = "rows_in_balance"
QUARANTINE_CHECK = "quarantine_rate_below_threshold"
PRICED_CHECK = "all_requests_priced"
LAKE_KEYS = {name: dg.AssetKey(["lake", name]) for name in LAKE_DATASETS}
PRICED = [d for d in DATASETS.values() if d.priced]


def lake_day(paths: DataPaths, day: dt.date, sources: Sequence[Source]) -> LakeDay:
    """Every source's raw slice of `day`, normalized and combined (not priced yet)."""
    per_source = []
    for source in sources:
        raw = read_raw_day(paths, source.name, source.raw_kinds, day)
        if raw is not None:  # a source that never delivered this day has no say in it
            per_source.append(build_source_day(raw, day, source.name))
    return combine(per_source, priority=[s.name for s in sources])


@dataclass
class LakeReport:
    """What a run wrote: one row of figures per day, the books, the unpriced requests."""

    per_day: pl.DataFrame
    ingest_log: pl.DataFrame
    unpriced: dict[str, pl.DataFrame]  # priced dataset -> unpriced_summary rows


def write_lake_days(paths: DataPaths, days: Sequence[dt.date], sources: Sequence[Source],
                    prices: Sequence[PriceOverride], say: Callable[[str], None]) -> LakeReport:
    """Build, price and write each day's lake and quarantine files."""
    rows, ingest = [], []
    unpriced: dict[str, list[pl.DataFrame]] = {d.name: [] for d in PRICED}
    for i, day in enumerate(days, start=1):
        built = lake_day(paths, day, sources)
        data = dict(built.data)
        for d in PRICED:  # priced at lake time: re-materializing a day re-prices it
            data[d.name] = price_requests(data[d.name], prices)
            unpriced[d.name].append(unpriced_summary(data[d.name]))
        for name, df in data.items():  # sorted, so a re-run writes the same file
            write_sorted_parquet_atomic(paths, df, DATASETS[name].sort, paths.lake_file(name, day))
        write_parquet_atomic(paths, built.ingest_log, paths.lake_file(INGEST_LOG.name, day))
        for name, df in built.quarantine.items():
            write_or_remove(paths, df, paths.quarantine_file(name, day))
        row = _day_figures(day, data, built.ingest_log,
                           pl.concat([u[-1] for u in unpriced.values()]))
        rows.append(row)
        ingest.append(built.ingest_log)
        say(f"[{i}/{len(days)}] {day} lake: "
            + ", ".join(f"{row[n]} {n}" for n in DATASETS)
            + f", {row['rows_quarantined']} quarantined, {row['rows_duplicate']} duplicates"
            + "".join(f", ${row[f'{d.name}_cost_usd']:,.2f} {d.name}" for d in PRICED)
            + (f", {row['unpriced_requests']} unpriced ({row['unpriced_models']})"
               if row["unpriced_requests"] else ""))
    return LakeReport(pl.DataFrame(rows), pl.concat(ingest) if ingest else INGEST_LOG.empty(),
                      {k: pl.concat(v) for k, v in unpriced.items()})


def _day_figures(day: dt.date, data: dict[str, pl.DataFrame], ing: pl.DataFrame,
                 unpriced: pl.DataFrame) -> dict:
    row: dict = {"day": day.isoformat()}
    for name in DATASETS:
        row[name] = data[name].height
    row |= {
        "rows_in": int(ing["rows_in"].sum()),
        "rows_quarantined": int(ing["rows_quarantined"].sum()),
        "rows_duplicate": int(ing["rows_duplicate"].sum()),
        "balanced": bool((ing["rows_in"] == ing["rows_valid"] + ing["rows_quarantined"]
                          + ing["rows_duplicate"]).all()),
    }
    for d in PRICED:
        row[f"{d.name}_cost_usd"] = round(float(data[d.name]["cost_usd"].sum()), 4)
    row["unpriced_requests"] = int(unpriced["unpriced_requests"].sum())
    row["unpriced_models"] = ", ".join(sorted(set(unpriced["model"].to_list())))
    return row


def _dataset_total(ingest: pl.DataFrame, name: str, column: str) -> int:
    return int(ingest.filter(pl.col("dataset") == name)[column].sum())


def build_lake_asset(sources: Sequence[Source]) -> dg.AssetsDefinition:
    """The lake multi-asset, reading the raw slices of `sources` (the registry's)."""

    @dg.multi_asset(
        specs=[
            dg.AssetSpec(key, deps=[source_key(s) for s in sources], group_name="lake",
                         kinds={"polars", "parquet"}, description=LAKE_DATASETS[name].description)
            for name, key in LAKE_KEYS.items()
        ],
        check_specs=[
            dg.AssetCheckSpec(ACCOUNTING_CHECK, asset=LAKE_KEYS[INGEST_LOG.name], blocking=True,
                              description="Every raw row is valid, quarantined or a duplicate."),
            dg.AssetCheckSpec(QUARANTINE_CHECK, asset=LAKE_KEYS[INGEST_LOG.name],
                              description="Warns when a day rejects more than "
                              "thresholds.quarantine_rate_warn (default 5%) of its input rows."),
            *[dg.AssetCheckSpec(PRICED_CHECK, asset=LAKE_KEYS[d.name],
                                description="Warns about requests of models with no known price "
                                "(null cost, never 0): add them to finops.yaml prices:.")
              for d in PRICED],
        ],
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=DATA_POOL,
    )
    def lake(context: dg.AssetExecutionContext, finops: FinopsConfig):
        """Validate every raw row with pandera, quarantine failures with the reason, normalize the
        token buckets, drop counted duplicates, price requests and write
        lake/<dataset>/day=.../data.parquet."""
        settings = finops.settings()
        report = write_lake_days(DataPaths(settings.data_dir), partition_days(context), sources,
                                 settings.config.prices, context.log.info)
        per_day, ingest = report.per_day, report.ingest_log
        total = {k: int(per_day[k].sum())
                 for k in ("rows_in", "rows_quarantined", "rows_duplicate")}
        for name in DATASETS:
            metadata = {"dagster/row_count": int(per_day[name].sum()),
                        "rows_quarantined": _dataset_total(ingest, name, "rows_quarantined"),
                        "rows_duplicate": _dataset_total(ingest, name, "rows_duplicate"),
                        "per_day": range_preview(per_day.select("day", name), per_day.height)}
            if DATASETS[name].priced:
                metadata["cost_usd"] = round(float(per_day[f"{name}_cost_usd"].sum()), 2)
            yield dg.MaterializeResult(asset_key=LAKE_KEYS[name], metadata=metadata)
        yield dg.MaterializeResult(asset_key=LAKE_KEYS[INGEST_LOG.name],
                                   metadata={**total, "per_day": markdown_preview(per_day)})

        unbalanced = per_day.filter(~pl.col("balanced"))["day"].to_list()
        # Unbalanced books are a bug (ERROR, blocks the warehouse); rejected input is a WARN.
        yield dg.AssetCheckResult(
            asset_key=LAKE_KEYS[INGEST_LOG.name], check_name=ACCOUNTING_CHECK,
            passed=not unbalanced, severity=dg.AssetCheckSeverity.ERROR,
            metadata={"unbalanced_days": ", ".join(unbalanced) or "none"},
        )
        for d in PRICED:
            unpriced = report.unpriced[d.name]
            yield dg.AssetCheckResult(
                asset_key=LAKE_KEYS[d.name], check_name=PRICED_CHECK,
                passed=unpriced.height == 0, severity=dg.AssetCheckSeverity.WARN,
                metadata={"unpriced_requests": int(unpriced["unpriced_requests"].sum()),
                          "models": ", ".join(sorted(set(unpriced["model"].drop_nulls())))
                          or "none"},
            )
        limit = settings.thresholds.quarantine_rate_warn
        over = per_day.select(
            "day", "rows_in", "rows_quarantined",
            (pl.col("rows_quarantined") / pl.max_horizontal(pl.col("rows_in"), pl.lit(1)))
            .alias("quarantine_rate"),
        ).filter(pl.col("quarantine_rate") > limit)
        yield dg.AssetCheckResult(
            asset_key=LAKE_KEYS[INGEST_LOG.name], check_name=QUARANTINE_CHECK,
            passed=over.height == 0, severity=dg.AssetCheckSeverity.WARN,
            metadata={"rows_quarantined": total["rows_quarantined"], "threshold": limit,
                      "days_over_threshold": markdown_preview(over) if over.height else "none"},
        )

    return lake


lake = build_lake_asset(SOURCES)
