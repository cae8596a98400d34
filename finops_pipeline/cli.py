"""The `finops` command (DESIGN section 3): demo, materialize, sql."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from finops_pipeline.config import ConfigError, Settings, load_settings
from finops_pipeline.lake import DataPaths

SQL_EXAMPLE = "select * from kpi_workflow_daily order by total_tokens desc limit 5"
WORKFLOW_SUMMARY_SQL = """
    SELECT repo, workflow,
           sum(runs) AS runs,
           sum(instrumented_runs) AS instrumented,
           sum(failed_runs) AS failed,
           sum(requests) AS requests,
           sum(total_tokens) AS total_tokens,
           round(sum(cost_usd), 2) AS cost_usd,
           round(sum(cache_read_tokens) / nullif(sum(cache_read_tokens + input_tokens), 0), 3)
               AS cache_hit_rate,
           round(sum(prompt_tokens) / nullif(sum(output_tokens), 0), 1) AS io_ratio
    FROM kpi_workflow_daily
    WHERE day BETWEEN ? AND ?
    GROUP BY ALL
    ORDER BY total_tokens DESC, repo, workflow
"""


class UsageError(Exception):
    """A command-line mistake; printed without a traceback, exit status 2."""


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def dagster_home(settings: Settings) -> Path:
    """DAGSTER_HOME, else <data dir>/dagster_home (created with our dagster.yaml)."""
    from finops_pipeline.instance import ensure_dagster_home

    home = os.environ.get("DAGSTER_HOME")
    return Path(home) if home else ensure_dagster_home(DataPaths(settings.data_dir))


def _progress_logger():
    """A Dagster logger that prints what the pipeline says, one short line each
    (`15:16:57 sources/otel  [3/14] 2026-11-21 otel: lines 12`), instead of the framework's
    full event lines; warnings and errors always, framework debug events never."""
    import logging

    import dagster as dg

    class Compact(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            meta = getattr(record, "dagster_meta", None) or {}
            step = (meta.get("step_key") or "run").replace("__", "/")
            message = meta.get("orig_message", record.getMessage())
            return f"{self.formatTime(record, '%H:%M:%S')} {step:<22} {message}"

    class UserOrProblem(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            meta = getattr(record, "dagster_meta", None) or {}
            return record.levelno >= logging.WARNING or meta.get("dagster_event") is None

    @dg.logger(description="Short progress lines for the finops CLI.")
    def progress(_init_context) -> logging.Logger:
        logger = logging.getLogger("finops.progress")
        logger.setLevel(logging.INFO)
        logger.propagate = False
        # A handler per run, on the sys.stdout of the moment (a caller may have replaced it).
        for old in list(logger.handlers):
            logger.removeHandler(old)
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(Compact())
        handler.addFilter(UserOrProblem())
        logger.addHandler(handler)
        return logger

    return progress


def materialize_range(settings: Settings, start: dt.date, end: dt.date,
                      resources: Mapping[str, object] | None = None) -> bool:
    """Run the `finops_daily` job for [start, end] in ONE Dagster run recorded in DAGSTER_HOME.

    Prints every failed asset check; returns False when the run failed or an ERROR-severity
    check did (a WARN is printed but does not fail the command).

    Args:
        resources: resources to use instead of the definitions' own (tests pass a `github`
            resource that talks to their fake server).
    """
    import warnings

    import dagster as dg

    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    from finops_pipeline.definitions import defs
    from finops_pipeline.defs.partitions import daily_partitions
    from finops_pipeline.defs.resources import FinopsConfig

    loaded = defs()
    # The run gets these settings as its resource, exactly the resolved ones printed by the
    # command; nothing is left behind in os.environ for a later call in the same process.
    finops = FinopsConfig(data_dir=str(settings.data_dir),
                          config_path=str(settings.config_path) if settings.config_path
                          else None)
    loaded = dg.Definitions(assets=loaded.assets, asset_checks=loaded.asset_checks,
                            jobs=loaded.jobs, schedules=loaded.schedules,
                            resources={**(loaded.resources or {}), "finops": finops,
                                       **(resources or {})},
                            loggers={"progress": _progress_logger()})

    last = daily_partitions.get_last_partition_key()
    if start < dt.date.fromisoformat(daily_partitions.start.strftime("%Y-%m-%d")):
        raise UsageError(f"{start} is before the first partition ({daily_partitions.start:%F})")
    if last is not None and end > dt.date.fromisoformat(last):
        raise UsageError(f"{end} is after the last partition ({last}): days are UTC")
    with dg.DagsterInstance.from_config(str(dagster_home(settings))) as instance:
        result = loaded.resolve_job_def("finops_daily").execute_in_process(
            instance=instance,
            tags={"dagster/asset_partition_range_start": start.isoformat(),
                  "dagster/asset_partition_range_end": end.isoformat()},
            run_config={"loggers": {"progress": {}}},
            raise_on_error=False,
        )
    errors = 0
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.passed:
            continue
        severity = evaluation.severity.value
        errors += severity == "ERROR"
        detail = "; ".join(f"{k}: {getattr(v, 'value', v)}" for k, v in evaluation.metadata.items()
                           if k in {"error", "failed_days", "unbalanced_days", "models",
                                    "rows_quarantined", "days_differing", "latest_day"})
        print(f"{severity} check {evaluation.check_name} on "
              f"{evaluation.asset_key.to_user_string()} failed" + (f": {detail}" if detail else ""))
    return result.success and errors == 0


TOP_AGENTS_SQL = """
    SELECT agent_name, calls, total_tokens, round(cost_usd, 2) AS cost_usd, models_used
    FROM v_top_spending_agents LIMIT 8"""
TOP_SAVINGS_SQL = """
    SELECT rank, kind, key, round(current_cost_usd, 2) AS cost_usd,
           round(potential_savings_usd, 2) AS savings_usd
    FROM recommendations WHERE day = ? ORDER BY rank LIMIT 5"""
ANOMALY_COUNTS_SQL = """
    SELECT kind, rule, count(*) FILTER (WHERE severity = 'critical') AS critical,
           count(*) FILTER (WHERE severity = 'warning') AS warning,
           count(*) FILTER (WHERE severity = 'info') AS info
    FROM anomalies WHERE day = ? GROUP BY ALL ORDER BY kind DESC, critical DESC, rule"""


def _print_frame(df: pl.DataFrame, fmt: str) -> None:
    if fmt == "csv":
        sys.stdout.write(df.write_csv())
    elif fmt == "json":
        sys.stdout.write(df.write_json() + "\n")
    else:
        with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=200, fmt_str_lengths=60,
                       tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True,
                       thousands_separator=","):
            print(df)


def cmd_demo(args: argparse.Namespace) -> int:
    from finops_pipeline.demo import generate_landing
    from finops_pipeline.demo.agents import generate_agent_calls
    from finops_pipeline.demo.otel_service import generate_otel_traces
    from finops_pipeline.sources.gh_aw_logs import landing_dir
    from finops_pipeline.warehouse.access import query

    settings = load_settings(data_dir=args.data_dir)
    paths = DataPaths(settings.data_dir)
    end = args.end or (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1))
    start = end - dt.timedelta(days=args.days - 1)
    t0 = time.perf_counter()
    summary = generate_landing(landing_dir(paths), days=args.days, end_day=end, seed=args.seed)
    agents_dir = paths.landing_source("agent-calls")
    agents = generate_agent_calls(agents_dir, days=args.days, end_day=end, seed=args.seed)
    otel_dir = paths.landing_source("otel")
    otel = generate_otel_traces(otel_dir, days=args.days, end_day=end, seed=args.seed)
    print(f"Generated {summary.runs} runs ({summary.requests:,} requests, "
          f"{summary.malformed_lines} malformed lines) for {start}..{end} in "
          f"{landing_dir(paths)} ({time.perf_counter() - t0:.1f}s)")
    print(f"Generated {agents.workflows} app workflow executions ({agents.calls:,} agent calls, "
          f"{agents.pipeline_runs} pipeline results) in {agents_dir}")
    print(f"Generated {otel.traces} OpenTelemetry traces of an instrumented service "
          f"({otel.calls:,} LLM calls) in {otel_dir}")
    print(f"Materializing {args.days} days in one Dagster run ...", flush=True)
    t1 = time.perf_counter()
    if not materialize_range(settings, start, end):
        print("materialization failed; see the log above", file=sys.stderr)
        return 1
    print(f"\nMaterialized {args.days} days in {time.perf_counter() - t1:.1f}s.\n")
    print(f"Per-workflow summary, {start}..{end}:")
    _print_frame(query(paths.warehouse, WORKFLOW_SUMMARY_SQL, [start, end]), "table")
    ingest = query(paths.warehouse, """
        SELECT sum(rows_in) AS rows_in, sum(rows_valid) AS valid,
               sum(rows_quarantined) AS quarantined, sum(rows_duplicate) AS duplicates
        FROM ingest_log WHERE day BETWEEN ? AND ?""", [start, end])
    print("\nIngestion (every row is valid, quarantined or a counted duplicate):")
    _print_frame(ingest, "table")
    print(f"\nAgents of the multi-agent app and the traced service, {start}..{end} "
          "(view v_top_spending_agents):")
    _print_frame(query(paths.warehouse, TOP_AGENTS_SQL), "table")
    print(f"\nTop savings over the 7 days to {end} (table recommendations):")
    _print_frame(query(paths.warehouse, TOP_SAVINGS_SQL, [end]), "table")
    print(f"\nAnomalies on {end} by kind (table anomalies):")
    _print_frame(query(paths.warehouse, ANOMALY_COUNTS_SQL, [end]), "table")
    print("\n" + _summary(paths, start, end))
    charted = settings.config.report.chart_days
    print(f"""
