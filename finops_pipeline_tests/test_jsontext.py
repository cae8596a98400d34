"""sources/jsontext.py: JSONL splitting and position-aware JSON reading of hostile telemetry."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from finops_pipeline.schemas.raw import RAW_TOKEN_LINES_SCHEMA
from finops_pipeline.sources.jsontext import (
    TextLine,
    TokenFile,
    get_path,
    iter_array,
    jsonl_frame,
    line_of,
    object_member_offsets,
    split_jsonl,
    token_lines_frame,
    token_lines_of_files,
)

BOM = b"\xef\xbb\xbf"
_DECODER = json.JSONDecoder()


# --- split_jsonl -------------------------------------------------------------------------


def test_split_jsonl_strips_bom_and_cr_of_crlf():
    data = BOM + b'{"a": 1}\r\n{"b": 2}\r\n'
    assert split_jsonl(data) == [TextLine(1, '{"a": 1}'), TextLine(2, '{"b": 2}')]


def test_split_jsonl_skips_blank_lines_but_keeps_physical_line_numbers():
    data = b'\n{"a": 1}\n\n   \n\t\n\r\n{"b": 2}\n\n'
    assert split_jsonl(data) == [TextLine(2, '{"a": 1}'), TextLine(7, '{"b": 2}')]


def test_split_jsonl_keeps_good_lines_around_a_line_of_invalid_utf8():
    data = b'{"a": 1}\n{"m": "\xff\xfe"}\n{"c": "caf\xc3\xa9"}\n'
    out = split_jsonl(data)
    assert [tl.line for tl in out] == [1, 2, 3]
    assert out[0] == TextLine(1, '{"a": 1}')
    assert out[1].text is None
    assert "UTF-8" in out[1].decode_error
    assert out[2] == TextLine(3, '{"c": "café"}')


def test_split_jsonl_invalid_utf8_with_bom_and_crlf():
    data = BOM + b'{"a": 1}\r\n\xc3\r\n\r\n{"b": 2}\r\n'
    out = split_jsonl(data)
    assert out[0] == TextLine(1, '{"a": 1}')
    assert (out[1].line, out[1].text) == (2, None)
    assert out[2] == TextLine(4, '{"b": 2}')
    assert len(out) == 3


def test_split_jsonl_without_trailing_newline_keeps_the_last_line():
    assert split_jsonl(b'{"a": 1}\n{"b": 2') == [TextLine(1, '{"a": 1}'),
                                                   TextLine(2, '{"b": 2')]


def test_split_jsonl_keeps_inner_whitespace_and_trailing_spaces():
    assert split_jsonl(b'  {"a": 1}  \n') == [TextLine(1, '  {"a": 1}  ')]


@pytest.mark.parametrize("data", [b"", b"\n", b"\r\n\r\n", BOM, BOM + b"\n  \n"])
def test_split_jsonl_of_nothing_is_empty(data):
    assert split_jsonl(data) == []


def test_split_jsonl_returns_a_line_of_control_characters():
    out = split_jsonl(b'{"a": 1}\n\x1c\x1d\n\x0c\n{"b": 2}\n')
    assert [tl.line for tl in out] == [1, 2, 3, 4]


_LINE_PIECES = st.one_of(
    st.text(max_size=20).map(lambda s: s.encode("utf-8")),
    st.sampled_from([b"", b" ", b"\r", b"\t", b"\xff", b"\xc3", b"\xe2\x82", b"{}", BOM]),
    st.binary(max_size=8),
)


def _expected_lines(data: bytes) -> list[tuple[int, str | None]]:
    """An independent statement of the contract: physical lines split on LF, 1-based."""
    if data.startswith(BOM):
        data = data[3:]
    out: list[tuple[int, str | None]] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            out.append((number, None))
            continue
        if text.endswith("\r"):
            text = text[:-1]
        if text.strip(" \t\r\n"):  # blank means JSON whitespace only
            out.append((number, text))
    return out


JSONL_BYTES = st.one_of(
    st.binary(max_size=200),
    st.lists(_LINE_PIECES, max_size=12).map(b"\n".join),
    st.lists(_LINE_PIECES, max_size=12).map(lambda ps: BOM + b"\r\n".join(ps)))


@settings(max_examples=300, deadline=None)
@given(JSONL_BYTES)
@example(b'{"a":1}\n\xff\n{"b":2}')
@example(BOM + b'{"a":1}\r\n\r\n{"b":2}')
def test_split_jsonl_property_never_raises_and_returns_every_line(data):
    out = split_jsonl(data)
    numbers = [tl.line for tl in out]
    assert numbers == sorted(set(numbers)), "line numbers must be strictly increasing"
    assert [(tl.line, tl.text) for tl in out] == _expected_lines(data)
    for tl in out:
        assert (tl.text is None) == (tl.decode_error is not None)



@settings(max_examples=300, deadline=None)
@given(JSONL_BYTES)
@example(b'{"a":1}\n\xff\n{"b":2}')
@example(BOM + b'{"a":1}\r\n\r\n{"b":2}')
@example(b"\x1c\x1d\n\x0c\n \t\n")
@example(b"\xef\xbb\xbf\xef\xbb\xbf\n\x80")  # one BOM is stripped, the second is text
def test_the_vectorized_splitter_agrees_with_split_jsonl(data):
    frame = jsonl_frame(data)
    assert frame.columns == ["_line", "_raw", "_decode_error"]
    assert frame.rows() == [(tl.line, tl.text, tl.decode_error) for tl in split_jsonl(data)]


def test_token_lines_frame_marks_the_last_line_and_keeps_the_raw_contract():
    frame = token_lines_frame("ref", "f.jsonl", b'{"a":1}\n\n{"b":\n', rank=1)
    assert dict(frame.schema) == RAW_TOKEN_LINES_SCHEMA
    assert frame.select("_line", "_is_last_line", "_file_rank").rows() == [
        (1, False, 1), (3, True, 1)]

@settings(max_examples=150, deadline=None)
@given(st.lists(JSONL_BYTES, max_size=5))
@example([b'{"a":1}\n\n{"b":\n', b"", b"\xff\n{}", b"\n\n", b'{"c":3}'])
def test_the_batched_splitter_gives_the_per_file_rows(contents):
    files = [TokenFile(f"ref{i}", f"f{i}.jsonl", i % 2, data) for i, data in enumerate(contents)]
    batched = token_lines_of_files(files)
    assert dict(batched.schema) == RAW_TOKEN_LINES_SCHEMA
    per_file = [token_lines_frame(f.run_ref, f.source, f.data, f.rank) for f in files]
    # Files of invalid UTF-8 take the per-line path and come after the others.
    assert sorted(batched.rows(), key=repr) == sorted(
        [r for df in per_file for r in df.rows()], key=repr)


# --- iter_array / object_member_offsets --------------------------------------------------

PRETTY_ARRAY = """[
  {"id": 1},
  {
    "id": 2
  },

  [3, 4],
  "five"
]
"""


def test_iter_array_yields_offsets_on_the_lines_an_editor_shows():
    items = list(iter_array(PRETTY_ARRAY, 0))
    assert [value for _, value in items] == [{"id": 1}, {"id": 2}, [3, 4], "five"]
    assert [line_of(PRETTY_ARRAY, pos) for pos, _ in items] == [2, 3, 7, 8]
    assert PRETTY_ARRAY[items[3][0]] == '"'


def test_iter_array_with_crlf_line_endings_counts_lines_the_same():
    text = PRETTY_ARRAY.replace("\n", "\r\n")
    assert [line_of(text, pos) for pos, _ in iter_array(text, 0)] == [2, 3, 7, 8]


@pytest.mark.parametrize("text", ["[]", "[ \n\t]", "  []"])
def test_iter_array_empty(text):
    assert list(iter_array(text, text.index("["))) == []


def test_iter_array_reads_only_the_array_at_pos():
    text = '{"x": 0, "runs": [1, [2], {"k": "]"}], "after": [9]}'
    pos = text.index("[")
    assert [v for _, v in iter_array(text, pos)] == [1, [2], {"k": "]"}]


@pytest.mark.parametrize("text", ["[1,]", "[1 2]", "[1", "[", "[,]", "[1,,2]", '["a" "b"]',
                                  "{}", "1", "[tru]", "[1}"])
def test_iter_array_malformed_raises_value_error(text):
    with pytest.raises(ValueError):
        list(iter_array(text, 0))


PRETTY_OBJECT = """{
  "summary": {
    "total_runs": 2
  },
  "runs": [
    {"database_id": 1},
    {"database_id": 2}
  ],
  "token_usage_summary": {}
}
"""


def test_object_member_offsets_point_at_each_top_level_value():
    offsets = object_member_offsets(PRETTY_OBJECT, 0)
    assert list(offsets) == ["summary", "runs", "token_usage_summary"]
    assert {k: line_of(PRETTY_OBJECT, v) for k, v in offsets.items()} == {
        "summary": 2, "runs": 5, "token_usage_summary": 9}
    assert PRETTY_OBJECT[offsets["runs"]] == "["
    runs = list(iter_array(PRETTY_OBJECT, offsets["runs"]))
    assert [(line_of(PRETTY_OBJECT, p), v) for p, v in runs] == [
        (6, {"database_id": 1}), (7, {"database_id": 2})]


def test_object_member_offsets_empty_object_and_nested_braces_in_strings():
    assert object_member_offsets("{ }", 0) == {}
    text = '{"a": "}", "b": {"c": "{"}}'
    assert object_member_offsets(text, 0) == {"a": 6, "b": 16}


@pytest.mark.parametrize("text", ['{"a" 1}', '{"a": 1', '{"a": 1,}', "{", '{"a": }',
                                  '{"a": 1 "b": 2}', "[1]", '{"a": 1]', '{"a": tru}'])
def test_object_member_offsets_malformed_raises_value_error(text):
    with pytest.raises(ValueError):
        object_member_offsets(text, 0)


@pytest.mark.parametrize("text", ['{1: 2}', '{"runs": [], null: 1}'])
def test_object_member_offsets_rejects_non_string_keys(text):
    with pytest.raises(ValueError):
        object_member_offsets(text, 0)


_JSONISH = st.text(alphabet=st.sampled_from(list('[]{},:" 0123456789.-eEtrufalsn\n\t\\')),
                   min_size=1, max_size=60)
_ANY_TEXT = st.one_of(_JSONISH, st.text(min_size=1, max_size=60),
                      _JSONISH.map(lambda s: "[" + s), _JSONISH.map(lambda s: "{" + s))


def _same(a, b) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)  # NaN-safe


@settings(max_examples=400, deadline=None)
@given(_ANY_TEXT)
@example("[1, 2]]")
@example("[NaN, -Infinity]")
def test_iter_array_property_value_error_or_correct_parse(text):
    try:
        expected, _ = _DECODER.raw_decode(text, 0)
    except ValueError:
        expected = None
    try:
        items = list(iter_array(text, 0))
    except ValueError:
        assert not isinstance(expected, list), f"a valid array was rejected: {text!r}"
        return
    assert isinstance(expected, list), f"not a JSON array, yet parsed: {text!r}"
    assert _same([v for _, v in items], expected)
    for pos, value in items:
        assert _same(_DECODER.raw_decode(text, pos)[0], value)


@settings(max_examples=400, deadline=None)
@given(_ANY_TEXT)
def test_object_member_offsets_property_value_error_or_correct_parse(text):
    try:
        expected, _ = _DECODER.raw_decode(text, 0)
    except ValueError:
        expected = None
    try:
        offsets = object_member_offsets(text, 0)
    except ValueError:
        assert not isinstance(expected, dict), f"a valid object was rejected: {text!r}"
        return
    if isinstance(expected, dict):  # (accepting some invalid objects is the xfail above)
        assert set(offsets) == set(expected)
        for key, pos in offsets.items():
            assert _same(_DECODER.raw_decode(text, pos)[0], expected[key])


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_JSON_VALUES, max_size=6), st.integers(min_value=0, max_value=4))
def test_iter_array_property_line_of_each_element_in_pretty_printed_json(values, indent):
    text = json.dumps(values, indent=indent)
    items = list(iter_array(text, 0))
    assert [v for _, v in items] == values
    if values:
        # json.dumps(indent=...) starts every element on its own line after "[".
        expected_lines, line = [], 2
        for value in values:
            expected_lines.append(line)
            line += json.dumps(value, indent=indent).count("\n") + 1
        assert [line_of(text, pos) for pos, _ in items] == expected_lines


# --- get_path ----------------------------------------------------------------------------


def test_get_path():
    doc = {"run": {"databaseId": 7, "zero": 0, "empty": "", "no": False, "null": None,
                   "list": [1]}, "run_id": 8}
    assert get_path(doc, "$.run.databaseId") == 7
    assert get_path(doc, "$.run_id") == 8
    assert get_path(doc, "$.run.zero") == 0
    assert get_path(doc, "$.run.empty") == ""
    assert get_path(doc, "$.run.no") is False
    assert get_path(doc, "$.run.null") is None
    assert get_path(doc, "$.run.missing") is None
    assert get_path(doc, "$.run.list.0") is None  # only object members, no indexing
    assert get_path(doc, "$.run_id.deeper") is None
    assert get_path([doc], "$.run") is None
    assert get_path(None, "$.run") is None
