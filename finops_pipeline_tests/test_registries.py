"""The registries: sources, datasets and tables are declared once, and everything follows.

A new source is a class and a registry entry; a new table is a `Table(...)` line. These tests
add one of each (in the test only) and run real Dagster materializations through them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from finops_pipeline.config import Settings
from finops_pipeline.definitions import defs
from finops_pipeline.defs.assets.lake import build_lake_asset
from finops_pipeline.defs.assets.sources import build_source_asset, fetch_check_name
from finops_pipeline.defs.assets.warehouse import warehouse
from finops_pipeline.defs.resources import FinopsConfig, GitHubResource
from finops_pipeline.lake import DataPaths, write_raw_day
from finops_pipeline.schemas.datasets import DATASETS, LAKE_DATASETS
from finops_pipeline.schemas.raw import RAW_KINDS, RUNS, TOKEN_USAGE
from finops_pipeline.sources.base import Source, SourceContext, SourceDay
from finops_pipeline.sources.jsontext import token_lines_frame
from finops_pipeline.sources.registry import SOURCES
from finops_pipeline.transforms.lake_day import NORMALIZERS
from finops_pipeline.warehouse.tables import TABLES, check_registry
from finops_pipeline_tests.test_pipeline_e2e import D1, data_dir, record, sql  # noqa: F401

warnings.filterwarnings("ignore", category=dg.BetaWarning)
PACKAGE = Path(__file__).resolve().parents[1] / "finops_pipeline"


class ToyFeed:
    """Runs and requests of an in-house agent runner, written by no real tool (a test source)."""

    name = "toy_feed"
    landing_name = "toy-feed"
    raw_kinds = ("runs", "token_usage")
    asset_kinds = frozenset({"python"})
    resource_keys: frozenset[str] = frozenset()
    off_hint = ""

    def enabled(self, settings: Settings) -> bool:
        return True

    def extract(self, ctx: SourceContext, days: Sequence[dt.date]) -> Iterator[SourceDay]:
        for day in days:
            # One run (id 501) of its own, and a copy of gh-aw's run 1 with one request.
            runs = [(501, "Toy Agent", f"{day}T10:00:00Z"), (1, "Smoke Claude", f"{day}T09:00:00Z")]
            run_rows = pl.DataFrame([{
                "_source": f"toy://{day}", "_line": i, "_shape": "logs_json",
                "_run_ref": f"toy#{run_id}",
                "_raw": json.dumps({"run_id": run_id, "workflow_name": wf, "created_at": created,
                                    "repository": "acme/api"}),
                "_aw_info": None, "_agent_usage": None, "_token_files": 1,
            } for i, (run_id, wf, created) in enumerate(runs, start=1)], schema=RUNS.schema)
            lines = pl.concat([
                token_lines_frame("toy#501", "toy://501.jsonl",
                                  (json.dumps(record("t1")) + "\n" + json.dumps(record("t2")))
                                  .encode(), rank=0),
                token_lines_frame("toy#1", "toy://1.jsonl", json.dumps(record("a1")).encode(),
                                  rank=0),
            ])
            yield SourceDay(day, {"runs": run_rows, "token_usage": lines},
                            figures={"runs": run_rows.height, "token_lines": lines.height})


def test_every_registered_source_has_its_asset_and_fetch_check():
    loaded = defs()
    keys = {k.to_user_string() for k in loaded.resolve_asset_graph().get_all_asset_keys()}
    checks = {c.name for c in loaded.resolve_asset_graph().asset_check_keys}
    for source in SOURCES:
        assert isinstance(source, Source)
        assert f"sources/{source.name}" in keys
        assert fetch_check_name(source) in checks
        assert set(source.raw_kinds) <= set(RAW_KINDS)
    # the API's copy of a run wins over a local one
    assert [s.name for s in SOURCES] == ["github", "github_billing", "gh_aw_logs", "agent_calls",
                                        "otel"]


def test_a_new_source_is_a_class_and_a_registry_entry(data_dir: Path):  # noqa: F811
    sources = (*SOURCES, ToyFeed())  # the registry line
    assets = [*(build_source_asset(s) for s in sources), build_lake_asset(sources), warehouse]
    result = dg.materialize(
        assets, partition_key=D1.isoformat(), instance=dg.DagsterInstance.ephemeral(),
        resources={"finops": FinopsConfig(data_dir=str(data_dir)), "github": GitHubResource()})
    assert result.success
    mat = result.asset_materializations_for_node("sources__toy_feed")[0]
    assert {"enabled", "days", "dagster/row_count", "per_day", "problems"} <= set(mat.metadata)
    assert mat.metadata["runs"].value == 2

    runs = sql(data_dir, "SELECT source, run_id, workflow, requests FROM fact_workflow_runs "
                         "ORDER BY run_id")
    # Run 1 came from gh-aw logs (listed first in the registry) and from the toy feed: kept
    # once, from gh-aw logs; the toy's copy is its duplicate.
    assert runs.rows() == [("gh_aw_logs", 1, "Smoke Claude", 2), ("toy_feed", 501, "Toy Agent", 2)]
    log = sql(data_dir, "SELECT dataset, rows_in, rows_valid, rows_duplicate FROM ingest_log "
                        "WHERE source = 'toy_feed' ORDER BY dataset")
    assert log.rows() == [("llm_requests", 3, 2, 1), ("workflow_runs", 2, 1, 1)]
    assert sql(data_dir, "SELECT count(*) FROM fact_llm_requests WHERE source = 'toy_feed'"
               ).item() == 2


def test_a_source_that_writes_the_wrong_columns_is_stopped(tmp_path: Path):
    bad = pl.DataFrame({"_raw": ["{}"]})
    with pytest.raises(TypeError, match=r"source toy wrote raw runs with columns .*schemas/raw"):
        write_raw_day(DataPaths(tmp_path), "toy", D1, {"runs": bad})
    assert not (tmp_path / "raw").exists()


def test_datasets_and_normalizers_cover_each_other():
    written = sorted(d for n in NORMALIZERS for d in n.writes)
    assert written == sorted(DATASETS)
    for dataset in LAKE_DATASETS.values():
        assert set(dataset.key) <= set(dataset.schema)
        if dataset.model is not None:  # every declared column type passes its own model
            dataset.model.validate(dataset.empty())
    assert {k for n in NORMALIZERS for k in n.reads} <= set(RAW_KINDS)
    assert TOKEN_USAGE.name in DATASETS["llm_requests"].raw_kinds


def test_the_table_registry_is_consistent_and_complete():
    check_registry(TABLES)
    names = [t.name for t in TABLES]
    assert len(names) == len(set(names))
    for dataset in DATASETS:  # every lake dataset has its fact table
        assert f"fact_{dataset}" in names
    views = [t.name for t in TABLES if t.storage == "lake_view"]
    assert views == ["fact_llm_requests", "fact_agent_calls"]  # the large facts


IMPORT = re.compile(r"^\s*(?:from|import) finops_pipeline\.(\w+)", re.MULTILINE)
FORBIDDEN = {  # DESIGN section 2: defs -> warehouse/transforms/sources -> schemas
    "schemas": {"sources", "transforms", "warehouse", "defs", "report"},
    "transforms": {"sources", "warehouse", "defs", "report"},
    "sources": {"transforms", "warehouse", "defs", "report"},
    "warehouse": {"sources", "defs", "report"},
    # The report reads the warehouse and publishes with the GitHub client; only defs (and
    # the CLI) use it.
    "report": {"defs"},
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_go_one_way(package: str):
    wrong = []
    for path in sorted((PACKAGE / package).rglob("*.py")):
        for target in IMPORT.findall(path.read_text(encoding="utf-8")):
            if target in FORBIDDEN[package]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports finops_pipeline.{target}")
    assert wrong == []


def test_config_and_top_level_modules_import_no_layer_above_them():
    for module in ("config.py", "lake.py", "pricing.py"):
        targets = set(IMPORT.findall((PACKAGE / module).read_text(encoding="utf-8")))
        assert targets <= {"config", "schemas"}, (module, targets)


def test_definitions_load_like_a_scaffolded_project():
    """`dg check defs` and `dagster definitions validate` load exactly this."""
    loaded = defs()
    assert set(loaded.resources) == {"finops", "github"}
    assert [j.name for j in loaded.jobs] == ["finops_daily"]
    keys = {k.to_user_string() for k in loaded.resolve_asset_graph().get_all_asset_keys()}
    assert {f"warehouse/{t.name}" for t in TABLES} <= keys


def test_dagster_tools_load_the_definitions():
    """`dg check defs` and `dagster definitions validate`, as a newcomer would run them."""
    import subprocess
    import sys

    bin_dir = Path(sys.executable).parent
    root = PACKAGE.parent
    for command in ([str(bin_dir / "dg"), "check", "defs"],
                    [str(bin_dir / "dagster"), "definitions", "validate", "-w", "workspace.yaml"]):
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])


def test_long_runs_record_numbers_without_per_asset_previews():
    from finops_pipeline.defs.assets.common import PREVIEW_MAX_DAYS, range_preview

    df = pl.DataFrame({"day": ["2026-03-01"], "rows": [3]})
    assert "| 2026-03-01" in range_preview(df, PREVIEW_MAX_DAYS).value
    long = range_preview(df, 365).value
    assert "365 days" in long and "|" not in long
