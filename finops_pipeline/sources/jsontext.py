"""Reading JSON and JSONL text the way hostile, half-written telemetry needs.

Pure functions, no I/O beyond what the caller hands in. Line numbers are 1-based and are what a
user sees in an editor, so a quarantine reason can point at the exact line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from finops_pipeline.schemas.raw import RAW_TOKEN_LINES_SCHEMA

_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class TextLine:
    """One physical line of a JSONL file (blank lines are not records and are skipped)."""

    line: int
    text: str | None  # None when the bytes were not valid UTF-8
    decode_error: str | None = None


def split_jsonl(data: bytes) -> list[TextLine]:
    """Split JSONL bytes into lines: strips a BOM and CR of CRLF; tolerates bad UTF-8 per line."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        raw_lines: list[tuple[bytes | None, str | None]] = [(None, t) for t in text.split("\n")]
    else:
        raw_lines = [(b, None) for b in data.split(b"\n")]
    out: list[TextLine] = []
    last = len(raw_lines)
    for number, (raw, decoded) in enumerate(raw_lines, start=1):
        if decoded is None and raw is not None:
            try:
                decoded = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                hint = " (truncated last line?)" if number == last else ""
                out.append(TextLine(number, None,
                                    f"line is not valid UTF-8 ({exc.reason}){hint}"))
                continue
        assert decoded is not None
        decoded = decoded.removesuffix("\r")
        # Only JSON whitespace makes a line blank; a line of other control characters is
        # returned (and quarantined as invalid JSON), never dropped.
        if decoded.strip(" \t\r\n"):
            out.append(TextLine(number, decoded))
    return out


def line_of(text: str, pos: int) -> int:
    """1-based line number of character offset `pos`."""
    return text.count("\n", 0, pos) + 1


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def iter_array(text: str, pos: int) -> Iterator[tuple[int, Any]]:
    """Yield (offset, value) for each element of the JSON array starting at `pos` ('[')."""
    if pos >= len(text) or text[pos] != "[":
        raise ValueError(f"expected '[' at line {line_of(text, pos)}")
    pos = _skip_ws(text, pos + 1)
    if pos < len(text) and text[pos] == "]":
        return
    while True:
        pos = _skip_ws(text, pos)
        value, end = _DECODER.raw_decode(text, pos)
        yield pos, value
        pos = _skip_ws(text, end)
        if pos >= len(text):
            raise ValueError("unterminated array")
        if text[pos] == ",":
            pos += 1
            continue
        if text[pos] == "]":
            return
        raise ValueError(f"expected ',' or ']' at line {line_of(text, pos)}")


