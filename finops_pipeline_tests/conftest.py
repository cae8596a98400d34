"""Shared fixtures: every test runs in its own directory with a clean environment."""

from __future__ import annotations

import os

import pytest

ENV_VARS = ("FINOPS_DATA_DIR", "FINOPS_CONFIG", "GITHUB_TOKEN", "GITHUB_API_URL",
            "FINOPS_GITHUB_REPOS", "DAGSTER_HOME")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path):
    """No test sees the developer's environment, ./finops.yaml or ./data, and whatever a
    test (or the CLI it calls) puts into os.environ is gone afterwards."""
    saved = dict(os.environ)
    for var in ENV_VARS:
        os.environ.pop(var, None)
    monkeypatch.chdir(tmp_path)
    yield
    os.environ.clear()
    os.environ.update(saved)
