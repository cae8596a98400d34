"""Which team a repository belongs to (showback): the `teams:` of finops.yaml, else its owner."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl


def team_of(repo: pl.Expr, teams: Mapping[str, Sequence[str]]) -> pl.Expr:
    """The team of each repo: the first team of `teams` (team -> repos) listing it, else the
    repo's owner (`acme` of `acme/api`), so every repo is someone's."""
    mapping = {}
    for team, repos in teams.items():
        for r in repos:
            mapping.setdefault(r, team)
    owner = repo.str.split("/").list.first()
    if not mapping:
        return owner
    return repo.replace_strict(mapping, default=owner, return_dtype=pl.String)
