"""The Dagster instance used when DAGSTER_HOME is unset: `<data dir>/dagster_home`."""

from __future__ import annotations

from pathlib import Path

from finops_pipeline.lake import DataPaths

# One writer at a time for the warehouse pool; runs queue rather than collide; run monitoring
# frees pool slots held by runs that crashed, so a killed run never blocks the pool forever.
DAGSTER_YAML = """\
# Written by finops-pipeline when DAGSTER_HOME is unset. Edit freely; it is not overwritten.
telemetry:
  enabled: false
concurrency:
  pools:
    default_limit: 1
  runs:
    max_concurrent_runs: 4
run_monitoring:
  enabled: true
  free_slots_after_run_end_seconds: 300
"""


def ensure_dagster_home(paths: DataPaths) -> Path:
    """Create the instance folder and its dagster.yaml (once); return the folder."""
    home = paths.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML, encoding="utf-8")
    return home
