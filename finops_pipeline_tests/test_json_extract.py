"""transforms/json_extract.py: both ways of picking values give the same frame."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import finops_pipeline.transforms.json_extract as je

LINES = [
    '{"a": 1.5e3, "b": " x ", "n": {"c": "deep"}}',
    '{"a": "", "b": "\u00a0y\u00a0", "n": {"c": ""}}',  # blanks are absent; NBSP is trimmed
    '{"a": {"k": [1, 2]}, "b": [1, "z"], "a": 2}',  # objects as JSON text; first duplicate
    '[1, 2]',
    '"just a string"',
    "not json",
    '  {"b": null, "n": 5}',
    None,
    '{"a": 12345678901234567890, "b": true, "n": {"c": 0.1000}}',
    '{"a": 1e21, "b": 0.00001, "n": {"c": 1e-7}}',  # numbers keep their JSON spelling
]
FALLBACK = ['{"a": "from fallback", "c": "fb"}', None, "{", '{"c": " "}', None, None,
            '{"c": "z"}', '{"a": 9}', None, None]
FIELDS = {"a": ("$.a",), "b": ("$.b", "$.n.c"), "c": ("$.n.c",)}
FALLBACKS = [("_fb", {"a": ("$.a",), "c": ("$.c",), "only_fb": ("$.c",)})]


def _both(df: pl.DataFrame, fields, fallbacks=()) -> tuple[pl.DataFrame, pl.DataFrame]:
    small = je.extract_fields(df, "_raw", fields, fallbacks)
    saved = je.SMALL_FRAME_ROWS
    je.SMALL_FRAME_ROWS = -1
    try:
        big = je.extract_fields(df, "_raw", fields, fallbacks)
    finally:
        je.SMALL_FRAME_ROWS = saved
    return small, big


def test_small_and_large_frames_pick_the_same_values():
    df = pl.DataFrame({"_raw": LINES, "_fb": FALLBACK, "keep": range(len(LINES))})
    small, big = _both(df, FIELDS, FALLBACKS)
    assert small.equals(big)
    rows = small.select("keep", "_json_ok", "_json_type", "a", "b", "c", "only_fb").rows()
    assert rows[0] == (0, True, "OBJECT", "1500.0", "x", "deep", "fb")
    assert rows[1] == (1, True, "OBJECT", None, "y", None, None)
    assert rows[2] == (2, True, "OBJECT", '{"k":[1,2]}', '[1,"z"]', None, None)
    assert rows[3][1:3] == (True, "ARRAY") and rows[4][1:3] == (True, "VARCHAR")
    assert rows[5][1:3] == (False, None) and rows[7][1:3] == (False, None)
    assert rows[6] == (6, True, "OBJECT", None, None, "z", "z")
    assert rows[9][3:6] == ("1e21", "0.00001", "1e-7")


@pytest.mark.parametrize("top_level_only", [True, False])
def test_top_level_and_nested_paths_agree_with_the_per_path_answer(top_level_only):
    df = pl.DataFrame({"_raw": LINES})
    fields = {"a": ("$.a",), "b": ("$.b",)} if top_level_only else FIELDS
    small, big = _both(df, fields)
    assert small.equals(big)


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                     st.floats(allow_nan=False, allow_infinity=False),
                     st.text(alphabet=" \u00a0\tab{}[]\":,\\é", max_size=6))
_OBJECTS = st.dictionaries(st.sampled_from(["a", "b", "c", "n"]),
                           st.one_of(_SCALARS, st.dictionaries(st.just("c"), _SCALARS)),
                           max_size=4)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(_OBJECTS.map(lambda o: __import__("json").dumps(o)),
                          st.text(max_size=8)), min_size=1, max_size=8))
def test_property_both_pickers_agree(lines):
    small, big = _both(pl.DataFrame({"_raw": lines}), FIELDS)
    assert small.equals(big)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(-2**70, 2**70).map(str),
                          st.text(alphabet="0123456789.-+ e", max_size=24)), max_size=20))
def test_integers_from_text_agree_with_the_general_rule(values):
    from finops_pipeline.schemas.json_engine import int_from_text, slow_int_from_text

    series = pl.Series("v", values, dtype=pl.String)
    fast = pl.select(int_from_text(pl.lit(series))).to_series()
    assert fast.dtype == pl.Int64
    assert fast.to_list() == slow_int_from_text(series).to_list()
    assert pl.select(int_from_text(pl.lit("1000.000"))).item() == 1000
