"""Shared fixtures: every test runs in its own directory with a clean environment."""

from __future__ import annotations

import pytest

ENV_VARS = ("FINOPS_DATA_DIR", "FINOPS_CONFIG", "GITHUB_TOKEN", "GITHUB_API_URL",
            "FINOPS_GITHUB_REPOS", "DAGSTER_HOME")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path):
    """No test sees the developer's environment, ./finops.yaml or ./data."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
