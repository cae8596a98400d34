"""Sources stage: one asset per registered source, all generated from `sources.registry.SOURCES`.

Each asset extracts the run's days and writes every delivered day as the source's raw slice
(`raw/<source>/<kind>/day=D/data.parquet`). A day the source did not deliver keeps its earlier
slice, and fails the source's `<name>_fetch_complete` check. Every source asset reports the same
metadata: enabled, days, one total per figure, a per-day table and the problems.
"""

import dagster as dg
import polars as pl

from finops_pipeline.defs.assets.common import DATA_POOL, partition_days, range_preview
from finops_pipeline.defs.partitions import daily_partitions
from finops_pipeline.lake import DataPaths, write_raw_day
from finops_pipeline.sources.base import Source, SourceContext
from finops_pipeline.sources.registry import SOURCES

MAX_PROBLEMS = 50


def fetch_check_name(source: Source) -> str:
    return f"{source.name}_fetch_complete"


def source_key(source: Source) -> dg.AssetKey:
    return dg.AssetKey(["sources", source.name])


def build_source_asset(source: Source) -> dg.AssetsDefinition:
    """The Dagster asset of one source."""
    key = source_key(source)
    check = fetch_check_name(source)

    @dg.asset(
        key=key,
        group_name="sources",
        kinds=set(source.asset_kinds),
        description=type(source).__doc__,
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=DATA_POOL,
        required_resource_keys={"finops", *source.resource_keys},
        check_specs=[dg.AssetCheckSpec(
            check, asset=key,
            description="Every day was delivered completely (a day that was not keeps the "
            "data delivered before).")],
    )
    def _extract(context: dg.AssetExecutionContext):
        settings = context.resources.finops.settings()
        paths = DataPaths(settings.data_dir)
        days = partition_days(context)
        rows, problems, failed, errors = [], [], [], []
        enabled = source.enabled(settings)
        if not enabled:
            context.log.info(f"{source.name}: off ({source.off_hint})")
        else:
            ctx = SourceContext(
                settings=settings,
                landing=(paths.landing_source(source.landing_name) if source.landing_name
                         else None),
                state=paths.state,
                resources={k: getattr(context.resources, k) for k in source.resource_keys},
                say=context.log.info,
            )
            for i, got in enumerate(source.extract(ctx, days), start=1):
                where = f"[{i}/{len(days)}] {got.day} {source.name}"
                problems += got.problems
                if got.frames is None:
                    failed.append(got.day.isoformat())
                    errors.append(got.error or "not delivered")
                    context.log.warning(f"{where}: FAILED, earlier data kept: {got.error}")
                    continue
                written = write_raw_day(paths, source.name, got.day, got.frames)
                figures = got.figures | {f: written[k] for f, k in got.counted.items()}
                rows.append({"day": got.day.isoformat(), **figures})
                context.log.info(f"{where}: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
        per_day = pl.DataFrame(rows)
        totals = {k: int(per_day[k].sum()) for k in per_day.columns if k != "day"}
        first_total = next(iter(totals.values()), 0)
        yield dg.MaterializeResult(metadata={
            "enabled": enabled,
            "days": len(days),
            "days_delivered": len(rows),
            "dagster/row_count": first_total,
            **totals,
            "per_day": range_preview(per_day, len(days)) if rows else "no days delivered",
            "problems": "\n".join(problems[:MAX_PROBLEMS]) or "none",
        })
        yield dg.AssetCheckResult(
            check_name=check,
            passed=not failed,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"error": errors[-1] if errors else "none",
                      "failed_days": ", ".join(failed) or "none"},
        )

    return _extract


SOURCE_ASSETS = [build_source_asset(s) for s in SOURCES]
