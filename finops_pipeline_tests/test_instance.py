"""instance.py: the Dagster instance the CLI creates, with its pooled SQLite event log."""

from __future__ import annotations

import sqlite3

import dagster as dg

from finops_pipeline.instance import PooledSqliteEventLogStorage, ensure_dagster_home
from finops_pipeline.lake import DataPaths


@dg.asset
def tiny() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"rows": 3})


def test_the_instance_records_runs_with_the_pooled_event_log_and_reopens_them(tmp_path):
    home = ensure_dagster_home(DataPaths(tmp_path))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        first = dg.materialize([tiny], instance=instance).run_id
        second = dg.materialize([tiny], instance=instance).run_id
    # A fresh instance (another process, the UI) reads what the pooled engines wrote.
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for run_id in (first, second):
            types = [e.dagster_event.event_type_value for e in instance.all_logs(run_id)
                     if e.dagster_event]
            assert "ASSET_MATERIALIZATION" in types and "PIPELINE_SUCCESS" in types
        latest = instance.get_latest_materialization_event(dg.AssetKey("tiny"))
        assert latest is not None and latest.run_id == second
        assert instance.get_run_by_id(second).is_success
    shard = home / "history" / "runs" / f"{second}.db"
    with sqlite3.connect(shard) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_deleting_a_run_releases_its_database(tmp_path):
    home = ensure_dagster_home(DataPaths(tmp_path))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run_id = dg.materialize([tiny], instance=instance).run_id
        instance.delete_run(run_id)
        assert instance.all_logs(run_id) == []
        again = dg.materialize([tiny], instance=instance).run_id
        assert instance.get_run_by_id(again).is_success


def test_an_existing_dagster_yaml_is_left_alone(tmp_path):
    home = DataPaths(tmp_path).dagster_home
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    ensure_dagster_home(DataPaths(tmp_path))
    assert (home / "dagster.yaml").read_text(encoding="utf-8") == "telemetry:\n  enabled: false\n"


def test_a_long_lived_process_keeps_few_databases_open(tmp_path):
    """The UI and the daemon read many runs: engines beyond the cap are closed (open files
    stay bounded) and a closed run database is simply reopened."""
    import os
    import uuid

    from finops_pipeline.instance import MAX_OPEN_DATABASES

    storage = PooledSqliteEventLogStorage(base_dir=str(tmp_path / "runs"))
    before = len(os.listdir("/proc/self/fd"))
    run_ids = [str(uuid.uuid4()) for _ in range(40)]
    for run_id in run_ids:
        storage.get_logs_for_run(run_id)
    assert len(storage._engines) <= MAX_OPEN_DATABASES
    assert len(os.listdir("/proc/self/fd")) - before < 4 * MAX_OPEN_DATABASES
    assert storage.get_logs_for_run(run_ids[0]) == []  # reopened after being closed
    storage.dispose()
