"""The daily schedule: every day at 08:00 UTC, yesterday and the days before it, in one run."""

import datetime as dt

import dagster as dg

from finops_pipeline.config import load_settings

# The module, not the job: an object imported at module level would be collected twice by
# load_from_defs_folder.
from finops_pipeline.defs import jobs

DAILY_CRON = "0 8 * * *"


def days_to_materialize(tick: dt.datetime, lookback_days: int) -> tuple[dt.date, dt.date]:
    """[start, end] for a tick: end is the UTC day before the tick, start `lookback_days` earlier.

    Re-materializing the days before yesterday picks up artifacts that landed late and runs
    that were still in progress; every day's load replaces the day, so this is idempotent.
    """
    end = tick.astimezone(dt.UTC).date() - dt.timedelta(days=1)
    return end - dt.timedelta(days=lookback_days), end


@dg.schedule(
    cron_schedule=DAILY_CRON,
    execution_timezone="UTC",
    job=jobs.daily_job,
    # On by default: a FinOps pipeline that nobody remembered to switch on reports nothing.
    # Turn it off in the UI (Automation) or with `dagster schedule stop finops_daily_schedule`.
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="08:00 UTC: yesterday plus `schedule.lookback_days` (default 2) before it.",
)
def finops_daily_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    lookback = load_settings().config.schedule.lookback_days
    start, end = days_to_materialize(context.scheduled_execution_time, lookback)
    return dg.RunRequest(
        run_key=f"finops-daily-{end.isoformat()}",
        tags={"dagster/asset_partition_range_start": start.isoformat(),
              "dagster/asset_partition_range_end": end.isoformat()},
    )
