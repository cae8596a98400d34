import datetime as dt

import dagster as dg

from finops_pipeline.definitions import defs
from finops_pipeline.defs.schedules import days_to_materialize, finops_daily_schedule

START, END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def tick(when: dt.datetime) -> dg.RunRequest:
    with dg.build_schedule_context(scheduled_execution_time=when) as context:
        return finops_daily_schedule(context)


def test_tick_asks_for_yesterday_and_two_days_before_in_one_run():
    request = tick(dt.datetime(2026, 3, 10, 8, 0, tzinfo=dt.UTC))
    assert request.tags[START] == "2026-03-07" and request.tags[END] == "2026-03-09"
    assert request.partition_key is None  # a range, one run
    assert request.run_key == "finops-daily-2026-03-09"


def test_lookback_comes_from_finops_yaml(tmp_path):
    (tmp_path / "finops.yaml").write_text("schedule: {lookback_days: 0}\n")
    request = tick(dt.datetime(2026, 1, 1, 8, 0, tzinfo=dt.UTC))
    assert (request.tags[START], request.tags[END]) == ("2025-12-31", "2025-12-31")


def test_days_are_utc_whatever_the_tick_timezone():
    tokyo = dt.timezone(dt.timedelta(hours=9))
    # 2026-03-10 08:00 UTC seen from Tokyo is 17:00 local: still yesterday = 2026-03-09.
    assert days_to_materialize(dt.datetime(2026, 3, 10, 17, 0, tzinfo=tokyo), 1) == (
        dt.date(2026, 3, 8), dt.date(2026, 3, 9))


def test_schedule_is_on_by_default_at_8_utc():
    schedule = defs().resolve_schedule_def("finops_daily_schedule")
    assert schedule.cron_schedule == "0 8 * * *"
    assert schedule.execution_timezone == "UTC"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.job_name == "finops_daily"


def test_instance_config_limits_the_warehouse_pool_and_queues_runs(tmp_path):
    from finops_pipeline.instance import ensure_dagster_home
    from finops_pipeline.lake import DataPaths

    home = ensure_dagster_home(DataPaths(tmp_path))
    (home / "dagster.yaml").write_text((home / "dagster.yaml").read_text())  # kept, not reset
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        config = instance.get_concurrency_config()
        assert config.pool_config.default_pool_limit == 1
        assert config.run_queue_config.max_concurrent_runs == 4
        assert instance.run_monitoring_enabled
    finally:
        instance.dispose()
