from pathlib import Path

from finops_pipeline.catalog import render

ROOT = Path(__file__).resolve().parents[1]


def test_table_catalog_is_current():
    committed = (ROOT / "docs" / "tables.md").read_text(encoding="utf-8")
    assert committed == render(), (
        "docs/tables.md is stale: python -m finops_pipeline.catalog > docs/tables.md")


def test_readme_names_the_two_commands_and_the_tables():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
    for table in ("fact_workflow_runs", "fact_llm_requests", "kpi_workflow_daily",
                  "history_daily", "ingest_log"):
        assert table in readme
