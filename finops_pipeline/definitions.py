"""Dagster Definitions: sources -> lake -> warehouse (-> analytics), daily UTC partitions.

Loaded the way `create-dagster` scaffolds a project: every Dagster object defined at module
level under `finops_pipeline/defs/` (assets generated from the registries, checks, the job,
the schedule, and the resources of `defs/resources.py`) is collected by
`load_from_defs_folder`. `dg check defs` and `dagster definitions validate` load this.
"""

from functools import cache
from pathlib import Path

import dagster as dg


@dg.definitions
@cache
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)


def all_assets() -> list:
    """Every asset and check of a day, in dependency order: what `finops materialize` runs
    and what tests pass to `dg.materialize`."""
    loaded = defs()
    return [*loaded.assets, *loaded.asset_checks]
