"""schemas/timeparse.py: ISO 8601 telemetry timestamps to UTC, and their UTC day."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finops_pipeline.schemas.timeparse import (
    normalized_utc_timestamp,
    parse_utc_days,
    parse_utc_timestamp,
)

UTC = dt.UTC


def _parse(values: list[str | None]) -> list[dt.datetime | None]:
    df = pl.DataFrame({"t": values}, schema={"t": pl.String})
    out = df.select(parse_utc_timestamp(pl.col("t")).alias("ts"))
    assert out.schema["ts"] == pl.Datetime("us", "UTC")
    return out["ts"].to_list()


def _utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T10:00:00Z", _utc(2024, 5, 1, 10, 0, 0)),
        ("2024-05-01T10:00:00z", _utc(2024, 5, 1, 10, 0, 0)),
        ("2024-05-01t10:00:00Z", _utc(2024, 5, 1, 10, 0, 0)),
        ("2024-05-01T10:00:00+00:00", _utc(2024, 5, 1, 10, 0, 0)),
        # offsets that cross midnight into the previous / the next UTC day
        ("2024-05-01T02:00:00+05:30", _utc(2024, 4, 30, 20, 30, 0)),
        ("2024-05-01T23:30:00-02:00", _utc(2024, 5, 2, 1, 30, 0)),
        ("2024-12-31T22:00:00-03:00", _utc(2025, 1, 1, 1, 0, 0)),
        ("2024-05-01T10:00:00+0530", _utc(2024, 5, 1, 4, 30, 0)),
        # fractions: JavaScript ms, Python us, Go ns (truncated to us)
        ("2024-05-01T10:00:00.250Z", _utc(2024, 5, 1, 10, 0, 0, 250_000)),
        ("2024-05-01T10:00:00.123456Z", _utc(2024, 5, 1, 10, 0, 0, 123_456)),
        ("2024-05-01T10:00:00.123456789Z", _utc(2024, 5, 1, 10, 0, 0, 123_456)),
        ("2024-05-01T10:00:00.5-05:00", _utc(2024, 5, 1, 15, 0, 0, 500_000)),
        # naive timestamps are taken as UTC; a space may separate date and time
        ("2024-05-01T23:59:59", _utc(2024, 5, 1, 23, 59, 59)),
        ("2024-05-01T10:00:00.75", _utc(2024, 5, 1, 10, 0, 0, 750_000)),
        ("2024-05-01 10:00:00", _utc(2024, 5, 1, 10, 0, 0)),
        ("2024-05-01 10:00:00+02:00", _utc(2024, 5, 1, 8, 0, 0)),
        ("  2024-05-01T10:00:00Z \n", _utc(2024, 5, 1, 10, 0, 0)),
    ],
)
def test_parse_utc_timestamp(text, expected):
    assert _parse([text]) == [expected]


@pytest.mark.parametrize(
    "text",
    [None, "", "   ", "garbage", "2024-13-01T10:00:00Z", "2024-05-01T25:00:00Z",
     "0001-01-01T00:00:00Z",  # Go's zero time.Time means "unset"
     "1999-12-31T23:59:59Z", "2024-05-01T10:00:00 UTC", "1714557600"],
)
def test_parse_utc_timestamp_null_for_missing_invalid_or_unset(text):
    assert _parse([text]) == [None]


def test_every_variant_parses_in_one_column_whatever_comes_first():
    # A format inferred from the first value would null out the others.
    values = ["2024-05-01 10:00:00", "2024-05-01T10:00:00.123456789Z",
              "2024-05-01T12:00:00+02:00", "nope", "2024-05-01T10:00:00.5"]
    assert _parse(values) == [
        _utc(2024, 5, 1, 10), _utc(2024, 5, 1, 10, 0, 0, 123_456), _utc(2024, 5, 1, 10),
        None, _utc(2024, 5, 1, 10, 0, 0, 500_000)]


def test_parse_utc_days():
    values = ["2024-05-01T23:30:00-02:00", "2024-05-01T02:00:00+05:30", "2024-05-01T00:00:00Z",
              None, "0001-01-01T00:00:00Z", "x", "2024-05-01 23:59:59.999999"]
    assert parse_utc_days(values) == [dt.date(2024, 5, 2), dt.date(2024, 4, 30),
                                      dt.date(2024, 5, 1), None, None, None,
                                      dt.date(2024, 5, 1)]


@pytest.mark.parametrize(("values", "expected"), [([], []), ([None], [None]),
                                                  (["2024-02-29T12:00:00Z"],
                                                   [dt.date(2024, 2, 29)])])
def test_parse_utc_days_small_inputs(values, expected):
    assert parse_utc_days(values) == expected


_PIECES = st.sampled_from(["2024-05-01", "1999-12-31", "0001-01-01", "2024-13-01", "T", "t", " ",
                           "10:00:00", "23:59:60", "24:00:00", ".250", ".123456789", ".", "Z",
                           "z", "+05:30", "-0200", "+00:00", "x", ""])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(_PIECES, max_size=6).map("".join) | st.none(), max_size=20))
def test_the_direct_parse_agrees_with_the_normalized_parse(values):
    """The canonical shape is parsed directly, the rest normalized first: same answers."""
    df = pl.DataFrame({"t": values}, schema={"t": pl.String})
    both = df.select(parse_utc_timestamp(pl.col("t")).alias("fast"),
                     normalized_utc_timestamp(pl.col("t")).alias("slow"))
    assert both["fast"].to_list() == both["slow"].to_list()
    assert both.schema["fast"] == both.schema["slow"] == pl.Datetime("us", "UTC")
