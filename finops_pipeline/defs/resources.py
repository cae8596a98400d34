"""Resources, resolved when a run starts (never at import time): settings and GitHub access."""

import dagster as dg

from finops_pipeline.config import Settings, load_settings
from finops_pipeline.lake import DataPaths
from finops_pipeline.sources.github.client import GitHubClient

TOKEN_ENV_VAR = "GITHUB_TOKEN"


class FinopsConfig(dg.ConfigurableResource):
    """Where the data lives and which finops.yaml to use.

    Unset fields fall back to FINOPS_DATA_DIR / FINOPS_CONFIG, then ./data and ./finops.yaml.
    Secrets are not settings: the GitHub token is the `github` resource's.
    """

    data_dir: str | None = None
    config_path: str | None = None

    def settings(self) -> Settings:
        return load_settings(data_dir=self.data_dir, config_path=self.config_path)

    def paths(self) -> DataPaths:
        return DataPaths(self.settings().data_dir)


class GitHubResource(dg.ConfigurableResource):
    """GitHub REST access for the `github` source: the token, and the client built from it.

    The token is `dg.EnvVar(token_env_var)` (GITHUB_TOKEN by default), read when the source asks
    for it. The resource's config holds only the variable's *name*: a config value is stored in
    Dagster's run storage and shown in the UI, a token must be neither. It is not bound as
    `token=dg.EnvVar(...)` either, because Dagster then refuses to start any run while the
    variable is unset (EnvVar has no default, dagster-io/dagster#16232), and a pipeline without
    GitHub, or a day run without a token, must still run and keep the GitHub data it has
    (DESIGN section 8). Tests subclass this and override `client` to talk to their fake server
    with a fake clock.
    """

    token_env_var: str = TOKEN_ENV_VAR
    timeout_seconds: float = 30.0

    def resolved_token(self) -> str | None:
        # A blank variable is no token (the sources then say so instead of failing the run).
        return (dg.EnvVar(self.token_env_var).get_value() or "").strip() or None

    def client(self, api_url: str, *, max_in_flight: int) -> GitHubClient:
        return GitHubClient(api_url, self.resolved_token(), max_in_flight=max_in_flight,
                            timeout=self.timeout_seconds)


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"finops": FinopsConfig(), "github": GitHubResource()})