Report:      {paths.reports / end.isoformat() / 'report.md'}  (charts: last {charted} days)
Warehouse:   {paths.warehouse}
Lake:        {paths.root / 'lake'}
Quarantine:  {paths.root / 'quarantine'}  (rejected rows with _reason, _source, _line)
Dagster:     {dagster_home(settings)}

Try:
  finops sql "{SQL_EXAMPLE}"
  finops sql "select day, dataset, rows_in, rows_quarantined from ingest_log order by day" \\
      --format csv
  finops sql "select severity, key, rule, message from anomalies
              where day = (select max(day) from anomalies) order by severity, key"
  make dev                           # the Dagster UI: asset graph, runs, schedule
""")
    return 0


def _day_range(args: argparse.Namespace) -> tuple[dt.date, dt.date]:
    """The inclusive days of `--date D` or `--start A --end B`."""
    if args.date and (args.start or args.end):
        raise UsageError("give either --date or --start/--end")
    if args.date:
        return args.date, args.date
    if not (args.start and args.end):
        raise UsageError("give --date D, or --start A --end B (inclusive)")
    if args.end < args.start:
        raise UsageError(f"--end {args.end} is before --start {args.start}")
    return args.start, args.end


def cmd_materialize(args: argparse.Namespace) -> int:
    start, end = _day_range(args)
    settings = load_settings(data_dir=args.data_dir)
    ok = materialize_range(settings, start, end)
    paths = DataPaths(settings.data_dir)
    if ok:
        print("\n" + _summary(paths, start, end))
    print(("Materialized" if ok else "FAILED to materialize") + f" {start}..{end}; "
          f"warehouse: {paths.warehouse}; reports: {paths.reports}")
    return 0 if ok else 1


def _summary(paths: DataPaths, start: dt.date, end: dt.date) -> str:
    from finops_pipeline.report.console import console_summary
    from finops_pipeline.warehouse.access import read_only

    with read_only(paths.warehouse) as con:
        return console_summary(con, start, end)


def cmd_report(args: argparse.Namespace) -> int:
    import duckdb

    from finops_pipeline.report.build import write_report
    from finops_pipeline.warehouse.access import WarehouseMissing

    start, end = _day_range(args)
    paths = DataPaths(load_settings(data_dir=args.data_dir).data_dir)
    day = start
    try:
        while day <= end:
            built = write_report(paths, day)
            note = "" if built.has_data else "  (no data for the day: a short report)"
            print(f"{built.path}{note}")
            day += dt.timedelta(days=1)
    except WarehouseMissing as exc:
        print(f"finops report: {exc}", file=sys.stderr)
        return 1
    except (duckdb.CatalogException, duckdb.BinderException) as exc:
        # A warehouse published by an older version: the next materialization migrates it.
        print(f"finops report: the warehouse lacks what this version reports ({exc}); run "
              "`finops materialize` for a day first, which upgrades it", file=sys.stderr)
        return 1
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    import duckdb

    from finops_pipeline.warehouse.access import WarehouseMissing, query

    settings = load_settings(data_dir=args.data_dir)
    try:
        df = query(DataPaths(settings.data_dir).warehouse, args.query)
    except WarehouseMissing as exc:
        print(f"finops sql: {exc}", file=sys.stderr)
        return 1
    except duckdb.Error as exc:
        print(f"finops sql: {exc}", file=sys.stderr)
        return 1
    _print_frame(df, args.format)
    return 0


def cmd_dagster_home(args: argparse.Namespace) -> int:
    print(dagster_home(load_settings(data_dir=args.data_dir)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="finops",
        description="AI FinOps pipeline: where AI tokens and dollars go, and what to change.",
    )
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="data directory (default: $FINOPS_DATA_DIR or ./data)")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="generate synthetic telemetry and materialize it")
    demo.add_argument("--days", type=int, default=30, help="days of data (default 30)")
    demo.add_argument("--end", type=_date, default=None, help="last day (default: yesterday)")
    demo.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    demo.set_defaults(func=cmd_demo)

    mat = sub.add_parser("materialize", help="materialize one day or a range in one run")
    mat.add_argument("--date", type=_date)
    mat.add_argument("--start", type=_date)
    mat.add_argument("--end", type=_date)
    mat.set_defaults(func=cmd_materialize)

    report = sub.add_parser("report", help="(re)build the daily report of a day or a range")
    report.add_argument("--date", type=_date)
    report.add_argument("--start", type=_date)
    report.add_argument("--end", type=_date)
    report.set_defaults(func=cmd_report)

    sql = sub.add_parser("sql", help="read-only SQL on the warehouse")
    sql.add_argument("query")
    sql.add_argument("--format", choices=["table", "csv", "json"], default="table")
    sql.set_defaults(func=cmd_sql)

    home = sub.add_parser("dagster-home", help="print (and create) the Dagster instance folder")
    home.set_defaults(func=cmd_dagster_home)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "days", 1) is not None and getattr(args, "days", 1) < 1:
        parser.error("--days must be at least 1")
    try:
        return int(args.func(args))
    except (UsageError, ConfigError) as exc:
        print(f"finops {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
