"""Vectorized field extraction from JSON text columns, in DuckDB.

DuckDB's `json_valid` / `json_extract_string` read every line in one pass, tolerate anything
(a nested object where a number was expected comes back as its JSON text for the checks to
reject), and never raise on a malformed line, which polars' `json_decode` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from finops_pipeline.schemas.json_engine import cursor as _cursor


def _path_literal(path: str) -> str:
    # Paths are our own constants ($.a.b); quote each key so names like `_schema` are safe.
    keys = path.removeprefix("$.").split(".")
    if not all(k.replace("_", "").isalnum() for k in keys):
        raise ValueError(f"unsupported JSON path {path!r}")
    return "'$." + ".".join(f'"{k}"' for k in keys) + "'"


def extract_fields(
    df: pl.DataFrame,
    text_column: str,
    fields: Mapping[str, Sequence[str]],
    fallbacks: Sequence[tuple[str, Mapping[str, Sequence[str]]]] = (),
) -> pl.DataFrame:
    """Add `_json_ok`, `_json_type` and one String column per field to `df`.

    Args:
        df: frame with a JSON text column.
        text_column: the column holding JSON text (`_json_ok`/`_json_type` describe it).
        fields: output name -> candidate JSON paths; the first non-blank value wins.
        fallbacks: further (JSON text column, name -> paths) consulted in order after
            `fields`' paths; a name may appear only in a fallback.
    """
    names = list(dict.fromkeys([*fields, *(n for _, fb in fallbacks for n in fb)]))
    select = []
    for name in names:
        # A blank string counts as absent, so the next candidate path gets its turn: Go writes
        # "" for unset string fields, which must not hide the value in aw_info.json.
        exprs = [f"nullif(trim(json_extract_string({text_column}, {_path_literal(p)})), '')"
                 for p in fields.get(name, ())]
        exprs += [
            f"CASE WHEN json_valid({column}) THEN "
            f"nullif(trim(json_extract_string({column}, {_path_literal(p)})), '') END"
            for column, fallback in fallbacks for p in fallback.get(name, ())
        ]
        expr = exprs[0] if len(exprs) == 1 else f"coalesce({', '.join(exprs)})"
        select.append(f'CASE WHEN _json_ok THEN {expr} END AS "{name}"')
    query = f"""
        WITH t AS (SELECT *, coalesce(json_valid({text_column}), false) AS _json_ok FROM src)
        SELECT * EXCLUDE (_json_ok), _json_ok,
               CASE WHEN _json_ok THEN json_type({text_column}) END AS _json_type,
               {", ".join(select)}
        FROM t
    """
    with _cursor() as con:
        con.register("src", df)
        out = con.sql(query).pl()
        con.unregister("src")
    # DuckDB returns an empty frame's columns with its own types; pin them to String.
    return out.with_columns(pl.col(names).cast(pl.String))
