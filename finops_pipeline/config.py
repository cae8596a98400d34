"""The `finops.yaml` configuration and its environment overrides (DESIGN section 3).

Every section is optional; unknown or mistyped keys are an error that names the key, because
a silently ignored `theshold:` is how a FinOps pipeline ends up alerting on the wrong numbers.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

DEFAULT_API_URL = "https://api.github.com"
#: Artifact names that can hold the api-proxy's token-usage.jsonl (fnmatch patterns).
DEFAULT_ARTIFACT_PATTERNS: tuple[str, ...] = (
    "agent",
    "agent-artifacts",
    "firewall-audit-logs*",
    "firewall-logs*",
)


class ConfigError(ValueError):
    """A configuration file or environment value is invalid; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GitHubSource(_Strict):
    repos: list[str] = Field(default_factory=list)
    artifact_names: list[str] = Field(default_factory=lambda: list(DEFAULT_ARTIFACT_PATTERNS))
    api_url: str = DEFAULT_API_URL
    max_concurrency: int = Field(default=8, ge=1, le=64)

    @field_validator("repos")
    @classmethod
    def _owner_name(cls, repos: list[str]) -> list[str]:
        for repo in repos:
            if repo.count("/") != 1 or not all(repo.split("/")):
                raise ValueError(f"repo {repo!r} is not of the form owner/name")
        return repos


class GitHubBillingSource(_Strict):
    """GitHub's AI-credit usage per day (the billing API) for organizations and enterprises."""

    orgs: list[str] = Field(default_factory=list)
    enterprises: list[str] = Field(default_factory=list)
    users: list[str] = Field(default_factory=list)
    #: Days before this are read from the legacy premium-request usage endpoint.
    ai_credits_since: dt.date = dt.date(2026, 6, 1)
    max_concurrency: int = Field(default=4, ge=1, le=16)

    @field_validator("orgs", "enterprises", "users")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not name or "/" in name or name != name.strip():
                raise ValueError(f"{name!r} is not an organization, enterprise or user name")
        return names


class PathsSource(_Strict):
    paths: list[str] = Field(default_factory=list)


class Sources(_Strict):
    github: GitHubSource | None = None
    github_billing: GitHubBillingSource | None = None
    gh_aw_logs: PathsSource | None = None
    agent_calls: PathsSource | None = None
    otel: PathsSource | None = None


class Budget(_Strict):
    scope: Literal["team", "repo", "workflow", "total"]
    key: str = "*"
    period: Literal["day", "month"] = "month"
    usd: float = Field(ge=0)


class Thresholds(_Strict):
    """One key per rule of DESIGN section 6; defaults follow the seeds."""

    # Rule flags (anomalies, kind `rule`).
    io_ratio_max: float = Field(default=100.0, gt=0)
    small_request_output_tokens: int = Field(default=50, ge=0)
    small_requests_min_count: int = Field(default=10, ge=0)
    high_total_tokens: int = Field(default=5_000_000, ge=0)  # per workflow and day
    tokens_per_run_max: int = Field(default=100_000, ge=0)
    cost_per_run_max: float = Field(default=1.0, ge=0)
    turns_per_run_max: int = Field(default=15, ge=0)
    error_rate_max: float = Field(default=0.30, ge=0, le=1)
    spend_increase_pct: float = Field(default=25.0, ge=0)
    spend_increase_min_usd: float = Field(default=1.0, ge=0)  # ignore rises of pennies
    cache_hit_rate_min: float = Field(default=0.0, ge=0, le=1)
    cache_min_prompt_tokens: int = Field(default=100_000, ge=0)  # below it, caching is moot
    # Showback flags (seed 000's governance table).
    tokens_per_completed_task_max: float = Field(default=100_000, ge=0)
    retry_rate_max: float = Field(default=0.25, ge=0)
    # Efficiency score and session classification (seed 000, DESIGN section 6).
    efficiency_tokens_scale: float = Field(default=100.0, gt=0)  # S of the efficiency score
    efficiency_cost_scale: float = Field(default=20.0, ge=0)  # C of the efficiency score
    session_tokens_high: int = 5000  # T_high of the session classification
    session_tokens_low: int = 3000  # T_low of the session classification
    session_retries_high: int = 2
    # Statistical anomalies: robust z-score against the key's own trailing days.
    anomaly_window_days: int = Field(default=28, ge=7, le=30)  # the table reads 31 days
    anomaly_min_history_days: int = Field(default=7, ge=1)
    anomaly_z: float = Field(default=3.5, gt=0)
    anomaly_min_ratio: float = Field(default=2.0, ge=1)  # observed >= ratio x median
    anomaly_min_rise_tokens: int = Field(default=100_000, ge=0)  # smaller rises never fire
    # Recommendations' savings formulas (docs/metrics.md).
    cache_hit_rate_target: float = Field(default=0.5, ge=0, le=1)
    small_requests_batch_size: int = Field(default=5, ge=2)
    recommendation_min_savings_usd: float = Field(default=0.01, ge=0)
    # Billing reconciliation: the share of an organization's bill its telemetry may leave
    # unexplained before it is flagged (and instrumenting is recommended).
    unexplained_share_max: float = Field(default=0.25, ge=0, le=1)
    quarantine_rate_warn: float = 0.05