def object_member_offsets(text: str, pos: int) -> dict[str, int]:
    """Offsets of the values of the top-level members of the JSON object at `pos` ('{')."""
    if pos >= len(text) or text[pos] != "{":
        raise ValueError(f"expected '{{' at line {line_of(text, pos)}")
    offsets: dict[str, int] = {}
    pos = _skip_ws(text, pos + 1)
    if pos < len(text) and text[pos] == "}":
        return offsets
    while True:
        pos = _skip_ws(text, pos)
        if pos >= len(text) or text[pos] != '"':
            raise ValueError(f"expected a string key at line {line_of(text, pos)}")
        key, pos = _DECODER.raw_decode(text, pos)
        pos = _skip_ws(text, pos)
        if pos >= len(text) or text[pos] != ":":
            raise ValueError(f"expected ':' at line {line_of(text, pos)}")
        pos = _skip_ws(text, pos + 1)
        offsets[str(key)] = pos
        _, pos = _DECODER.raw_decode(text, pos)
        pos = _skip_ws(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        if pos < len(text) and text[pos] == "}":
            return offsets
        raise ValueError(f"expected ',' or '}}' at line {line_of(text, pos)}")


def get_path(obj: Any, path: str) -> Any:
    """Value at a simple `$.a.b` path in parsed JSON, or None."""
    cur = obj
    for key in path.removeprefix("$.").split("."):
        if not isinstance(cur, dict) or key not in cur:
            return None
        cur = cur[key]
    return cur


def jsonl_frame(data: bytes) -> pl.DataFrame:
    """The non-blank lines of JSONL bytes as a frame: `_line` (1-based), `_raw`, `_decode_error`.

    Same rules as `split_jsonl`, vectorized: a file that is valid UTF-8 (the usual case) is
    split in polars without a Python object per line; otherwise each line is decoded alone so
    one bad line does not cost the others.
    """
    try:
        text = data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError:
        lines = split_jsonl(data)  # strips the BOM itself
        return pl.DataFrame(
            {"_line": [t.line for t in lines], "_raw": [t.text for t in lines],
             "_decode_error": [t.decode_error for t in lines]},
            schema={"_line": pl.Int64, "_raw": pl.String, "_decode_error": pl.String})
    return (
        pl.DataFrame({"_raw": [text]})
        .select(pl.col("_raw").str.split("\n"))
        .explode("_raw")
        .with_row_index("_line", offset=1)
        .select(pl.col("_line").cast(pl.Int64), pl.col("_raw").str.strip_suffix("\r"))
        # Only JSON whitespace makes a line blank; other control characters stay (and are
        # quarantined as invalid JSON), never dropped.
        .filter(pl.col("_raw").str.strip_chars(" \t\r\n") != "")
        .with_columns(pl.lit(None, pl.String).alias("_decode_error"))
    )


def token_lines_frame(run_ref: str, source: str, data: bytes, rank: int) -> pl.DataFrame:
    """Raw `token_usage` rows (schemas.raw.TOKEN_USAGE) of one token-usage.jsonl file."""
    lines = jsonl_frame(data)
    return lines.select(
        pl.lit(run_ref, pl.String).alias("_run_ref"),
        pl.lit(source, pl.String).alias("_source"),
        "_line",
        pl.lit(rank, pl.Int32).alias("_file_rank"),
        (pl.col("_line") == pl.col("_line").max()).alias("_is_last_line"),
        "_raw",
        "_decode_error",
    )


@dataclass(frozen=True)
class TokenFile:
    """One token-usage.jsonl file of a run: where it is from and its bytes."""

    run_ref: str
    source: str
    rank: int
    data: bytes


def token_lines_of_files(files: Sequence[TokenFile]) -> pl.DataFrame:
    """Raw `token_usage` rows of many files, split in one vectorized pass.

    Same rows as concatenating `token_lines_frame` per file, without polars' per-file fixed
    cost (a day of 2,000 runs paid ~9 small queries per file). A file that is not valid UTF-8
    (rare) takes the per-line path alone.
    """
    decoded: list[tuple[str, str, int, str]] = []  # (run ref, source, rank, text)
    slow: list[pl.DataFrame] = []
    for f in files:
        try:
            decoded.append((f.run_ref, f.source, f.rank,
                            f.data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")))
        except UnicodeDecodeError:
            slow.append(token_lines_frame(f.run_ref, f.source, f.data, f.rank))
    fast = (
        pl.DataFrame(decoded, orient="row", schema={
            "_run_ref": pl.String, "_source": pl.String, "_file_rank": pl.Int32,
            "_raw": pl.String})
        .with_row_index("_fid")
        .with_columns(pl.col("_raw").str.split("\n"))
        .with_columns(pl.int_ranges(1, pl.col("_raw").list.len() + 1, dtype=pl.Int64)
                      .alias("_line"))
        .explode("_raw", "_line")  # a row per line; the file's columns repeat
        .with_columns(pl.col("_raw").str.strip_suffix("\r"))
        # Only JSON whitespace makes a line blank; other control characters stay (and are
        # quarantined as invalid JSON), never dropped.
        .filter(pl.col("_raw").str.strip_chars(" \t\r\n") != "")
        .select(
            "_run_ref", "_source", "_line", "_file_rank",
            (pl.col("_fid") != pl.col("_fid").shift(-1)).fill_null(True).alias("_is_last_line"),
            "_raw",
            pl.lit(None, pl.String).alias("_decode_error"),
        )
    )
    # Files that needed the per-line path come last: the lake sorts every dataset, so the raw
    # row order only has to be deterministic.
    return pl.concat([fast, *slow]) if slow else fast


def unreadable_token_file(run_ref: str, source: str, rank: int, error: str) -> pl.DataFrame:
    """The one raw row that keeps a token-usage file that could not be read at all visible."""
    return pl.DataFrame({"_run_ref": [run_ref], "_source": [source], "_line": [0],
                         "_file_rank": [rank], "_is_last_line": [True], "_raw": [None],
                         "_decode_error": [f"unreadable: {error}"]},
                        schema=RAW_TOKEN_LINES_SCHEMA)
