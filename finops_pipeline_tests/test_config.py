from pathlib import Path

import pytest

from finops_pipeline.config import ConfigError, load_settings, parse_config

FULL = """
sources:
  github:
    repos: [acme/api, acme/web]
    artifact_names: [agent, "firewall-logs*"]
  gh_aw_logs:
    paths: [logs]
  agent_calls:
    paths: ["/srv/agents/events/**/*.jsonl"]
  otel:
    paths: ["/srv/otel/*.jsonl"]
teams:
  platform: [acme/api]
budgets:
  - {scope: team, key: platform, period: month, usd: 500}
thresholds:
  io_ratio_max: 80
prices:
  - {provider: acme, model: acme-large, effective_from: 2026-01-01,
     input_mtok: 1.0, output_mtok: 4.0, cache_read_mtok: 0.1, cache_write_mtok: 1.25}
report:
  publish: false
  repo: acme/finops
"""


def test_full_example_parses():
    cfg = parse_config(FULL)
    assert cfg.sources.github.repos == ["acme/api", "acme/web"]
    assert cfg.thresholds.io_ratio_max == 80
    assert cfg.thresholds.small_request_output_tokens == 50  # default kept
    assert cfg.prices[0].cache_write_mtok == 1.25
    assert cfg.teams == {"platform": ["acme/api"]}


def test_empty_file_is_all_defaults():
    cfg = parse_config("")
    assert cfg.sources.github is None and cfg.budgets == []


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("sourcez: {}", "sourcez"),
        ("sources: {gh_aw_logs: {pathz: [x]}}", "sources.gh_aw_logs.pathz"),
        ("thresholds: {io_ratio_mx: 3}", "thresholds.io_ratio_mx"),
        ("budgets: [{scope: team, key: a, usd: 1, extra: 2}]", "budgets.0.extra"),
    ],
)
def test_unknown_key_is_named(text, named):
    with pytest.raises(ConfigError, match=f"unknown key '{named}'"):
        parse_config(text, "finops.yaml")


def test_mistyped_value_is_named():
    with pytest.raises(ConfigError, match="thresholds.io_ratio_max"):
        parse_config("thresholds: {io_ratio_max: lots}")
    with pytest.raises(ConfigError, match="owner/name"):
        parse_config("sources: {github: {repos: [justaname]}}")
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_config("sources: [")


def test_environment_overrides_file(tmp_path: Path):
    (tmp_path / "cfg.yaml").write_text(FULL)
    env = {"FINOPS_CONFIG": str(tmp_path / "cfg.yaml"), "FINOPS_DATA_DIR": str(tmp_path / "d"),
           "FINOPS_GITHUB_REPOS": "o/one, o/two", "GITHUB_API_URL": "http://127.0.0.1:9/api/v3/",
           "GITHUB_TOKEN": "t0k3n-not-real"}
    s = load_settings(env=env)
    assert s.data_dir == (tmp_path / "d").resolve()
    assert s.github_repos == ["o/one", "o/two"]
    assert s.github_api_url == "http://127.0.0.1:9/api/v3"
    assert s.source_paths("gh_aw_logs") == [(tmp_path / "logs").resolve()]
    assert "t0k3n-not-real" not in repr(s) and "t0k3n-not-real" not in str(s)


def test_defaults_without_file_or_env(tmp_path: Path):
    s = load_settings(env={})
    assert s.data_dir == (tmp_path / "data").resolve()
    assert s.config_path is None
    assert s.github_api_url == "https://api.github.com"


def test_local_finops_yaml_is_picked_up(tmp_path: Path):
    (tmp_path / "finops.yaml").write_text("thresholds: {io_ratio_max: 7}")
    assert load_settings(env={}).thresholds.io_ratio_max == 7


def test_missing_config_file_and_bad_repos_env(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(env={"FINOPS_CONFIG": str(tmp_path / "nope.yaml")})
    with pytest.raises(ConfigError, match="FINOPS_GITHUB_REPOS"):
        load_settings(env={"FINOPS_GITHUB_REPOS": "not-a-repo"})


def test_report_chart_days():
    assert parse_config("").report.chart_days == 7
    assert parse_config("report: {chart_days: 0}").report.chart_days == 0
    with pytest.raises(ConfigError, match="report.chart_days"):
        parse_config("report: {chart_days: -1}")
    with pytest.raises(ConfigError, match="report.chart_days"):
        parse_config("report: {chart_days: lots}")
