"""Configuration as a Dagster resource, resolved when a run starts (never at import time)."""

import dagster as dg

from finops_pipeline.config import Settings, load_settings
from finops_pipeline.lake import DataPaths


class FinopsConfig(dg.ConfigurableResource):
    """Where the data lives and which finops.yaml to use.

    Unset fields fall back to FINOPS_DATA_DIR / FINOPS_CONFIG, then ./data and ./finops.yaml.
    Secrets (GITHUB_TOKEN) are read from the environment when needed and never stored here.
    """

    data_dir: str | None = None
    config_path: str | None = None

    def settings(self) -> Settings:
        return load_settings(data_dir=self.data_dir, config_path=self.config_path)

    def paths(self) -> DataPaths:
        return DataPaths(self.settings().data_dir)
