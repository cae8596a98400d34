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

    Each JSON column is parsed once: DuckDB's `json_extract_string` with the list of every path
    wanted from it returns them all from one parse (one call per path re-parsed the text each
    time: 30 fields cost 30 parses a line). The values are picked in SQL for large frames and
    in polars for small ones (see SMALL_FRAME_ROWS); both give the same text.
    """
    names = list(dict.fromkeys([*fields, *(n for _, fb in fallbacks for n in fb)]))
    # (column, its paths in order) and, per name, the (column index, path index) candidates.
    columns: list[tuple[str, list[str]]] = [(text_column, [])]
    candidates: dict[str, list[tuple[int, int]]] = {n: [] for n in names}
    sources = [(text_column, fields), *fallbacks]
    for column, mapping in sources:
        index = next((k for k, (col, _) in enumerate(columns) if col == column), None)
        if index is None:
            columns.append((column, []))
            index = len(columns) - 1
        paths = columns[index][1]
        for name in names:
            for path in mapping.get(name, ()):
                if path not in paths:
                    paths.append(path)
                candidates[name].append((index, paths.index(path)))
    json_columns = [c for c, _ in columns]
    if df.height <= SMALL_FRAME_ROWS:
        # Trimmed lists from DuckDB, the values picked in polars.
        lists = _run(df, text_column, json_columns,
                     _value_lists(text_column, columns, trim_each=True), None)

        def listed(index: int, position: int) -> pl.Expr:
            return pl.col(f"_values_{index}").list.get(position, null_on_oob=True)

        out = lists.select("_json_ok", "_json_type", *[
            pl.coalesce([listed(i, p) for i, p in candidates[n]] or [pl.lit(None)])
            .cast(pl.String).alias(n) for n in names])
    else:
        # DuckDB's trim (Unicode spaces too); a blank string counts as absent, so the next
        # candidate gets its turn: Go writes "" for unset string fields, which must not hide
        # the value in aw_info.json. Picked in SQL, so only plain text columns cross into
        # polars (lists of 30 strings a row cost more to hand over than to parse).
        picked = [
            "coalesce(" + ", ".join(f"nullif(trim(_values_{i}[{p + 1}]), '')"
                                    for i, p in candidates[n]) + f") AS \"{n}\""
            if candidates[n] else f"NULL::VARCHAR AS \"{n}\""
            for n in names
        ]
        out = _run(df, text_column, json_columns,
                   _value_lists(text_column, columns, trim_each=False), picked)
    return df.drop([n for n in names if n in df.columns]).hstack(out)


# Below this many rows the values are picked in polars from one trimmed list per JSON column:
# DuckDB then plans a small query (~20 ms) where picking in SQL (one expression per candidate
# path: the run fields have 117) costs ~100 ms to plan, which a day of a few runs pays per
# source and a year's backfill 365 times. Above it, moving lists into polars costs more than
# planning once.
SMALL_FRAME_ROWS = 20_000


def _value_lists(text_column: str, columns: list[tuple[str, list[str]]],
                 trim_each: bool) -> dict[str, str]:
    """`_values_<k>`: the SQL of the list of every path's text from JSON column k.

    `json_extract_string` with the list of paths reads them all from one parse. (Not
    `from_json` into VARCHARs, which is no faster here and writes some numbers differently:
    1e21 as '1e+21', 0.00001 as '1e-05'.) `trim_each`: DuckDB's trim, a blank string absent.
    """
    lists = {}
    for k, (column, paths) in enumerate(columns):
        if not paths:
            continue
        valid = "_json_ok" if column == text_column else f"json_valid({column})"
        values = f"json_extract_string({column}, [{', '.join(map(_path_literal, paths))}])"
        if trim_each:
            values = f"list_transform({values}, lambda x: nullif(trim(x), ''))"
        lists[f"_values_{k}"] = f"CASE WHEN _json_ok AND {valid} THEN {values} END"
    return lists


def _run(df: pl.DataFrame, text_column: str, json_columns: list[str], values: dict[str, str],
         picked: list[str] | None) -> pl.DataFrame:
    """`_json_ok`, `_json_type`, then the `picked` columns (else the `values` lists), in
    `df`'s order."""
    wanted = picked or list(values)
    query = f"""
        WITH t AS (SELECT *, coalesce(json_valid({text_column}), false) AS _json_ok FROM src),
        v AS (SELECT *, CASE WHEN NOT _json_ok THEN NULL
                             -- valid JSON opening with '{{' is an object: no second parse
                             WHEN starts_with(ltrim({text_column}, ' \t\r\n'), '{{')
                             THEN 'OBJECT' ELSE json_type({text_column}) END AS _json_type
                     {"".join(f", {sql} AS {alias}" for alias, sql in values.items())}
              FROM t)
        SELECT _i, _json_ok, _json_type{"".join(", " + x for x in wanted)}
        FROM v
    """
    # Only the JSON columns go in and only the new columns come back: handing the whole frame
    # (its raw text above all) through DuckDB and back cost more than the parse. `_i` puts the
    # rows back in `df`'s order whatever DuckDB's threads did.
    src = df.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("_i"), *json_columns)
    with _cursor() as con:
        con.register("src", src)
        out = con.sql(query).pl()
        con.unregister("src")
    if not out["_i"].is_sorted():
        out = out.sort("_i")
    return out.drop("_i")