class PriceOverride(_Strict):
    provider: str
    model: str
    effective_from: dt.date
    effective_to: dt.date | None = None
    input_mtok: float = Field(ge=0)
    output_mtok: float = Field(ge=0)
    cache_read_mtok: float | None = Field(default=None, ge=0)
    cache_write_mtok: float | None = Field(default=None, ge=0)


class Report(_Strict):
    """The daily report; `publish` posts it as a GitHub issue in `repo` with `label`.

    A materialization draws the charts of the last `chart_days` days of its range only (0:
    none); earlier days get the Markdown with a note saying how to draw them.
    """

    publish: bool = False
    repo: str | None = None
    label: str = Field(default="token-usage-report", min_length=1)
    chart_days: int = Field(default=7, ge=0)

    @field_validator("repo")
    @classmethod
    def _owner_name(cls, repo: str | None) -> str | None:
        if repo is not None and (repo.count("/") != 1 or not all(repo.split("/"))):
            raise ValueError(f"repo {repo!r} is not of the form owner/name")
        return repo

    @model_validator(mode="after")
    def _repo_to_publish_to(self) -> Report:
        if self.publish and not self.repo:
            raise ValueError("report.publish is true but report.repo (owner/name) is not set")
        return self


class Schedule(_Strict):
    """The daily schedule (08:00 UTC): yesterday plus `lookback_days` before it."""

    lookback_days: int = Field(default=2, ge=0, le=31)


class FileConfig(_Strict):
    """The validated content of `finops.yaml`."""

    sources: Sources = Field(default_factory=Sources)
    teams: dict[str, list[str]] = Field(default_factory=dict)
    budgets: list[Budget] = Field(default_factory=list)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    prices: list[PriceOverride] = Field(default_factory=list)
    # Context window (tokens) by model name, where genai-prices' catalog does not know it.
    context_windows: dict[str, int] = Field(default_factory=dict)
    report: Report = Field(default_factory=Report)
    schedule: Schedule = Field(default_factory=Schedule)


class Settings(BaseModel):
    """Everything a run needs: the file config plus the environment, resolved once.

    Secrets are not settings: the GitHub token belongs to the `github` Dagster resource.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    data_dir: Path
    config_path: Path | None
    config: FileConfig
    github_api_url: str
    github_repos: list[str]

    def source_paths(self, source: str) -> list[Path]:
        """`sources.<source>.paths` of finops.yaml: relative paths are taken from the config
        file's folder; glob patterns (`**/*.jsonl`) are kept for the source to expand."""
        section = getattr(self.config.sources, source, None)
        paths = getattr(section, "paths", None) or []
        base = self.config_path.parent if self.config_path else Path.cwd()
        return [(base / p).resolve() if not _is_glob(p) else base / p for p in paths]

    @property
    def thresholds(self) -> Thresholds:
        return self.config.thresholds


def _is_glob(path: str) -> bool:
    return any(ch in path for ch in "*?[")


def _format_validation_error(path: Path | str, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            lines.append(f"{path}: unknown key '{key}'")
        else:
            lines.append(f"{path}: '{key}': {e['msg']}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def parse_config(text: str, origin: Path | str = "finops.yaml") -> FileConfig:
    """Parse and validate YAML text; raise ConfigError naming the file and key."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML: {exc}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{origin}: the top level must be a mapping of sections")
    try:
        return FileConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(origin, exc)) from None


def load_settings(
    data_dir: str | Path | None = None,
    config_path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve settings: explicit arguments, then environment, then the config file, then defaults.

    Args:
        data_dir: overrides FINOPS_DATA_DIR (default ./data).
        config_path: overrides FINOPS_CONFIG (default ./finops.yaml when present).
        env: the environment to read (os.environ by default); tests pass their own.
    """
    env = os.environ if env is None else env
    cfg_path: Path | None
    if config_path is not None:
        cfg_path = Path(config_path)
    elif env.get("FINOPS_CONFIG"):
        cfg_path = Path(env["FINOPS_CONFIG"])
    else:
        cfg_path = Path("finops.yaml") if Path("finops.yaml").is_file() else None
    if cfg_path is not None:
        if not cfg_path.is_file():
            raise ConfigError(f"config file {cfg_path} does not exist (from FINOPS_CONFIG)")
        file_config = parse_config(cfg_path.read_text(encoding="utf-8"), cfg_path)
        cfg_path = cfg_path.resolve()
    else:
        file_config = FileConfig()

    github = file_config.sources.github
    repos = list(github.repos) if github else []
    if env.get("FINOPS_GITHUB_REPOS"):
        repos = [r.strip() for r in env["FINOPS_GITHUB_REPOS"].split(",") if r.strip()]
        try:
            GitHubSource(repos=repos)
        except ValidationError as exc:
            raise ConfigError(_format_validation_error("FINOPS_GITHUB_REPOS", exc)) from None
    api_url = env.get("GITHUB_API_URL") or (github.api_url if github else DEFAULT_API_URL)

    return Settings(
        data_dir=Path(data_dir or env.get("FINOPS_DATA_DIR") or "data").resolve(),
        config_path=cfg_path,
        config=file_config,
        github_api_url=api_url.rstrip("/"),
        github_repos=repos,
    )
